"""`/api/substack`: publications, posts, subscriptions (free and paid), wallets, e-mail
tracking, bounces, RSS and analytics.

The seed's endpoints map here: `POST /newsletters` → `POST /publications`; `GET
/newsletters/<id>` → `GET /publications/{ref}`; `POST /api/newsletter` (an issue) → `POST
/publications/{id}/posts`; `PUT /api/newsletter/<id>` → `PATCH /posts/{id}`; `POST
/users/<id>/subscribe/<newsletter>` → `POST /publications/{id}/subscription` (the user is the
caller, never a path parameter); `…/unsubscribe/…` → `DELETE` of the same. Registration and
login are the platform's `/api/auth`.

Unauthenticated on purpose: reading published posts and publications, RSS, and the links inside
e-mails (`/unsubscribe/{token}`, `/o/{token}.gif`, `/c/{token}/{i}`), which carry signed tokens;
`/bounces` takes a DSN addressed to a signed VERP address.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from casebook.platform.auth.deps import CurrentPrincipal, Principal, optional_principal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON, PayloadTooLarge
from casebook.platform.idempotency import Idempotent
from casebook.platform.pagination import Page, PageParams, PageQuery
from casebook.systems.substack import (
    analytics,
    discussion,
    newsletter,
    payments,
    publishing,
    rss,
    subscriptions,
    tracking,
)
from casebook.systems.substack.cards import Card
from casebook.systems.substack.errors import InvalidSchedule, NotAnAuthor, PostNotFound
from casebook.systems.substack.models import PaidSubscription, Post, Publication
from casebook.systems.substack.runtime import Substack, substack
from casebook.systems.substack.schemas import (
    AnalyticsOut,
    AuthorAdd,
    BounceOut,
    ChargeOut,
    ContributionIn,
    GrowthOut,
    PaidSubscribe,
    PaidSubscriptionOut,
    PostCreate,
    PostOut,
    PostStatsOut,
    PostUpdate,
    Preferences,
    PublicationCreate,
    PublicationOut,
    PublishRequest,
    SubscriptionOut,
    TopUpIn,
    WalletOut,
)

router = APIRouter()

PlatformDep = Annotated[Platform, Depends(get_platform)]
Caller = Annotated[Principal | None, Depends(optional_principal)]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Token = Annotated[str, Path(max_length=64, pattern=r"^[0-9]{1,19}\.[A-Za-z0-9_-]{1,40}$")]
MAX_DSN_BYTES = 256 * 1024


async def get_state(platform: PlatformDep) -> Substack:
    return substack(platform)


State = Annotated[Substack, Depends(get_state)]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


def publication_out(publication: Publication) -> PublicationOut:
    return PublicationOut.model_validate(publication, from_attributes=True)


def post_out(
    state: Substack, publication: Publication, readable: publishing.ReadablePost
) -> PostOut:
    post = readable.post
    return PostOut(
        id=post.id,
        publication_id=post.publication_id,
        author_id=post.author_id,
        title=post.title,
        subtitle=post.subtitle,
        audience=post.audience,
        status=post.status,
        scheduled_at=post.scheduled_at,
        published_at=post.published_at,
        email_status=post.email_status,
        html=readable.html,
        paywalled=not readable.full,
        url=newsletter.post_url(state, publication, post),
    )


def paid_out(paid: PaidSubscription) -> PaidSubscriptionOut:
    return PaidSubscriptionOut.model_validate(paid, from_attributes=True)


# --- publications ---------------------------------------------------------------------------


@router.post(
    "/publications",
    status_code=201,
    response_model=PublicationOut,
    responses=_problems(401, 409, 422),
)
async def create_publication(
    body: PublicationCreate, principal: CurrentPrincipal, session: Session
) -> PublicationOut:
    """Start a publication; the caller is its owner and first author. 409 if the slug is taken."""
    publication = await publishing.create_publication(
        session,
        principal.user_id,
        slug=body.slug,
        name=body.name,
        description=body.description,
        monthly_price=body.monthly_price,
        annual_price=body.annual_price,
    )
    return publication_out(publication)


@router.get("/publications", response_model=Page[PublicationOut])
async def discover(page: PageQuery, session: Session) -> Page[PublicationOut]:
    """Discover publications, newest first."""
    found, cursor = await publishing.discover(session, page)
    return Page[PublicationOut](items=[publication_out(p) for p in found], next_cursor=cursor)


async def _publication(session: Any, ref: str) -> Publication:
    key: int | str = int(ref) if ref.isdecimal() and len(ref) <= 19 else ref
    return await publishing.get_publication(session, key)


@router.get("/publications/{ref}", response_model=PublicationOut, responses=_problems(404))
async def get_publication(
    ref: Annotated[str, Path(max_length=40)], session: Session
) -> PublicationOut:
    """A publication by id or slug."""
    return publication_out(await _publication(session, ref))


@router.post(
    "/publications/{publication_id}/authors",
    status_code=204,
    responses=_problems(401, 403, 404),
)
async def add_author(
    publication_id: Id, body: AuthorAdd, principal: CurrentPrincipal, session: Session
) -> Response:
    """The owner lets another user write for the publication."""
    await publishing.add_author(session, principal.user_id, publication_id, body.user_id)
    return Response(status_code=204)


# --- posts ----------------------------------------------------------------------------------


@router.post(
    "/publications/{publication_id}/posts",
    status_code=201,
    response_model=PostOut,
    responses=_problems(401, 403, 404, 422),
)
async def create_post(
    publication_id: Id,
    body: PostCreate,
    principal: CurrentPrincipal,
    session: Session,
    platform: PlatformDep,
    state: State,
) -> PostOut:
    """Write a post (Markdown, sanitized) as a draft, publish it now (mailed to subscribers)
    or schedule it (`publish: "schedule"` with a future `scheduled_at`)."""
    if body.publish == "schedule" and body.scheduled_at is None:
        raise InvalidSchedule("Give scheduled_at to schedule a post.")
    draft = publishing.PostDraft(
        title=body.title,
        body=body.body,
        subtitle=body.subtitle,
        audience=body.audience,
        send_email=body.send_email,
    )
    post = await publishing.create_post(session, principal.user_id, publication_id, draft)
    if body.publish != "draft":
        at = body.scheduled_at if body.publish == "schedule" else None
        post = await publishing.publish_post(session, principal.user_id, post.id, at)
    return await _after_publish(session, platform, state, post)


async def _after_publish(session: Any, platform: Platform, state: Substack, post: Post) -> PostOut:
    # Commit first: the job must find what this request wrote.
    await session.commit()
    await newsletter.after_publish(platform, post)
    publication = await publishing.get_publication(session, post.publication_id)
    return post_out(state, publication, publishing.ReadablePost(post, True))


@router.patch("/posts/{post_id}", response_model=PostOut, responses=_problems(401, 404, 422))
async def edit_post(
    post_id: Id, body: PostUpdate, principal: CurrentPrincipal, session: Session, state: State
) -> PostOut:
    """Edit a post of a publication you write for (404 otherwise)."""
    post = await publishing.edit_post(
        session, principal.user_id, post_id, body.model_dump(exclude_unset=True)
    )
    publication = await publishing.get_publication(session, post.publication_id)
    return post_out(state, publication, publishing.ReadablePost(post, True))


@router.post(
    "/posts/{post_id}/publish", response_model=PostOut, responses=_problems(401, 404, 409, 422)
)
async def publish(
    post_id: Id,
    body: PublishRequest,
    principal: CurrentPrincipal,
    session: Session,
    platform: PlatformDep,
    state: State,
) -> PostOut:
    """Publish a draft now, or schedule it for `scheduled_at`. 409 if already published."""
    post = await publishing.publish_post(session, principal.user_id, post_id, body.scheduled_at)
    return await _after_publish(session, platform, state, post)


@router.post(
    "/posts/{post_id}/unschedule", response_model=PostOut, responses=_problems(401, 404, 409)
)
async def unschedule(
    post_id: Id, principal: CurrentPrincipal, session: Session, state: State
) -> PostOut:
    """Turn a scheduled post back into a draft."""
    post = await publishing.unschedule(session, principal.user_id, post_id)
    publication = await publishing.get_publication(session, post.publication_id)
    return post_out(state, publication, publishing.ReadablePost(post, True))


@router.get("/posts/{post_id}", response_model=PostOut, responses=_problems(404))
async def read_post(post_id: Id, caller: Caller, session: Session, state: State) -> PostOut:
    """A published post (drafts: authors only). A paid post shows its preview and
    `paywalled: true` unless the caller has paid access."""
    readable = await publishing.read_post(session, caller.user_id if caller else None, post_id)
    publication = await publishing.get_publication(session, readable.post.publication_id)
    return post_out(state, publication, readable)


@router.get(
    "/publications/{publication_id}/posts",
    response_model=Page[PostOut],
    responses=_problems(403, 404),
)
async def list_posts(
    publication_id: Id,
    page: PageQuery,
    caller: Caller,
    session: Session,
    state: State,
    status: Annotated[str, Query(pattern="^(published|draft|scheduled)$")] = "published",
) -> Page[PostOut]:
    """Published posts, newest first; `status=draft|scheduled` for the publication's authors."""
    publication = await publishing.get_publication(session, publication_id)
    viewer = caller.user_id if caller else None
    posts, cursor = await publishing.list_posts(
        session, publication_id, viewer, page, status=status
    )
    author = await publishing.is_author(session, publication_id, viewer)
    paid = author or await publishing.has_paid_access(session, publication_id, viewer)
    items = [
        post_out(state, publication, publishing.ReadablePost(p, p.audience == "everyone" or paid))
        for p in posts
    ]
    return Page[PostOut](items=items, next_cursor=cursor)


@router.get("/publications/{ref}/feed.xml", responses=_problems(404))
async def feed(
    ref: Annotated[str, Path(max_length=40)], session: Session, state: State
) -> Response:
    """RSS 2.0 of the 20 newest published posts (previews of paid ones)."""
    publication = await _publication(session, ref)
    posts, _ = await publishing.list_posts(session, publication.id, None, PageParams(limit=20))
    return Response(rss.feed(state.base_url, publication, posts), media_type="application/rss+xml")


# --- subscriptions --------------------------------------------------------------------------


@router.post(
    "/publications/{publication_id}/subscription",
    status_code=201,
    response_model=SubscriptionOut,
    responses=_problems(401, 404),
)
async def subscribe(
    publication_id: Id, principal: CurrentPrincipal, session: Session
) -> SubscriptionOut:
    """Subscribe (free) with your account's e-mail address; subscribing again changes nothing."""
    subscriber = await subscriptions.subscribe(session, principal.user_id, publication_id)
    return await _subscription_out(session, subscriber)


async def _subscription_out(session: Any, subscriber: Any) -> SubscriptionOut:
    paid = await payments.paid_subscription_of(
        session, subscriber.user_id, subscriber.publication_id
    )
    return SubscriptionOut(
        publication_id=subscriber.publication_id,
        status=subscriber.status,
        email_enabled=subscriber.email_enabled,
        created_at=subscriber.created_at,
        paid_plan=paid.plan if paid else None,
        paid_status=paid.status if paid else None,
        paid_until=paid.current_period_end if paid else None,
    )


@router.delete(
    "/publications/{publication_id}/subscription",
    status_code=204,
    responses=_problems(401, 404),
)
async def unsubscribe(
    publication_id: Id, principal: CurrentPrincipal, session: Session
) -> Response:
    """Stop receiving the publication (a paid subscription is not refunded; cancel it too)."""
    await subscriptions.unsubscribe(session, principal.user_id, publication_id)
    return Response(status_code=204)


@router.patch(
    "/publications/{publication_id}/subscription",
    response_model=SubscriptionOut,
    responses=_problems(401, 404),
)
async def preferences(
    publication_id: Id, body: Preferences, principal: CurrentPrincipal, session: Session
) -> SubscriptionOut:
    """E-mail preferences: `email_enabled: false` reads on the web only."""
    subscriber = await subscriptions.set_email_enabled(
        session, principal.user_id, publication_id, body.email_enabled
    )
    return await _subscription_out(session, subscriber)


@router.get("/subscriptions", response_model=list[SubscriptionOut], responses=_problems(401))
async def my_subscriptions(principal: CurrentPrincipal, session: Session) -> list[SubscriptionOut]:
    """Your active subscriptions."""
    return [
        await _subscription_out(session, s)
        for s in await subscriptions.my_subscriptions(session, principal.user_id)
    ]


@router.post(
    "/unsubscribe/{token}",
    status_code=200,
    responses=_problems(404),
    summary="One-click unsubscribe (RFC 8058)",
)
async def one_click_unsubscribe(token: Token, session: Session, state: State) -> dict[str, bool]:
    """The `List-Unsubscribe` target: a mail client POSTs `List-Unsubscribe=One-Click` here.
    No session needed; the signed token names the subscription. Repeating it is harmless."""
    changed = await tracking.unsubscribe_by_token(session, state.signing_key, token)
    return {"unsubscribed": True, "changed": changed}


# --- money ----------------------------------------------------------------------------------


@router.post(
    "/wallet/top-ups",
    status_code=201,
    response_model=WalletOut,
    dependencies=[Idempotent],
    responses=_problems(401, 402, 422),
)
async def top_up(
    body: TopUpIn, principal: CurrentPrincipal, session: WriteSession, state: State
) -> WalletOut:
    """Add money to your wallet from a card (simulated processor; 402 when declined)."""
    card = Card(body.card.number, body.card.exp_month, body.card.exp_year, body.card.cvc)
    await payments.top_up(session, state.cards, principal.user_id, card, body.amount)
    return WalletOut(balance=await payments.wallet_balance(session, principal.user_id))


@router.get("/wallet", response_model=WalletOut, responses=_problems(401))
async def wallet(principal: CurrentPrincipal, session: Session) -> WalletOut:
    return WalletOut(balance=await payments.wallet_balance(session, principal.user_id))


@router.post(
    "/publications/{publication_id}/paid-subscription",
    status_code=201,
    response_model=PaidSubscriptionOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409, 422),
)
async def subscribe_paid(
    publication_id: Id, body: PaidSubscribe, principal: CurrentPrincipal, session: WriteSession
) -> PaidSubscriptionOut:
    """Pay for a monthly or annual plan from your wallet (409 `ledger/exceeds-credits` when it
    holds too little); paid posts open at once, until the period ends without renewal."""
    paid = await payments.subscribe_paid(session, principal.user_id, publication_id, body.plan)
    return paid_out(paid)


@router.post(
    "/publications/{publication_id}/paid-subscription/cancel",
    response_model=PaidSubscriptionOut,
    responses=_problems(401, 404),
)
async def cancel_paid(
    publication_id: Id, principal: CurrentPrincipal, session: WriteSession
) -> PaidSubscriptionOut:
    """Stop renewing; access lasts to the end of the paid period."""
    return paid_out(await payments.cancel_paid(session, principal.user_id, publication_id))


@router.post(
    "/publications/{publication_id}/contributions",
    status_code=201,
    response_model=ChargeOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409, 422),
)
async def contribute(
    publication_id: Id, body: ContributionIn, principal: CurrentPrincipal, session: WriteSession
) -> ChargeOut:
    """A voluntary one-off contribution to the writer, from your wallet."""
    charge = await payments.contribute(session, principal.user_id, publication_id, body.amount)
    return ChargeOut.model_validate(charge, from_attributes=True)


# --- e-mail tracking and bounces ------------------------------------------------------------


@router.get("/o/{token}.gif", include_in_schema=False)
async def open_pixel(token: Token, session: Session, state: State) -> Response:
    await tracking.record_open(session, state.signing_key, token)
    return Response(tracking.PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/c/{token}/{index}", include_in_schema=False)
async def click(
    token: Token, index: Annotated[int, Path(ge=0, le=10_000)], session: Session, state: State
) -> RedirectResponse:
    """Count the click and redirect to the post's own link number `index` (404 otherwise)."""
    target = await tracking.record_click(session, state.signing_key, token, index)
    return RedirectResponse(target, status_code=302)


@router.post("/bounces", response_model=BounceOut, responses=_problems(404, 413, 422))
async def bounce(request: Request, session: Session, state: State) -> BounceOut:
    """A delivery status notification (RFC 3464 multipart/report, the raw message as the body)
    from the mail relay. A permanent failure marks the delivery bounced and suppresses the
    address; a delay is only noted."""
    raw = await request.body()
    if len(raw) > MAX_DSN_BYTES:
        raise PayloadTooLarge("A DSN is at most 256 KiB.")
    report = newsletter.parse_dsn(raw, state.signing_key)
    if not await newsletter.record_dsn(session, report):
        raise PostNotFound("The delivery this report is about no longer exists.")
    return BounceOut(
        delivery_id=report.delivery_id,
        action=report.action,
        status=report.status,
        hard=report.hard,
    )


# --- analytics ------------------------------------------------------------------------------


@router.get(
    "/publications/{publication_id}/analytics",
    response_model=AnalyticsOut,
    responses=_problems(401, 403, 404),
)
async def publication_analytics(
    publication_id: Id,
    principal: CurrentPrincipal,
    session: Session,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> AnalyticsOut:
    """Subscriber growth, paid subscribers, earnings and per-post e-mail open and click rates
    (authors only)."""
    await publishing.get_publication(session, publication_id)
    if not await publishing.is_author(session, publication_id, principal.user_id):
        raise NotAnAuthor()
    result = await analytics.report(session, publication_id, days)
    return AnalyticsOut(
        subscribers=result.subscribers,
        paid_subscribers=result.paid_subscribers,
        earnings=await payments.earnings_balance(session, publication_id),
        growth=[
            GrowthOut(day=g.day, subscribed=g.subscribed, unsubscribed=g.unsubscribed)
            for g in result.growth
        ],
        posts=[
            PostStatsOut(
                post_id=p.post_id,
                title=p.title,
                sent=p.sent,
                opened=p.opened,
                clicked=p.clicked,
                open_rate=p.open_rate,
                click_rate=p.click_rate,
            )
            for p in result.posts
        ],
    )


# --- comments (the feed engine's, on the "substack-post" target) ---------------------------

router.include_router(discussion.router)
