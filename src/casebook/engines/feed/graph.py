"""The social graph of one system: profiles, follows (with requests for private accounts),
friendships (request/accept/decline/unfriend), blocks, pages, groups and custom lists.

Every function takes the request's session and a system slug and does one thing; the caller's
transaction commits it. Edge changes that move a follower count do it with one atomic UPDATE
decided by the row count of the edge INSERT/DELETE, so concurrent follows of one user never lose
a count. Costs are O(1) index operations unless stated.

Blocks hide both ways: blocking removes follows, friendships and pending requests in both
directions, and later follow/friend attempts between the pair answer 404 (as if the user did not
exist), so a blocked user cannot learn that they were blocked from these endpoints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import notifications
from casebook.engines.feed.audience import is_blocked_between
from casebook.engines.feed.models import (
    FeedBlock,
    FeedEntity,
    FeedFollow,
    FeedFriendship,
    FeedGroupMember,
    FeedList,
    FeedListMember,
    FeedProfile,
    insert_ignore,
)
from casebook.platform.auth.models import User
from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound

HANDLE = re.compile(r"^[a-z0-9_]{2,30}$")
MAX_LIST_MEMBERS = 5000


class UserNotFound(NotFound):
    type_ = "feed/user-not-found"
    title = "No such user"


class EntityNotFound(NotFound):
    type_ = "feed/entity-not-found"
    title = "No such page or group"


class ListNotFound(NotFound):
    type_ = "feed/list-not-found"
    title = "No such list"


class RequestNotFound(NotFound):
    type_ = "feed/request-not-found"
    title = "No such request"


class HandleTaken(Conflict):
    type_ = "feed/handle-taken"
    title = "The handle is taken"


class InvalidHandle(InvalidInput):
    type_ = "feed/invalid-handle"
    title = "Invalid handle"


class SelfRelation(InvalidInput):
    type_ = "feed/self-relation"
    title = "A user cannot do that to themselves"


class NotGroupMember(Forbidden):
    type_ = "feed/not-a-member"
    title = "Only members may do that"


async def _notify(
    session: AsyncSession, system: str, recipient_id: int, kind: str, actor_id: int
) -> None:
    """Tell `recipient_id` about a follow, follow request or friend request (notifications
    drop self- and blocked notifications and deduplicate per actor)."""
    await notifications.notify(session, system, recipient_id, kind, actor_id, "user", actor_id)


# Profiles ---------------------------------------------------------------------------------


def _handle_base(display_name: str) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", display_name.lower()).strip("_")[:24]
    return base if len(base) >= 2 else "user"


async def ensure_profiles(session: AsyncSession, system: str, *user_ids: int) -> None:
    """`ensure_profile` for each user, in ascending id order: two transactions that create the
    same two new profiles (A follows B while B follows A) then take the profile rows' locks in
    the same order, where creating them in the order each request names them deadlocks on
    PostgreSQL. Raises `UserNotFound`."""
    for user_id in sorted(set(user_ids)):
        await ensure_profile(session, system, user_id)


async def ensure_profile(session: AsyncSession, system: str, user_id: int) -> FeedProfile:
    """The user's profile in `system`, created on first use with a handle derived from their
    display name (lower-cased, `[a-z0-9_]`), suffixed with digits of their id when taken.

    Raises `UserNotFound` when `user_id` is not a platform user. Two primary-key reads when the
    profile exists; creating it is one INSERT in a savepoint (a concurrent creator wins).
    """
    profile = await session.get(FeedProfile, (system, user_id))
    if profile is not None:
        return profile
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"No user {user_id}.")
    base = _handle_base(user.display_name)
    candidates = [base, f"{base}_{str(user_id)[-4:]}", f"{base}_{user_id}"]
    for handle in candidates:
        taken = await session.scalar(
            select(FeedProfile.user_id).where(
                FeedProfile.system == system, FeedProfile.handle == handle
            )
        )
        if taken is not None:
            continue
        try:
            async with session.begin_nested():
                session.add(
                    FeedProfile(
                        system=system,
                        user_id=user_id,
                        handle=handle,
                        display_name=user.display_name,
                        private=False,
                        follower_count=0,
                    )
                )
        except IntegrityError:
            existing = await session.get(FeedProfile, (system, user_id), populate_existing=True)
            if existing is not None:
                return existing
            continue  # the handle was taken concurrently: try the next candidate
        created = await session.get(FeedProfile, (system, user_id))
        assert created is not None
        return created
    raise HandleTaken(f"No free handle for user {user_id}.")


async def update_profile(
    session: AsyncSession,
    system: str,
    user_id: int,
    *,
    handle: str | None = None,
    private: bool | None = None,
) -> FeedProfile:
    """Change the user's handle and/or privacy.

    Making an account public approves its pending follow requests (they become followers).
    Raises `InvalidHandle` (422) or `HandleTaken` (409).
    """
    profile = await ensure_profile(session, system, user_id)
    if handle is not None:
        handle = handle.removeprefix("@").lower()
        if not HANDLE.match(handle):
            raise InvalidHandle("A handle is 2 to 30 of a-z, 0-9 and _.")
        if handle != profile.handle:
            taken = await session.scalar(
                select(FeedProfile.user_id).where(
                    FeedProfile.system == system, FeedProfile.handle == handle
                )
            )
            if taken is not None:
                raise HandleTaken(f"@{handle} is taken.")
            try:
                async with session.begin_nested():
                    profile.handle = handle
            except IntegrityError:
                raise HandleTaken(f"@{handle} is taken.") from None
    if private is not None and private != profile.private:
        profile.private = private
        await session.flush()
        if not private:
            approved = await session.execute(
                update(FeedFollow)
                .where(
                    FeedFollow.system == system,
                    FeedFollow.followee_id == user_id,
                    FeedFollow.status == "pending",
                )
                .values(status="active")
            )
            await _add_followers(session, system, user_id, _rowcount(approved))
    await session.flush()
    await session.refresh(profile)
    return profile


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


DROPPED_KEY = "feed.follower-count-dropped"


async def _add_followers(session: AsyncSession, system: str, followee_id: int, delta: int) -> None:
    """Move the follower count of a user, page or group by `delta` (one atomic UPDATE … RETURNING).

    A decrease is remembered in `session.info` (see `dropped_counts`): the count this very
    statement left, so of concurrent unfollows exactly one sees each value on the way down.
    """
    if delta == 0:
        return
    count = await session.scalar(
        update(FeedProfile)
        .where(FeedProfile.system == system, FeedProfile.user_id == followee_id)
        .values(follower_count=FeedProfile.follower_count + delta)
        .returning(FeedProfile.follower_count)
    )
    if count is None:
        count = await session.scalar(
            update(FeedEntity)
            .where(FeedEntity.system == system, FeedEntity.id == followee_id)
            .values(follower_count=FeedEntity.follower_count + delta)
            .returning(FeedEntity.follower_count)
        )
    if delta < 0 and count is not None:
        session.info.setdefault(DROPPED_KEY, {})[followee_id] = count


def dropped_counts(session: AsyncSession) -> dict[int, int]:
    """{source id: follower count} for the sources whose count this session decreased, with the
    count after the last decrease; clears the record. The feed service uses it to notice a
    source falling to the celebrity threshold (whose pulled posts must then be pushed)."""
    dropped: dict[int, int] = session.info.pop(DROPPED_KEY, {})
    return dropped


async def source_follower_count(session: AsyncSession, system: str, source_id: int) -> int:
    """Active followers of a user, page or group (0 when it has no profile yet)."""
    profile = await session.get(FeedProfile, (system, source_id))
    if profile is not None:
        return profile.follower_count
    entity = await session.get(FeedEntity, source_id)
    return entity.follower_count if entity is not None and entity.system == system else 0


async def pending_follower_ids(
    session: AsyncSession, system: str, user_id: int, limit: int = 1000
) -> list[int]:
    """Up to `limit` users whose follow requests to `user_id` wait for approval, oldest first."""
    return list(
        await session.scalars(
            select(FeedFollow.follower_id)
            .where(
                FeedFollow.system == system,
                FeedFollow.followee_id == user_id,
                FeedFollow.status == "pending",
            )
            .order_by(FeedFollow.created_at)
            .limit(limit)
        )
    )


# Follows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowResult:
    followee_id: int
    kind: str
    status: str
    """"active", or "pending" while a private account has not approved."""


async def _followee_kind(session: AsyncSession, system: str, followee_id: int) -> tuple[str, bool]:
    """("user"|"page"|"group", private?) of a follow target; raises UserNotFound."""
    entity = await session.get(FeedEntity, followee_id)
    if entity is not None and entity.system == system:
        return entity.kind, False
    profile = await ensure_profile(session, system, followee_id)
    return "user", profile.private


async def follow(
    session: AsyncSession, system: str, follower_id: int, followee_id: int
) -> FollowResult:
    """`follower_id` follows a user or page (a group is joined with `join_group`).

    Following a private account creates a pending request. Idempotent: following again answers
    the existing edge. Raises `SelfRelation` (422), `UserNotFound` (404: unknown, or blocked
    either way). The followee is notified ("follow" or "follow_request").
    """
    if follower_id == followee_id:
        raise SelfRelation("You cannot follow yourself.")
    entity = await session.get(FeedEntity, followee_id)
    if entity is not None and entity.system == system:
        await ensure_profile(session, system, follower_id)
    else:
        await ensure_profiles(session, system, follower_id, followee_id)
    kind, private = await _followee_kind(session, system, followee_id)
    if kind == "group":
        raise InvalidInput("Join a group instead of following it.")
    if kind == "user" and await is_blocked_between(session, system, follower_id, followee_id):
        raise UserNotFound(f"No user {followee_id}.")
    status = "pending" if private else "active"
    inserted = await insert_ignore(
        session,
        FeedFollow,
        [
            {
                "system": system,
                "follower_id": follower_id,
                "followee_id": followee_id,
                "followee_kind": kind,
                "status": status,
            }
        ],
        ["system", "follower_id", "followee_id"],
    )
    if inserted:
        if status == "active":
            await _add_followers(session, system, followee_id, 1)
        if kind == "user":
            notice = "follow" if status == "active" else "follow_request"
            await _notify(session, system, followee_id, notice, follower_id)
        return FollowResult(followee_id, kind, status)
    existing = await session.scalar(
        select(FeedFollow.status).where(
            FeedFollow.system == system,
            FeedFollow.follower_id == follower_id,
            FeedFollow.followee_id == followee_id,
        )
    )
    return FollowResult(followee_id, kind, existing or status)


async def unfollow(session: AsyncSession, system: str, follower_id: int, followee_id: int) -> bool:
    """Remove the edge (or withdraw the request). Returns whether there was one. Idempotent."""
    active = await session.execute(
        delete(FeedFollow).where(
            FeedFollow.system == system,
            FeedFollow.follower_id == follower_id,
            FeedFollow.followee_id == followee_id,
            FeedFollow.status == "active",
        )
    )
    removed = _rowcount(active)
    await _add_followers(session, system, followee_id, -removed)
    pending = await session.execute(
        delete(FeedFollow).where(
            FeedFollow.system == system,
            FeedFollow.follower_id == follower_id,
            FeedFollow.followee_id == followee_id,
        )
    )
    return bool(removed or _rowcount(pending))


async def answer_follow_request(
    session: AsyncSession, system: str, user_id: int, follower_id: int, *, approve: bool
) -> None:
    """`user_id` approves or declines `follower_id`'s pending follow request.

    Raises `RequestNotFound` (404) when there is no such pending request.
    """
    where = (
        FeedFollow.system == system,
        FeedFollow.follower_id == follower_id,
        FeedFollow.followee_id == user_id,
        FeedFollow.status == "pending",
    )
    if approve:
        result = await session.execute(update(FeedFollow).where(*where).values(status="active"))
        if _rowcount(result):
            await _add_followers(session, system, user_id, 1)
            return
    else:
        result = await session.execute(delete(FeedFollow).where(*where))
        if _rowcount(result):
            return
    raise RequestNotFound(f"No pending follow request from {follower_id}.")


async def is_following(
    session: AsyncSession, system: str, follower_id: int, followee_id: int
) -> bool:
    """Whether the active edge follower → followee exists. One primary-key read."""
    edge = await session.get(FeedFollow, (system, follower_id, followee_id))
    return edge is not None and edge.status == "active"


async def followees(session: AsyncSession, system: str, user_id: int) -> list[int]:
    """Every user, page and group `user_id` follows (active). O(followees) index range."""
    return list(
        await session.scalars(
            select(FeedFollow.followee_id).where(
                FeedFollow.system == system,
                FeedFollow.follower_id == user_id,
                FeedFollow.status == "active",
            )
        )
    )


async def follower_ids(session: AsyncSession, system: str, followee_id: int) -> list[int]:
    """Every active follower of a user, page or group. O(followers) index range."""
    return list(
        await session.scalars(
            select(FeedFollow.follower_id).where(
                FeedFollow.system == system,
                FeedFollow.followee_id == followee_id,
                FeedFollow.status == "active",
            )
        )
    )


class PrivateAccount(Forbidden):
    type_ = "feed/private-account"
    title = "This account is private"


async def connections_page(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    user_id: int,
    *,
    direction: str,
    after: int | None,
    limit: int,
) -> tuple[list[int], int | None]:
    """A page of a user's followers (`direction="followers"`) or of the users they follow
    (`"following"`), by ascending user id after `after`; only active edges between users.

    Who may look: anyone for a public account; for a private one the user, their friends and
    approved followers (else `PrivateAccount`, 403). Blocked either way: `UserNotFound` (404).
    One index range read of `limit + 1` rows.
    """
    profile = await ensure_profile(session, system, user_id)
    if (
        viewer_id is not None
        and viewer_id != user_id
        and await is_blocked_between(session, system, viewer_id, user_id)
    ):
        raise UserNotFound(f"No user {user_id}.")
    if profile.private and viewer_id != user_id:
        allowed = viewer_id is not None and (
            await are_friends(session, system, viewer_id, user_id)
            or await is_following(session, system, viewer_id, user_id)
        )
        if not allowed:
            raise PrivateAccount("Follow this account to see its connections.")
    mine, theirs = (
        (FeedFollow.followee_id, FeedFollow.follower_id)
        if direction == "followers"
        else (FeedFollow.follower_id, FeedFollow.followee_id)
    )
    stmt = select(theirs).where(
        FeedFollow.system == system,
        mine == user_id,
        FeedFollow.status == "active",
        FeedFollow.followee_kind == "user",
    )
    if after is not None:
        stmt = stmt.where(theirs > after)
    rows = list(await session.scalars(stmt.order_by(theirs).limit(limit + 1)))
    page = rows[:limit]
    return page, page[-1] if len(rows) > limit else None


# Friendships ------------------------------------------------------------------------------


async def _friend_row(
    session: AsyncSession, system: str, user_id: int, friend_id: int
) -> FeedFriendship | None:
    return await session.get(FeedFriendship, (system, user_id, friend_id))


async def are_friends(session: AsyncSession, system: str, a: int, b: int) -> bool:
    row = await _friend_row(session, system, a, b)
    return row is not None and row.status == "accepted"


async def request_friendship(
    session: AsyncSession, system: str, user_id: int, other_id: int
) -> str:
    """`user_id` asks `other_id` to be friends. Returns "pending", or "accepted" when `other_id`
    had already asked `user_id` (the crossing requests make a friendship) or they are friends.

    Raises `SelfRelation` (422), `UserNotFound` (404: unknown or blocked either way).
    """
    if user_id == other_id:
        raise SelfRelation("You cannot befriend yourself.")
    await ensure_profiles(session, system, user_id, other_id)
    if await is_blocked_between(session, system, user_id, other_id):
        raise UserNotFound(f"No user {other_id}.")
    mine = await _friend_row(session, system, user_id, other_id)
    if mine is not None:
        return mine.status
    theirs = await _friend_row(session, system, other_id, user_id)
    if theirs is not None and theirs.status == "pending":
        await _befriend(session, system, other_id, user_id)
        return "accepted"
    inserted = await insert_ignore(
        session,
        FeedFriendship,
        [{"system": system, "user_id": user_id, "friend_id": other_id, "status": "pending"}],
        ["system", "user_id", "friend_id"],
    )
    if inserted:
        await _notify(session, system, other_id, "friend_request", user_id)
    return "pending"


async def _befriend(session: AsyncSession, system: str, requester: int, addressee: int) -> None:
    """Turn requester's pending request into a friendship: two accepted rows and the two follow
    edges (friends follow each other, as on Facebook)."""
    await session.execute(
        update(FeedFriendship)
        .where(
            FeedFriendship.system == system,
            FeedFriendship.user_id == requester,
            FeedFriendship.friend_id == addressee,
        )
        .values(status="accepted")
    )
    await insert_ignore(
        session,
        FeedFriendship,
        [{"system": system, "user_id": addressee, "friend_id": requester, "status": "accepted"}],
        ["system", "user_id", "friend_id"],
    )
    for follower, followee in ((requester, addressee), (addressee, requester)):
        # A pending follow request between friends is approved by the friendship.
        approved = await session.execute(
            update(FeedFollow)
            .where(
                FeedFollow.system == system,
                FeedFollow.follower_id == follower,
                FeedFollow.followee_id == followee,
                FeedFollow.status == "pending",
            )
            .values(status="active")
        )
        inserted = await insert_ignore(
            session,
            FeedFollow,
            [
                {
                    "system": system,
                    "follower_id": follower,
                    "followee_id": followee,
                    "followee_kind": "user",
                    "status": "active",
                }
            ],
            ["system", "follower_id", "followee_id"],
        )
        await _add_followers(session, system, followee, _rowcount(approved) + inserted)


async def answer_friend_request(
    session: AsyncSession, system: str, user_id: int, requester_id: int, *, accept: bool
) -> None:
    """`user_id` accepts or declines `requester_id`'s pending friend request.

    Raises `RequestNotFound` (404) when there is none.
    """
    row = await _friend_row(session, system, requester_id, user_id)
    if row is None or row.status != "pending":
        raise RequestNotFound(f"No pending friend request from {requester_id}.")
    if accept:
        await _befriend(session, system, requester_id, user_id)
    else:
        await session.delete(row)
        await session.flush()


async def end_friendship(
    session: AsyncSession, system: str, user_id: int, other_id: int
) -> str | None:
    """Unfriend (either side), or cancel one's own pending request. Ending a friendship removes
    the follow edges between the two. Returns "ended", "cancelled", or None (nothing to end)."""
    mine = await _friend_row(session, system, user_id, other_id)
    if mine is not None and mine.status == "pending":
        await session.delete(mine)
        await session.flush()
        return "cancelled"
    if mine is None:
        return None
    await session.execute(
        delete(FeedFriendship).where(
            FeedFriendship.system == system,
            or_(
                and_(FeedFriendship.user_id == user_id, FeedFriendship.friend_id == other_id),
                and_(FeedFriendship.user_id == other_id, FeedFriendship.friend_id == user_id),
            ),
        )
    )
    await unfollow(session, system, user_id, other_id)
    await unfollow(session, system, other_id, user_id)
    return "ended"


async def friend_ids(session: AsyncSession, system: str, user_id: int) -> list[int]:
    """Every friend of `user_id`. O(friends) index range."""
    return list(
        await session.scalars(
            select(FeedFriendship.friend_id).where(
                FeedFriendship.system == system,
                FeedFriendship.user_id == user_id,
                FeedFriendship.status == "accepted",
            )
        )
    )


# Blocks -----------------------------------------------------------------------------------


async def block(session: AsyncSession, system: str, blocker_id: int, blocked_id: int) -> None:
    """`blocker_id` blocks `blocked_id`: both stop seeing each other's posts, and the follows,
    friendship and requests between them are removed. Idempotent.

    Raises `SelfRelation` (422), `UserNotFound` (404).
    """
    if blocker_id == blocked_id:
        raise SelfRelation("You cannot block yourself.")
    await ensure_profiles(session, system, blocker_id, blocked_id)
    await insert_ignore(
        session,
        FeedBlock,
        [{"system": system, "blocker_id": blocker_id, "blocked_id": blocked_id}],
        ["system", "blocker_id", "blocked_id"],
    )
    await session.execute(
        delete(FeedFriendship).where(
            FeedFriendship.system == system,
            or_(
                and_(FeedFriendship.user_id == blocker_id, FeedFriendship.friend_id == blocked_id),
                and_(FeedFriendship.user_id == blocked_id, FeedFriendship.friend_id == blocker_id),
            ),
        )
    )
    await unfollow(session, system, blocker_id, blocked_id)
    await unfollow(session, system, blocked_id, blocker_id)


async def unblock(session: AsyncSession, system: str, blocker_id: int, blocked_id: int) -> bool:
    """Lift a block `blocker_id` made (follows and friendship are not restored)."""
    result = await session.execute(
        delete(FeedBlock).where(
            FeedBlock.system == system,
            FeedBlock.blocker_id == blocker_id,
            FeedBlock.blocked_id == blocked_id,
        )
    )
    return bool(_rowcount(result))


async def is_blocked(session: AsyncSession, system: str, a: int, b: int) -> bool:
    """Whether either of `a` and `b` blocked the other (for notifications, mentions…)."""
    return await is_blocked_between(session, system, a, b)


async def blocked_ids(session: AsyncSession, system: str, user_id: int) -> list[int]:
    """Users `user_id` blocked."""
    return list(
        await session.scalars(
            select(FeedBlock.blocked_id).where(
                FeedBlock.system == system, FeedBlock.blocker_id == user_id
            )
        )
    )


# Pages and groups -------------------------------------------------------------------------


async def create_entity(
    session: AsyncSession, system: str, owner_id: int, kind: str, name: str, about: str = ""
) -> FeedEntity:
    """Create a page or a group owned by `owner_id`. The owner follows a page and is the first
    member of a group."""
    if kind not in ("page", "group"):
        raise InvalidInput("kind must be page or group.")
    await ensure_profile(session, system, owner_id)
    entity = FeedEntity(system=system, kind=kind, name=name, about=about, owner_id=owner_id)
    session.add(entity)
    await session.flush()
    if kind == "group":
        await join_group(session, system, owner_id, entity.id)
    else:
        await follow(session, system, owner_id, entity.id)
    await session.refresh(entity)
    return entity


async def get_entity(session: AsyncSession, system: str, entity_id: int) -> FeedEntity:
    """The page or group `entity_id` of `system`; raises `EntityNotFound` (404)."""
    entity = await session.get(FeedEntity, entity_id)
    if entity is None or entity.system != system:
        raise EntityNotFound(f"No page or group {entity_id}.")
    return entity


async def join_group(session: AsyncSession, system: str, user_id: int, group_id: int) -> bool:
    """`user_id` joins the group (membership plus a follow edge, so group posts reach their
    feed). Idempotent; returns whether they were newly added. Raises `EntityNotFound`."""
    entity = await get_entity(session, system, group_id)
    if entity.kind != "group":
        raise EntityNotFound(f"No group {group_id}.")
    await ensure_profile(session, system, user_id)
    added = await insert_ignore(
        session,
        FeedGroupMember,
        [{"system": system, "group_id": group_id, "user_id": user_id}],
        ["system", "group_id", "user_id"],
    )
    followed = await insert_ignore(
        session,
        FeedFollow,
        [
            {
                "system": system,
                "follower_id": user_id,
                "followee_id": group_id,
                "followee_kind": "group",
                "status": "active",
            }
        ],
        ["system", "follower_id", "followee_id"],
    )
    await _add_followers(session, system, group_id, followed)
    return bool(added)


async def leave_group(session: AsyncSession, system: str, user_id: int, group_id: int) -> bool:
    """`user_id` leaves the group; returns whether they were a member."""
    await get_entity(session, system, group_id)
    result = await session.execute(
        delete(FeedGroupMember).where(
            FeedGroupMember.system == system,
            FeedGroupMember.group_id == group_id,
            FeedGroupMember.user_id == user_id,
        )
    )
    await unfollow(session, system, user_id, group_id)
    return bool(_rowcount(result))


async def is_member(session: AsyncSession, system: str, user_id: int, group_id: int) -> bool:
    return await session.get(FeedGroupMember, (system, group_id, user_id)) is not None


# Custom lists -----------------------------------------------------------------------------


async def create_list(
    session: AsyncSession, system: str, owner_id: int, name: str, member_ids: Iterable[int]
) -> FeedList:
    """A custom audience of `owner_id`. Members must be users of the platform (UserNotFound)."""
    members = sorted(set(member_ids))
    if len(members) > MAX_LIST_MEMBERS:
        raise InvalidInput(f"A list holds at most {MAX_LIST_MEMBERS} members.")
    await _check_users(session, members)
    entry = FeedList(system=system, owner_id=owner_id, name=name)
    session.add(entry)
    await session.flush()
    await insert_ignore(
        session,
        FeedListMember,
        [{"list_id": entry.id, "user_id": member} for member in members],
        ["list_id", "user_id"],
    )
    return entry


async def _check_users(session: AsyncSession, user_ids: list[int]) -> None:
    if not user_ids:
        return
    found = await session.scalar(select(func.count()).where(User.id.in_(user_ids)))
    if found != len(user_ids):
        raise UserNotFound("Some of the users do not exist.")


async def owned_list(session: AsyncSession, system: str, owner_id: int, list_id: int) -> FeedList:
    """The list if `owner_id` owns it in `system`; raises `ListNotFound` (404) otherwise."""
    entry = await session.get(FeedList, list_id)
    if entry is None or entry.system != system or entry.owner_id != owner_id:
        raise ListNotFound(f"No list {list_id}.")
    return entry


async def list_member_ids(session: AsyncSession, list_id: int) -> list[int]:
    return list(
        await session.scalars(
            select(FeedListMember.user_id)
            .where(FeedListMember.list_id == list_id)
            .order_by(FeedListMember.user_id)
        )
    )


async def set_list_members(
    session: AsyncSession, system: str, owner_id: int, list_id: int, member_ids: Iterable[int]
) -> list[int]:
    """Replace the members of the owner's list; posts for the list follow at once."""
    await owned_list(session, system, owner_id, list_id)
    members = sorted(set(member_ids))
    if len(members) > MAX_LIST_MEMBERS:
        raise InvalidInput(f"A list holds at most {MAX_LIST_MEMBERS} members.")
    await _check_users(session, members)
    await session.execute(delete(FeedListMember).where(FeedListMember.list_id == list_id))
    await insert_ignore(
        session,
        FeedListMember,
        [{"list_id": list_id, "user_id": member} for member in members],
        ["list_id", "user_id"],
    )
    return members
