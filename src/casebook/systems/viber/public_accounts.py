"""Public Accounts: businesses and public figures broadcast to followers and answer them.

- An account is an engine channel made public under the account's handle. Following is
  subscribing to the channel (the engine's atomic `member_count + 1 WHERE member_count <
  member_limit`), unfollowing leaving it (an atomic decrement): the follower count is
  `member_count` minus the account's admins, exact under any concurrency, O(1) to read.
- Posts are channel messages, written by the account's admins through the engine's writer and
  read by anyone page by page (`GET /public-accounts/{id}/posts`): fan-out on read, one row per
  post whatever the audience; followers' devices also get them live over the socket.
- A user who writes to the account gets one private thread: an engine group of that user and the
  account's admins (the account's owner owns it, the user is a plain member). Two concurrent
  first messages make one thread: the thread row is claimed with INSERT … ON CONFLICT DO NOTHING
  before the group is made, in the same transaction. Admins answer in the thread with the
  engine's message API (or `POST /public-accounts/{id}/threads/{user_id}/messages`).
- Discovery: by category (an index on (category, id)), by name or handle substring (a scan, fine
  for thousands of accounts; a trigram index would take it further), newest first.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import contacts, service
from casebook.engines.messaging.errors import AlreadyMember, HandleTaken, UserNotFound
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingMember,
    MessagingMessage,
)
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.views import message_view
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, utcnow
from casebook.platform.errors import PROBLEM_JSON, Conflict, Forbidden, InvalidInput, NotFound
from casebook.platform.ids import IdStr, new_id
from casebook.platform.ratelimit import RateLimit, enforce
from casebook.systems.viber.models import (
    ViberPublicAccount,
    ViberPublicAccountAdmin,
    ViberPublicAccountThread,
)

PlatformDep = Annotated[Platform, Depends(get_platform)]
AccountId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Category = Literal[
    "business",
    "news",
    "entertainment",
    "sports",
    "shopping",
    "food",
    "travel",
    "education",
    "health",
    "technology",
    "public-figure",
    "government",
    "other",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
POST_KINDS = ("text", "media", "sticker", "location", "contact")


class AccountNotFound(NotFound):
    type_ = "viber/public-account-not-found"
    title = "No such public account"


class AccountHandleTaken(Conflict):
    type_ = "viber/public-account-handle-taken"
    title = "A public account has this handle"


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for s in statuses}


def _insert(session: AsyncSession) -> Any:
    return sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert


# Service ---------------------------------------------------------------------------------------


async def create_account(
    session: AsyncSession,
    system: str,
    owner_id: int,
    *,
    handle: str,
    name: str,
    category: str,
    about: str,
    config: Any,
) -> tuple[ViberPublicAccount, list[service.Event]]:
    """A new account owned by `owner_id`, with its public channel. Raises AccountHandleTaken."""
    handle = handle.lower()
    taken = await session.scalar(
        select(ViberPublicAccount.id).where(ViberPublicAccount.handle == handle)
    )
    if taken is not None:
        raise AccountHandleTaken(f"@{handle} is taken.")
    channel, events = await service.create_group(
        session, system, config, owner_id, kind="channel", title=name, about=about
    )
    try:
        await service.set_public_handle(session, system, channel.id, owner_id, handle)
    except HandleTaken:
        raise AccountHandleTaken(f"@{handle} is taken.") from None
    account = ViberPublicAccount(
        id=new_id(),
        handle=handle,
        name=name,
        category=category,
        about=about,
        owner_id=owner_id,
        channel_id=channel.id,
        created_at=utcnow(),
    )
    session.add(account)
    await session.flush()
    session.add(ViberPublicAccountAdmin(account_id=account.id, user_id=owner_id))
    await session.flush()
    return account, events


async def account_of(session: AsyncSession, account_id: int) -> ViberPublicAccount:
    account = await session.get(ViberPublicAccount, account_id)
    if account is None:
        raise AccountNotFound(f"No public account {account_id}.")
    return account


async def admin_ids(session: AsyncSession, account_id: int) -> list[int]:
    rows = await session.scalars(
        select(ViberPublicAccountAdmin.user_id)
        .where(ViberPublicAccountAdmin.account_id == account_id)
        .order_by(ViberPublicAccountAdmin.user_id)
    )
    return list(rows)


async def require_admin(session: AsyncSession, account: ViberPublicAccount, user_id: int) -> None:
    if await session.get(ViberPublicAccountAdmin, (account.id, user_id)) is None:
        raise Forbidden("Only the account's admins do this.")


async def follower_counts(session: AsyncSession, account_ids: list[int]) -> dict[int, int]:
    """Followers per account: the channel's member count minus its admins, both read in one
    statement (one snapshot). O(accounts + their admins)."""
    if not account_ids:
        return {}
    admins = (
        select(func.count())
        .select_from(ViberPublicAccountAdmin)
        .where(ViberPublicAccountAdmin.account_id == ViberPublicAccount.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(ViberPublicAccount.id, MessagingConversation.member_count - admins)
        .join(MessagingConversation, MessagingConversation.id == ViberPublicAccount.channel_id)
        .where(ViberPublicAccount.id.in_(account_ids))
    )
    return {int(account_id): int(count) for account_id, count in rows}


async def is_following(session: AsyncSession, account: ViberPublicAccount, user_id: int) -> bool:
    member = await session.get(MessagingMember, (account.channel_id, user_id))
    return member is not None and member.role == "subscriber"


async def follow(
    session: AsyncSession, system: str, account: ViberPublicAccount, user_id: int
) -> tuple[bool, list[service.Event]]:
    """Subscribe `user_id` to the account's channel; (False, []) when already following. The
    engine's join runs in a savepoint so an already-member's refused increment is undone."""
    try:
        async with session.begin_nested():
            _, _, events = await service.join_public(session, system, account.handle, user_id)
    except AlreadyMember:
        return False, []
    return True, events


async def unfollow(
    session: AsyncSession, system: str, account: ViberPublicAccount, user_id: int
) -> list[service.Event]:
    """Leave the channel (nothing when not following). Admins stay: they run the account."""
    member = await session.get(MessagingMember, (account.channel_id, user_id))
    if member is None:
        return []
    if member.role != "subscriber":
        raise Conflict("Admins of an account do not unfollow it.")
    return await service.remove_member(session, system, account.channel_id, user_id, user_id)


async def add_admin(
    session: AsyncSession, system: str, account: ViberPublicAccount, actor_id: int, user_id: int
) -> list[service.Event]:
    """The owner makes `user_id` an admin: channel admin, and admin of every follower thread
    (O(threads)). Raises Forbidden (not the owner), UserNotFound, Conflict (already admin)."""
    if actor_id != account.owner_id:
        raise Forbidden("Only the account's owner adds admins.")
    if await session.get(ViberPublicAccountAdmin, (account.id, user_id)) is not None:
        raise Conflict("Already an admin of this account.")
    events: list[service.Event] = []
    threads = await session.scalars(
        select(ViberPublicAccountThread.conversation_id).where(
            ViberPublicAccountThread.account_id == account.id,
            ViberPublicAccountThread.conversation_id.is_not(None),
        )
    )
    for conversation_id in [account.channel_id, *threads]:
        assert conversation_id is not None
        if await session.get(MessagingMember, (conversation_id, user_id)) is None:
            _, joined = await service.add_member(
                session, system, conversation_id, account.owner_id, user_id
            )
            events += joined
        _, promoted = await service.set_role(
            session, system, conversation_id, account.owner_id, user_id, "admin"
        )
        events += promoted
    session.add(ViberPublicAccountAdmin(account_id=account.id, user_id=user_id))
    await session.flush()
    return events


async def thread_for(
    session: AsyncSession, system: str, account: ViberPublicAccount, user_id: int, config: Any
) -> tuple[int, list[service.Event]]:
    """The conversation id of `user_id`'s thread with the account, made on first use. Exactly
    one per (account, user) under concurrency: the row is claimed first (ON CONFLICT DO NOTHING
    waits for a concurrent claimer's commit on PostgreSQL; SQLite writes one at a time)."""
    admins = await admin_ids(session, account.id)
    if user_id in admins:
        raise InvalidInput("Admins answer in followers' threads; they do not open their own.")
    claimed = await session.scalar(
        _insert(session)(ViberPublicAccountThread)
        .values(account_id=account.id, user_id=user_id, conversation_id=None, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["account_id", "user_id"])
        .returning(ViberPublicAccountThread.user_id)
    )
    if claimed is None:
        existing = await session.scalar(
            select(ViberPublicAccountThread.conversation_id)
            .where(
                ViberPublicAccountThread.account_id == account.id,
                ViberPublicAccountThread.user_id == user_id,
            )
            .execution_options(populate_existing=True)
        )
        assert existing is not None
        return existing, []
    profile = await contacts.ensure_profile(session, system, user_id)
    group, events = await service.create_group(
        session,
        system,
        config,
        account.owner_id,
        kind="group",
        title=f"{account.name} · {profile.display_name}"[:128],
        about=f"@{account.handle}",
        member_ids=[user_id, *admins],
    )
    for admin in admins:
        if admin != account.owner_id:
            _, promoted = await service.set_role(
                session, system, group.id, account.owner_id, admin, "admin"
            )
            events += promoted
    await session.execute(
        update(ViberPublicAccountThread)
        .where(
            ViberPublicAccountThread.account_id == account.id,
            ViberPublicAccountThread.user_id == user_id,
        )
        .values(conversation_id=group.id)
    )
    return group.id, events


def account_view(
    account: ViberPublicAccount, followers: int, following: bool | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(account.id),
        "handle": account.handle,
        "name": account.name,
        "category": account.category,
        "about": account.about,
        "owner_id": str(account.owner_id),
        "channel_id": str(account.channel_id),
        "followers": followers,
        "created_at": account.created_at.isoformat(),
    }
    if following is not None:
        view["following"] = following
    return view


# HTTP ------------------------------------------------------------------------------------------


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str = Field(min_length=5, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
    name: str = Field(min_length=1, max_length=100)
    category: Category
    about: str = Field(default="", max_length=512)


class AdminIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: IdStr


class PostIn(BaseModel):
    """A post or a thread message: text, or media (`data.attachments`) with an optional
    caption, or a sticker/location/contact (`data`), as the engine's kinds define."""

    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(
        default_factory=lambda: secrets.token_hex(8), min_length=1, max_length=64
    )
    kind: Literal["text", "media", "sticker", "location", "contact"] = "text"
    body: str | None = Field(default=None, max_length=65536)
    data: dict[str, Any] | None = None
    device_id: IdStr | None = None


def router(system: str) -> APIRouter:
    """Public accounts under /api/viber/public-accounts."""
    api = APIRouter(tags=[system])

    async def send(platform: Platform, user_id: int, conversation_id: int, body: PostIn) -> Any:
        state = messenger(platform, system)
        await enforce(
            platform,
            f"messaging:{system}:send:{user_id}",
            RateLimit(state.config.send_rate, state.config.send_burst),
        )
        return await state.writer.send(
            SendRequest(
                conversation_id=conversation_id,
                sender_id=user_id,
                client_id=body.client_id,
                kind=body.kind,
                body=body.body,
                data=body.data,
                sender_device_id=body.device_id,
            )
        )

    @api.post("/public-accounts", status_code=201, responses=_problems(401, 409, 422))
    async def create(
        body: AccountIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Create a public account (you own it and answer for it)."""
        async with platform.db.session(write=True) as session:
            account, events = await create_account(
                session,
                system,
                principal.user_id,
                handle=body.handle,
                name=body.name.strip(),
                category=body.category,
                about=body.about,
                config=messenger(platform, system).config,
            )
            view = account_view(account, 0, False)
        await service.publish_all(platform.bus, system, events)
        return view

    @api.get("/public-accounts", responses=_problems(401, 422))
    async def discover(
        principal: CurrentPrincipal,
        session: Session,
        category: Category | None = None,
        q: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """Accounts newest first, by category and/or a name/handle substring; `next_before`
        pages on. O(log n + limit) by category; the substring match scans."""
        query = select(ViberPublicAccount).order_by(ViberPublicAccount.id.desc()).limit(limit)
        if category is not None:
            query = query.where(ViberPublicAccount.category == category)
        if q is not None:
            pattern = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(
                or_(
                    func.lower(ViberPublicAccount.name).like(f"%{pattern}%", escape="\\"),
                    ViberPublicAccount.handle.like(f"%{pattern}%", escape="\\"),
                )
            )
        if before is not None:
            query = query.where(ViberPublicAccount.id < before)
        accounts = list(await session.scalars(query))
        counts = await follower_counts(session, [a.id for a in accounts])
        return {
            "items": [account_view(a, counts[a.id]) for a in accounts],
            "next_before": str(accounts[-1].id) if len(accounts) == limit else None,
        }

    @api.get("/public-accounts/{account_id}", responses=_problems(401, 404))
    async def get(
        account_id: AccountId, principal: CurrentPrincipal, session: Session
    ) -> dict[str, Any]:
        """One account, with its follower count and whether you follow it."""
        account = await account_of(session, account_id)
        counts = await follower_counts(session, [account.id])
        following = await is_following(session, account, principal.user_id)
        return account_view(account, counts[account.id], following)

    @api.put("/public-accounts/{account_id}/follow", responses=_problems(401, 404, 409))
    async def follow_account(
        account_id: AccountId, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Follow the account (idempotent): its posts reach you live and in your chats."""
        async with platform.db.session(write=True) as session:
            account = await account_of(session, account_id)
            if await session.get(ViberPublicAccountAdmin, (account.id, principal.user_id)):
                raise Conflict("Admins run the account; they do not follow it.")
            _, events = await follow(session, system, account, principal.user_id)
        await service.publish_all(platform.bus, system, events)
        async with platform.db.session() as session:
            counts = await follower_counts(session, [account_id])
        return account_view(account, counts[account_id], True)

    @api.delete("/public-accounts/{account_id}/follow", responses=_problems(401, 404, 409))
    async def unfollow_account(
        account_id: AccountId, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Stop following (idempotent)."""
        async with platform.db.session(write=True) as session:
            account = await account_of(session, account_id)
            events = await unfollow(session, system, account, principal.user_id)
        await service.publish_all(platform.bus, system, events)
        async with platform.db.session() as session:
            counts = await follower_counts(session, [account_id])
        return account_view(account, counts[account_id], False)

    @api.post(
        "/public-accounts/{account_id}/admins",
        status_code=201,
        responses=_problems(401, 403, 404, 409),
    )
    async def new_admin(
        account_id: AccountId, body: AdminIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Make a user an admin of your account (owner only)."""
        async with platform.db.session(write=True) as session:
            account = await account_of(session, account_id)
            events = await add_admin(session, system, account, principal.user_id, body.user_id)
            admins = await admin_ids(session, account.id)
        await service.publish_all(platform.bus, system, events)
        return {"admins": [str(a) for a in admins]}

    @api.post(
        "/public-accounts/{account_id}/posts",
        status_code=201,
        responses=_problems(401, 403, 404, 422, 429),
    )
    async def post(
        account_id: AccountId,
        body: PostIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        response: Response,
    ) -> dict[str, Any]:
        """Broadcast a post to every follower (admins only; one stored message)."""
        async with platform.db.session() as session:
            account = await account_of(session, account_id)
            await require_admin(session, account, principal.user_id)
        sent = await send(platform, principal.user_id, account.channel_id, body)
        if sent.duplicate:
            response.status_code = 200
        view: dict[str, Any] = sent.view
        return view

    @api.get("/public-accounts/{account_id}/posts", responses=_problems(401, 404, 422))
    async def posts(
        account_id: AccountId,
        principal: CurrentPrincipal,
        session: Session,
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """The account's posts, newest first (public: following is not needed to read).
        Keyset on seq: O(log n + limit)."""
        account = await account_of(session, account_id)
        query = (
            select(MessagingMessage)
            .where(
                MessagingMessage.conversation_id == account.channel_id,
                MessagingMessage.kind.in_(POST_KINDS),
                MessagingMessage.deleted.is_(False),
            )
            .order_by(MessagingMessage.seq.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(MessagingMessage.seq < before)
        rows = list(await session.scalars(query))
        return {
            "items": [message_view(m) for m in rows],
            "next_before": rows[-1].seq if len(rows) == limit else None,
        }

    @api.post(
        "/public-accounts/{account_id}/messages",
        status_code=201,
        responses=_problems(401, 404, 422, 429),
    )
    async def message_account(
        account_id: AccountId,
        body: PostIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        response: Response,
    ) -> dict[str, Any]:
        """Write to the account: your private thread with its admins (made on first use)."""
        async with platform.db.session(write=True) as session:
            account = await account_of(session, account_id)
            thread_id, events = await thread_for(
                session, system, account, principal.user_id, messenger(platform, system).config
            )
        await service.publish_all(platform.bus, system, events)
        sent = await send(platform, principal.user_id, thread_id, body)
        if sent.duplicate:
            response.status_code = 200
        return {"thread_id": str(thread_id), "message": sent.view}

    @api.get("/public-accounts/{account_id}/threads", responses=_problems(401, 403, 404, 422))
    async def threads(
        account_id: AccountId,
        principal: CurrentPrincipal,
        session: Session,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> dict[str, Any]:
        """The account's inbox (admins only): threads by latest activity is the engine's
        conversation list; here, threads newest first with their last seq."""
        account = await account_of(session, account_id)
        await require_admin(session, account, principal.user_id)
        query = (
            select(ViberPublicAccountThread, MessagingConversation.last_seq)
            .join(
                MessagingConversation,
                MessagingConversation.id == ViberPublicAccountThread.conversation_id,
            )
            .where(ViberPublicAccountThread.account_id == account.id)
            .order_by(ViberPublicAccountThread.conversation_id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(ViberPublicAccountThread.conversation_id < before)
        rows = list(await session.execute(query))
        return {
            "items": [
                {
                    "user_id": str(t.user_id),
                    "conversation_id": str(t.conversation_id),
                    "last_seq": last_seq,
                }
                for t, last_seq in rows
            ],
            "next_before": str(rows[-1][0].conversation_id) if len(rows) == limit else None,
        }

    @api.post(
        "/public-accounts/{account_id}/threads/{user_id}/messages",
        status_code=201,
        responses=_problems(401, 403, 404, 422, 429),
    )
    async def answer(
        account_id: AccountId,
        user_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        body: PostIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        response: Response,
    ) -> dict[str, Any]:
        """Answer a follower in their thread (admins only)."""
        async with platform.db.session() as session:
            account = await account_of(session, account_id)
            await require_admin(session, account, principal.user_id)
            thread_id = await session.scalar(
                select(ViberPublicAccountThread.conversation_id).where(
                    and_(
                        ViberPublicAccountThread.account_id == account.id,
                        ViberPublicAccountThread.user_id == user_id,
                    )
                )
            )
        if thread_id is None:
            raise UserNotFound(f"User {user_id} has not written to this account.")
        sent = await send(platform, principal.user_id, thread_id, body)
        if sent.duplicate:
            response.status_code = 200
        return {"thread_id": str(thread_id), "message": sent.view}

    return api
