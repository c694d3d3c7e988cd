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

A post that moderation hid from everyone (`FeedModeration`, past the report threshold) is seen
by its author only; a post the viewer hid or reported is left out of the viewer's lists (home
feed, walls, live pushes) but still opens by id.

`visible_posts` decides for a batch in one round trip whatever the batch size (a UNION ALL of
indexed probes: blocks, friendships, follows, private authors, group and list memberships,
moderation and hides, each only when the batch needs it): O(n) work for n posts, so a timeline
page costs the same as one post.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, String, and_, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import targets
from casebook.engines.feed.engagement_models import FeedHide, FeedModeration
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


class PostLike(Protocol):
    """What `Relations.may_see` reads of a post (a `FeedPost` or a cached row)."""

    @property
    def id(self) -> int: ...
    @property
    def author_id(self) -> int: ...
    @property
    def audience(self) -> str: ...
    @property
    def page_id(self) -> int | None: ...
    @property
    def group_id(self) -> int | None: ...
    @property
    def list_id(self) -> int | None: ...
    @property
    def deleted_at(self) -> datetime | None: ...


@dataclass
class Relations:
    """What a viewer is to a set of authors, pages, groups and lists (read in bulk)."""

    viewer_id: int | None
    blocked: AbstractSet[int] = field(default_factory=set)
    """Authors who blocked the viewer or whom the viewer blocked."""
    friends: AbstractSet[int] = field(default_factory=set)
    following: AbstractSet[int] = field(default_factory=set)
    """Users, pages and groups the viewer follows (approved)."""
    private: AbstractSet[int] = field(default_factory=set)
    groups: AbstractSet[int] = field(default_factory=set)
    lists: AbstractSet[int] = field(default_factory=set)
    moderated: AbstractSet[int] = field(default_factory=set)
    """Posts moderation hid from everyone but their author (past the report threshold)."""
    hidden_by_viewer: AbstractSet[int] = field(default_factory=set)
    """Posts the viewer hid or reported: left out of their lists (feed, walls), still readable
    one by one (so the viewer can open and unhide them)."""

    def may_see(self, post: FeedPost | PostLike, *, ignore_deleted: bool = False) -> bool:
        """The audience rule above for one post, given the relations were read for it. O(1).

        `ignore_deleted` answers whether the viewer could see the post before its deletion
        (who may be told that it is gone)."""
        if post.deleted_at is not None and not ignore_deleted:
            return False
        viewer = self.viewer_id
        if viewer is not None and viewer == post.author_id:
            return True
        if post.author_id in self.blocked or post.id in self.moderated:
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


_PRIVATE, _BLOCKED, _FRIEND, _FOLLOWING, _GROUP, _LIST, _MODERATED, _HIDDEN = (
    "p",
    "b",
    "f",
    "o",
    "g",
    "l",
    "m",
    "h",
)


_TAGS = (_PRIVATE, _BLOCKED, _FRIEND, _FOLLOWING, _GROUP, _LIST, _MODERATED, _HIDDEN)


def _tagged(tag: str, column: Any) -> Select[Any]:
    """`SELECT '<tag>', <column>`: one arm of the relations UNION ALL."""
    return select(literal(tag, String(1)).label("tag"), column.label("id"))


async def relations_for(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    posts: Sequence[FeedPost],
    *,
    also_following: Iterable[int] = (),
) -> Relations:
    """Read what `viewer_id` is to the authors, pages, groups and lists of `posts`, which of
    them moderation hid, and which the viewer hid; also whether the viewer follows each source
    of `also_following` (the home feed's "still followed" check).

    One round trip whatever the batch: a UNION ALL of up to nine indexed probes, each an `IN`
    over the batch's distinct keys (blocks both ways, private authors, friendships, follows,
    group and list memberships, moderation and the viewer's hides). O(n) for n posts.
    """
    relations = Relations(viewer_id)
    others = [p for p in posts if p.author_id != viewer_id]
    followees = set(also_following)
    if not others and not followees:
        return relations
    authors = {p.author_id for p in others}
    post_ids = [p.id for p in posts]
    arms: list[Select[Any]] = []
    if others:
        arms += [
            _tagged(_PRIVATE, FeedProfile.user_id).where(
                FeedProfile.system == system,
                FeedProfile.user_id.in_(authors),
                FeedProfile.private.is_(True),
            ),
            _tagged(_MODERATED, FeedModeration.target_id).where(
                FeedModeration.system == system,
                FeedModeration.target_kind == "post",
                FeedModeration.target_id.in_([p.id for p in others]),
                FeedModeration.hidden.is_(True),
            ),
        ]
    if viewer_id is not None:
        followees |= authors | {p.page_id for p in others if p.page_id is not None}
        groups = {p.group_id for p in others if p.group_id is not None}
        lists = {p.list_id for p in others if p.list_id is not None and p.audience == "list"}
        if post_ids:
            arms.append(
                _tagged(_HIDDEN, FeedHide.target_id).where(
                    FeedHide.system == system,
                    FeedHide.user_id == viewer_id,
                    FeedHide.target_kind == "post",
                    FeedHide.target_id.in_(post_ids),
                )
            )
        if authors:
            arms += [
                _tagged(_BLOCKED, FeedBlock.blocked_id).where(
                    FeedBlock.system == system,
                    FeedBlock.blocker_id == viewer_id,
                    FeedBlock.blocked_id.in_(authors),
                ),
                _tagged(_BLOCKED, FeedBlock.blocker_id).where(
                    FeedBlock.system == system,
                    FeedBlock.blocked_id == viewer_id,
                    FeedBlock.blocker_id.in_(authors),
                ),
                _tagged(_FRIEND, FeedFriendship.friend_id).where(
                    FeedFriendship.system == system,
                    FeedFriendship.user_id == viewer_id,
                    FeedFriendship.friend_id.in_(authors),
                    FeedFriendship.status == "accepted",
                ),
            ]
        if followees:
            arms.append(
                _tagged(_FOLLOWING, FeedFollow.followee_id).where(
                    FeedFollow.system == system,
                    FeedFollow.follower_id == viewer_id,
                    FeedFollow.followee_id.in_(followees),
                    FeedFollow.status == "active",
                )
            )
        if groups:
            arms.append(
                _tagged(_GROUP, FeedGroupMember.group_id).where(
                    FeedGroupMember.system == system,
                    FeedGroupMember.user_id == viewer_id,
                    FeedGroupMember.group_id.in_(groups),
                )
            )
        if lists:
            arms.append(
                _tagged(_LIST, FeedListMember.list_id).where(
                    FeedListMember.user_id == viewer_id, FeedListMember.list_id.in_(lists)
                )
            )
    if not arms:
        return relations
    sets: dict[str, set[int]] = {tag: set() for tag in _TAGS}
    query = arms[0] if len(arms) == 1 else union_all(*arms)
    for tag, found in await session.execute(query):
        sets[tag].add(found)
    relations.private, relations.blocked = sets[_PRIVATE], sets[_BLOCKED]
    relations.friends, relations.following = sets[_FRIEND], sets[_FOLLOWING]
    relations.groups, relations.lists = sets[_GROUP], sets[_LIST]
    relations.moderated, relations.hidden_by_viewer = sets[_MODERATED], sets[_HIDDEN]
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


async def listed_posts(
    session: AsyncSession, system: str, viewer_id: int | None, posts: Sequence[FeedPost]
) -> list[FeedPost]:
    """`visible_posts` for a list (a wall, a page of shares): also leaves out the posts the
    viewer hid or reported. One round trip plus O(n)."""
    own_system = [p for p in posts if p.system == system]
    relations = await relations_for(session, system, viewer_id, own_system)
    return [
        p for p in own_system if relations.may_see(p) and p.id not in relations.hidden_by_viewer
    ]


async def visible_post(
    session: AsyncSession, system: str, viewer_id: int | None, post_id: int
) -> FeedPost | None:
    """The post if it exists in `system`, is not deleted and `viewer_id` may see it; else None.

    Callers answer None with 404, so a post the viewer may not see is indistinguishable from
    one that does not exist. One primary-key read plus `relations_for` (one round trip).
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
