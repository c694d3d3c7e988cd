"""Who may see a post: the one place the engine decides it, used by every read path.

A viewer (a user id, or None for an anonymous reader) sees a post when it is not deleted and

- the viewer wrote it; otherwise
- neither has blocked the other, and by audience:
  - `public`: anyone — except that a private account's public posts reach only its friends and
    approved followers (a page's public posts reach everyone);
  - `followers`: friends and approved followers of the author (of the page, for a page post);
  - `friends`: friends of the author;
  - `list`: members of the author's custom list `list_id`;
  - `group`: members of the group the post was made in;
  - `only_me`: nobody else.

`visible_posts` decides for a batch with at most six indexed queries whatever the batch size
(blocks, friendships, follows, private authors, group and list memberships, each only when the
batch needs it): O(n) work for n posts, so a timeline page costs the same as one post.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import targets
from casebook.engines.feed.models import (
    FeedBlock,
    FeedFollow,
    FeedFriendship,
    FeedGroupMember,
    FeedListMember,
    FeedPost,
    FeedProfile,
)

MAX_HANDLES = 100
"""Most handles resolved in one call (a post mentions at most this many people)."""


@dataclass
class Relations:
    """What a viewer is to a set of authors, pages, groups and lists (read in bulk)."""

    viewer_id: int | None
    blocked: set[int] = field(default_factory=set)
    """Authors who blocked the viewer or whom the viewer blocked."""
    friends: set[int] = field(default_factory=set)
    following: set[int] = field(default_factory=set)
    """Users and pages the viewer follows (approved)."""
    private: set[int] = field(default_factory=set)
    groups: set[int] = field(default_factory=set)
    lists: set[int] = field(default_factory=set)

    def may_see(self, post: FeedPost, *, ignore_deleted: bool = False) -> bool:
        """The audience rule above for one post, given the relations were read for it. O(1).

        `ignore_deleted` answers whether the viewer could see the post before its deletion
        (who may be told that it is gone)."""
        if post.deleted_at is not None and not ignore_deleted:
            return False
        viewer = self.viewer_id
        if viewer is not None and viewer == post.author_id:
            return True
        if post.author_id in self.blocked:
            return False
        audience = post.audience
        if audience == "public":
            if post.page_id is not None or post.author_id not in self.private:
                return True
            return post.author_id in self.friends or post.author_id in self.following
        if viewer is None:
            return False
        if audience == "followers":
            if post.page_id is not None:
                return post.page_id in self.following
            return post.author_id in self.friends or post.author_id in self.following
        if audience == "friends":
            return post.author_id in self.friends
        if audience == "list":
            return post.list_id is not None and post.list_id in self.lists
        if audience == "group":
            return post.group_id is not None and post.group_id in self.groups
        return False  # only_me, or an audience this code does not know: fail closed


async def relations_for(
    session: AsyncSession, system: str, viewer_id: int | None, posts: Sequence[FeedPost]
) -> Relations:
    """Read what `viewer_id` is to the authors, pages, groups and lists of `posts`.

    At most six queries, each an index probe per distinct key (see the module docstring).
    """
    relations = Relations(viewer_id)
    others = [p for p in posts if p.author_id != viewer_id]
    if not others:
        return relations
    authors = {p.author_id for p in others}
    relations.private = set(
        await session.scalars(
            select(FeedProfile.user_id).where(
                FeedProfile.system == system,
                FeedProfile.user_id.in_(authors),
                FeedProfile.private.is_(True),
            )
        )
    )
    if viewer_id is None:
        return relations
    block_rows = await session.execute(
        select(FeedBlock.blocker_id, FeedBlock.blocked_id).where(
            FeedBlock.system == system,
            or_(
                and_(FeedBlock.blocker_id == viewer_id, FeedBlock.blocked_id.in_(authors)),
                and_(FeedBlock.blocked_id == viewer_id, FeedBlock.blocker_id.in_(authors)),
            ),
        )
    )
    for blocker, blocked in block_rows:
        relations.blocked.add(blocked if blocker == viewer_id else blocker)
    relations.friends = set(
        await session.scalars(
            select(FeedFriendship.friend_id).where(
                FeedFriendship.system == system,
                FeedFriendship.user_id == viewer_id,
                FeedFriendship.friend_id.in_(authors),
                FeedFriendship.status == "accepted",
            )
        )
    )
    followees = authors | {p.page_id for p in others if p.page_id is not None}
    relations.following = set(
        await session.scalars(
            select(FeedFollow.followee_id).where(
                FeedFollow.system == system,
                FeedFollow.follower_id == viewer_id,
                FeedFollow.followee_id.in_(followees),
                FeedFollow.status == "active",
            )
        )
    )
    groups = {p.group_id for p in others if p.group_id is not None}
    if groups:
        relations.groups = set(
            await session.scalars(
                select(FeedGroupMember.group_id).where(
                    FeedGroupMember.system == system,
                    FeedGroupMember.user_id == viewer_id,
                    FeedGroupMember.group_id.in_(groups),
                )
            )
        )
    lists = {p.list_id for p in others if p.list_id is not None and p.audience == "list"}
    if lists:
        relations.lists = set(
            await session.scalars(
                select(FeedListMember.list_id).where(
                    FeedListMember.user_id == viewer_id, FeedListMember.list_id.in_(lists)
                )
            )
        )
    return relations


async def visible_posts(
    session: AsyncSession, system: str, viewer_id: int | None, posts: Sequence[FeedPost]
) -> list[FeedPost]:
    """The posts of `posts` that `viewer_id` may see, in the given order.

    Posts of another system are dropped too (callers should not pass them; this fails closed).
    Cost: `relations_for` plus O(n).
    """
    own_system = [p for p in posts if p.system == system]
    relations = await relations_for(session, system, viewer_id, own_system)
    return [p for p in own_system if relations.may_see(p)]


async def visible_post(
    session: AsyncSession, system: str, viewer_id: int | None, post_id: int
) -> FeedPost | None:
    """The post if it exists in `system`, is not deleted and `viewer_id` may see it; else None.

    Callers answer None with 404, so a post the viewer may not see is indistinguishable from
    one that does not exist. One primary-key read plus `relations_for` (at most six probes).
    """
    post = await session.get(FeedPost, post_id)
    if post is None or post.system != system or post.deleted_at is not None:
        return None
    allowed = await visible_posts(session, system, viewer_id, [post])
    return allowed[0] if allowed else None


async def could_see(
    session: AsyncSession, system: str, viewer_id: int | None, post: FeedPost
) -> bool:
    """Whether the viewer may see `post`, or could have before it was deleted."""
    if post.system != system:
        return False
    relations = await relations_for(session, system, viewer_id, [post])
    return relations.may_see(post, ignore_deleted=True)


async def visible_post_owner(
    session: AsyncSession, system: str, viewer_id: int | None, post_id: int
) -> int | None:
    """The "post" target kind for engagement (targets.py): the author's user id when the viewer
    may see the post, else None."""
    post = await visible_post(session, system, viewer_id, post_id)
    return post.author_id if post is not None else None


async def is_blocked_between(session: AsyncSession, system: str, a: int, b: int) -> bool:
    """Whether `a` blocked `b` or `b` blocked `a` in `system`. One indexed probe."""
    found = await session.scalar(
        select(FeedBlock.blocker_id)
        .where(
            FeedBlock.system == system,
            or_(
                and_(FeedBlock.blocker_id == a, FeedBlock.blocked_id == b),
                and_(FeedBlock.blocker_id == b, FeedBlock.blocked_id == a),
            ),
        )
        .limit(1)
    )
    return found is not None


def normalise_handle(handle: str) -> str:
    """How handles compare: without a leading "@", lower-cased."""
    return handle.removeprefix("@").lower()


async def user_ids_for_handles(
    session: AsyncSession, system: str, handles: Iterable[str]
) -> dict[str, int]:
    """@mention resolution: {handle: user id} for the handles (with or without "@", any case)
    that name a profile of `system`; unknown handles are left out. Keys are the normalised
    (lower-case, no "@") handles. At most `MAX_HANDLES` distinct handles are looked up (the
    first ones); one indexed query.
    """
    wanted: list[str] = []
    for handle in handles:
        key = normalise_handle(handle)
        if key and key not in wanted:
            wanted.append(key)
        if len(wanted) >= MAX_HANDLES:
            break
    if not wanted:
        return {}
    rows = await session.execute(
        select(FeedProfile.handle, FeedProfile.user_id).where(
            FeedProfile.system == system, FeedProfile.handle.in_(wanted)
        )
    )
    return {handle: user_id for handle, user_id in rows}


targets.register("post", visible_post_owner)
