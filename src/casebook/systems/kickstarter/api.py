"""`/api/kickstarter`: projects, reward tiers, pledges, updates, backers, wallets, settlement.

The seed's endpoints map here (docs/systems/kickstarter.md has the table): `POST /api/register`
and `/api/login` → the shared `/api/auth`; `POST /api/projects` (draft) + `POST
/projects/{id}/launch`; `PUT /api/projects/{id}` → `PATCH /projects/{id}`; `POST
/api/projects/{id}/pledges`; `GET /api/projects/{id}`; `GET /api/users/{id}/pledges` → `GET
/pledges` (your own); `GET /api/projects/{id}/backers`; `GET /api/discover` and
`/generate_feed` → `GET /projects?category=&sort=popular`.

Credentials: a session may do everything; an API key needs `kickstarter:write` to change
anything and `kickstarter:read` to read private data (your pledges, wallet, drafts, backers).
Public reads (discovery, a launched project, its rewards and updates) need no credentials.
Money endpoints (pledge, change, cancel, top-up) accept `Idempotency-Key`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.deps import Principal, optional_principal, require_scope
from casebook.platform.auth.models import User
from casebook.platform.blobs import blob_response
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import PROBLEM_JSON, PayloadTooLarge
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import IdStr
from casebook.platform.pagination import Page, PageQuery
from casebook.systems.kickstarter import images, pledges, projects, settlement, wallets
from casebook.systems.kickstarter.cardnetwork import Card
from casebook.systems.kickstarter.errors import NotTheCreator, PledgeNotFound, ProjectNotLive
from casebook.systems.kickstarter.models import (
    CURRENCY,
    Pledge,
    Project,
    ProjectStatus,
    ProjectUpdate,
    RewardTier,
)
from casebook.systems.kickstarter.schemas import (
    BackerOut,
    Category,
    ImageOut,
    PledgeCreate,
    PledgeOut,
    ProjectCreate,
    ProjectEdit,
    ProjectOut,
    RewardTierCreate,
    RewardTierOut,
    SettlementOut,
    TopUpCreate,
    TopUpOut,
    UpdateCreate,
    UpdateOut,
    WalletOut,
)

READ = "kickstarter:read"
WRITE = "kickstarter:write"

router = APIRouter()

PlatformDep = Annotated[Platform, Depends(get_platform)]
Caller = Annotated[Principal | None, Depends(optional_principal)]
Reader = Annotated[Principal, Depends(require_scope(READ))]
Writer = Annotated[Principal, Depends(require_scope(WRITE))]
ProjectId = Annotated[IdStr, Path(description="A project id.")]
PledgeId = Annotated[IdStr, Path(description="A pledge id.")]

_MEANINGS = {
    401: "Missing or invalid credentials",
    402: "The card was declined",
    403: "Not the project's creator, or the credential lacks the scope",
    404: "No such project, reward or pledge (or not yours)",
    409: "Conflict: frozen field, not live, sold out, already backed, insufficient funds",
    413: "The image is larger than 5 MB",
    415: "Not a PNG, JPEG, GIF or WebP image of the declared type",
    416: "The requested byte range is outside the image",
    422: "Invalid input",
    503: "The card network did not answer",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


MEDIA = tuple(images.MEDIA_TYPES.values())


def image_path(project_id: int) -> str:
    return f"/api/kickstarter/projects/{project_id}/image"


def project_out(project: Project, now: datetime | None = None) -> ProjectOut:
    now = now or utcnow()
    left = 0
    if project.status == ProjectStatus.LIVE.value:
        left = max(0, int((project.deadline - now).total_seconds()))
    return ProjectOut(
        id=project.id,
        creator_id=project.creator_id,
        title=project.title,
        blurb=project.blurb,
        description=project.description,
        category=project.category,
        video_url=project.video_url,
        image_url=image_path(project.id) if project.image_key else None,
        goal=project.goal,
        currency=project.currency,
        deadline=project.deadline,
        status=project.status,
        pledged=project.pledged_total,
        backers=project.backers_count,
        percent_funded=project.pledged_total * 100 // project.goal,
        seconds_left=left,
        collected=project.collected_total,
        fee=project.fee,
        created_at=project.created_at,
        launched_at=project.launched_at,
        settled_at=project.settled_at,
    )


def tier_out(tier: RewardTier) -> RewardTierOut:
    return RewardTierOut(
        id=tier.id,
        project_id=tier.project_id,
        title=tier.title,
        description=tier.description,
        minimum=tier.minimum,
        quantity=tier.quantity,
        claimed=tier.claimed,
        remaining=None if tier.quantity is None else tier.quantity - tier.claimed,
    )


def pledge_out(pledge: Pledge) -> PledgeOut:
    return PledgeOut(
        id=pledge.id,
        project_id=pledge.project_id,
        backer_id=pledge.backer_id,
        amount=pledge.amount,
        reward_tier_id=pledge.reward_tier_id,
        status=pledge.status,
        hold_transfer_id=pledge.hold_transfer_id,
        created_at=pledge.created_at,
        updated_at=pledge.updated_at,
    )


def update_out(item: ProjectUpdate) -> UpdateOut:
    return UpdateOut(
        id=item.id,
        project_id=item.project_id,
        title=item.title,
        body=item.body,
        created_at=item.created_at,
    )


def _fields(body: ProjectCreate | ProjectEdit, names: set[str]) -> dict[str, Any]:
    fields = {name: getattr(body, name) for name in names}
    if fields.get("video_url") is not None:
        fields["video_url"] = str(fields["video_url"])
    return fields


# Projects


@router.post(
    "/projects",
    status_code=201,
    response_model=ProjectOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 422),
)
async def create_project(body: ProjectCreate, principal: Writer, session: Session) -> ProjectOut:
    """Create a draft project (the seed's `POST /api/projects`). Add reward tiers, then launch."""
    fields = _fields(body, set(ProjectCreate.model_fields))
    return project_out(await projects.create_project(session, principal.user_id, fields))


@router.get("/projects", response_model=Page[ProjectOut], responses=_problems(422))
async def discover_projects(
    session: Session,
    page: PageQuery,
    category: Annotated[Category | None, Query(description="Only this category.")] = None,
    sort: Annotated[
        projects.Sort, Query(description="`popular`: most backers, then most pledged.")
    ] = "popular",
) -> Page[ProjectOut]:
    """Discover launched projects by category and popularity (the seed's `GET /api/discover`
    and feed), by cursor. Public."""
    found, cursor = await projects.discover(session, category, sort, page)
    now = utcnow()
    return Page[ProjectOut](items=[project_out(p, now) for p in found], next_cursor=cursor)


@router.get("/categories", response_model=list[str])
async def list_categories() -> list[str]:
    """The categories a project may be filed under."""
    return list(projects.CATEGORIES)


@router.get("/projects/{project_id}", response_model=ProjectOut, responses=_problems(404))
async def get_project(project_id: ProjectId, caller: Caller, session: Session) -> ProjectOut:
    """A project with its funding position. Drafts are visible to their creator only."""
    viewer = caller.user_id if caller and caller.has_scope(READ) else None
    return project_out(await projects.visible_project(session, project_id, viewer))


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectOut,
    responses=_problems(401, 403, 404, 409, 422),
)
async def edit_project(
    project_id: ProjectId, body: ProjectEdit, principal: Writer, session: WriteSession
) -> ProjectOut:
    """Change your project (the seed's `PUT /api/projects/{id}`). Only the creator may; goal and
    deadline are frozen once launched (409 `project-frozen`)."""
    changes = _fields(body, {n for n in body.model_fields_set if getattr(body, n) is not None})
    return project_out(await projects.edit_project(session, principal.user_id, project_id, changes))


@router.post(
    "/projects/{project_id}/launch",
    response_model=ProjectOut,
    responses=_problems(401, 403, 404, 409, 422),
)
async def launch_project(
    project_id: ProjectId, principal: Writer, session: WriteSession
) -> ProjectOut:
    """Launch your draft: it becomes public and takes pledges until its deadline (which must be
    1 hour to 60 days away); goal and deadline freeze."""
    return project_out(await projects.launch_project(session, principal.user_id, project_id))


@router.put(
    "/projects/{project_id}/image",
    response_model=ImageOut,
    responses=_problems(401, 403, 404, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA},
        }
    },
)
async def upload_image(
    project_id: ProjectId, request: Request, principal: Writer, platform: PlatformDep
) -> ImageOut:
    """Set your project's image: the raw bytes of a PNG, JPEG, GIF or WebP as the body, with
    its Content-Type (checked against the bytes, 415 otherwise), at most 5 MB (413). Replaces
    the previous image."""
    data = await _bounded_body(request, images.MAX_IMAGE_BYTES)
    stored = await images.replace_image(
        platform, principal.user_id, project_id, data, request.headers.get("content-type")
    )
    return ImageOut(
        image_url=image_path(project_id), size=stored.size, media_type=images.media_type(stored.key)
    )


@router.get(
    "/projects/{project_id}/image",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in MEDIA}, "description": "The image"},
        **_problems(404, 416),
    },
)
async def get_image(
    project_id: ProjectId, request: Request, caller: Caller, platform: PlatformDep
) -> Response:
    """The project's image (HTTP Range supported). Drafts' images are their creator's only."""
    viewer = caller.user_id if caller and caller.has_scope(READ) else None
    key = await images.image_key(platform, project_id, viewer)
    return await blob_response(
        platform.blobs,
        key,
        range_header=request.headers.get("range"),
        media_type=images.media_type(key),
        # The key changes with every upload, so a cached copy is never stale for long.
        headers={"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff"},
    )


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (never buffering
    more than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        raise PayloadTooLarge(f"Images are at most {limit:,} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"Images are at most {limit:,} bytes.")
    return bytes(body)


@router.post(
    "/projects/{project_id}/settle",
    response_model=SettlementOut,
    responses=_problems(401, 404, 409),
)
async def settle_project(
    project_id: ProjectId, principal: Writer, platform: PlatformDep, session: Session
) -> SettlementOut:
    """Run the deadline settlement of a project now instead of waiting for the sweep (every
    30 s). Safe to call any number of times: it settles once. 409 before the deadline."""
    await projects.visible_project(session, project_id, principal.user_id)
    result = await settlement.settle_project(platform.db, project_id)
    if result is None:
        raise ProjectNotLive("The project's deadline has not passed yet.")
    return SettlementOut(
        project_id=result.project_id,
        status=result.status.value,
        collected=result.collected,
        fee=result.fee,
    )


# Reward tiers


@router.get(
    "/projects/{project_id}/rewards", response_model=list[RewardTierOut], responses=_problems(404)
)
async def list_rewards(
    project_id: ProjectId, caller: Caller, session: Session
) -> list[RewardTierOut]:
    """The project's reward tiers, cheapest first, with how many of each are left."""
    viewer = caller.user_id if caller and caller.has_scope(READ) else None
    await projects.visible_project(session, project_id, viewer)
    return [tier_out(t) for t in await projects.reward_tiers(session, project_id)]


@router.post(
    "/projects/{project_id}/rewards",
    status_code=201,
    response_model=RewardTierOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422),
)
async def add_reward(
    project_id: ProjectId, body: RewardTierCreate, principal: Writer, session: WriteSession
) -> RewardTierOut:
    """Add a reward tier to your project (minimum pledge, optional limited quantity)."""
    tier = await projects.add_reward_tier(session, principal.user_id, project_id, body.model_dump())
    return tier_out(tier)


# Pledges


@router.post(
    "/projects/{project_id}/pledges",
    status_code=201,
    response_model=PledgeOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422),
)
async def pledge(
    project_id: ProjectId, body: PledgeCreate, principal: Writer, session: WriteSession
) -> PledgeOut:
    """Back a live project: the amount is held in your wallet (not charged) until the deadline.
    Any amount of at least $1; over the goal is fine. 409 `ledger/exceeds-credits` when your
    wallet cannot cover it, `reward-sold-out` when the reward is gone."""
    created = await pledges.place_pledge(
        session, principal.user_id, project_id, body.amount, body.reward_tier_id
    )
    return pledge_out(created)


@router.get("/pledges", response_model=Page[PledgeOut], responses=_problems(401, 403, 422))
async def my_pledges(principal: Reader, session: Session, page: PageQuery) -> Page[PledgeOut]:
    """Your pledges, newest first (the seed's `GET /api/users/{id}/pledges`)."""
    found, cursor = await pledges.backer_pledges(session, principal.user_id, page)
    return Page[PledgeOut](items=[pledge_out(p) for p in found], next_cursor=cursor)


@router.get("/pledges/{pledge_id}", response_model=PledgeOut, responses=_problems(401, 403, 404))
async def get_pledge(pledge_id: PledgeId, principal: Reader, session: Session) -> PledgeOut:
    """One of your pledges (anyone else's is a 404)."""
    found = await session.scalar(
        select(Pledge).where(Pledge.id == pledge_id, Pledge.backer_id == principal.user_id)
    )
    if found is None:
        raise PledgeNotFound(f"You have no pledge {pledge_id}.")
    return pledge_out(found)


@router.put(
    "/pledges/{pledge_id}",
    response_model=PledgeOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422),
)
async def change_pledge(
    pledge_id: PledgeId, body: PledgeCreate, principal: Writer, session: WriteSession
) -> PledgeOut:
    """Change your pledge's amount or reward before the deadline. The old hold is released and
    the new one placed atomically: you are never held twice, and on 409 nothing changed."""
    changed = await pledges.change_pledge(
        session, principal.user_id, pledge_id, body.amount, body.reward_tier_id
    )
    return pledge_out(changed)


@router.delete(
    "/pledges/{pledge_id}",
    response_model=PledgeOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409),
)
async def cancel_pledge(pledge_id: PledgeId, principal: Writer, session: WriteSession) -> PledgeOut:
    """Cancel your pledge before the deadline: its hold is released and its reward freed."""
    return pledge_out(await pledges.cancel_pledge(session, principal.user_id, pledge_id))


@router.get(
    "/projects/{project_id}/backers",
    response_model=Page[BackerOut],
    responses=_problems(401, 403, 404, 422),
)
async def list_backers(
    project_id: ProjectId, principal: Reader, session: Session, page: PageQuery
) -> Page[BackerOut]:
    """Your project's backers with their pledges and rewards, newest first. Creator only: a
    backer's pledge is private between them and the creator."""
    project = await projects.visible_project(session, project_id, principal.user_id)
    if project.creator_id != principal.user_id:
        raise NotTheCreator("Only the project's creator may list its backers.")
    found, cursor = await pledges.project_backers(session, project, page)
    names = await _display_names(session, {p.backer_id for p in found})
    items = [
        BackerOut(
            pledge_id=p.id,
            backer_id=p.backer_id,
            display_name=names.get(p.backer_id, ""),
            amount=p.amount,
            reward_tier_id=p.reward_tier_id,
            status=p.status,
            pledged_at=p.created_at,
        )
        for p in found
    ]
    return Page[BackerOut](items=items, next_cursor=cursor)


async def _display_names(session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(User.id, User.display_name).where(User.id.in_(sorted(user_ids)))
    )
    return {row.id: row.display_name for row in rows}


# Updates


@router.get(
    "/projects/{project_id}/updates",
    response_model=Page[UpdateOut],
    responses=_problems(404, 422),
)
async def list_updates(
    project_id: ProjectId, caller: Caller, session: Session, page: PageQuery
) -> Page[UpdateOut]:
    """The creator's progress updates, newest first. Public for launched projects."""
    viewer = caller.user_id if caller and caller.has_scope(READ) else None
    await projects.visible_project(session, project_id, viewer)
    found, cursor = await projects.list_updates(session, project_id, page)
    return Page[UpdateOut](items=[update_out(u) for u in found], next_cursor=cursor)


@router.post(
    "/projects/{project_id}/updates",
    status_code=201,
    response_model=UpdateOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 422),
)
async def post_update(
    project_id: ProjectId, body: UpdateCreate, principal: Writer, session: Session
) -> UpdateOut:
    """Post a progress update to your launched project's backers."""
    item = await projects.post_update(session, principal.user_id, project_id, body.title, body.body)
    return update_out(item)


# Wallet


@router.get("/wallet", response_model=WalletOut, responses=_problems(401, 403))
async def get_wallet(principal: Reader, session: Session) -> WalletOut:
    """Your wallet: its balance, what your open pledges hold, and what is free."""
    view = await wallets.wallet_view(session, principal.user_id)
    return WalletOut(
        account_id=view.account_id,
        currency=CURRENCY,
        balance=view.balance,
        held=view.held,
        available=view.available,
    )


@router.post(
    "/wallet/top-ups",
    status_code=201,
    response_model=TopUpOut,
    dependencies=[Idempotent],
    responses=_problems(401, 402, 403, 422, 503),
)
async def top_up(
    body: TopUpCreate, principal: Writer, platform: PlatformDep, session: WriteSession
) -> TopUpOut:
    """Add money to your wallet from a card (charged at once through the card network).
    402 `card-declined` with the network's `code` when the card is refused."""
    card = Card(body.card.number, body.card.exp_month, body.card.exp_year, body.card.cvc)
    record = await wallets.top_up(
        session, wallets.card_network(platform), principal.user_id, card, body.amount
    )
    return TopUpOut(
        id=record.id,
        amount=record.amount,
        card_last4=record.card_last4,
        authorization_code=record.authorization_code,
        created_at=record.created_at,
    )
