"""Read paths: items with their ranked kids, threads in ranked depth-first order, story lists,
profiles. Everything here is public on Hacker News except a user's own votes (`my_votes`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.systems.hacker_news.models import Account, Item, Vote
from casebook.systems.hacker_news.ranking import ThreadComment, ranked_kids, thread_order
from casebook.systems.hacker_news.runtime import HackerNews
from casebook.systems.hacker_news.service import item_view

MAX_SUBMITTED = 1000
"""Ids in a user's `submitted` (the official API lists all; we cap the answer)."""


async def usernames(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    ids = set(user_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Account.user_id, Account.username).where(Account.user_id.in_(ids))
    )
    return {user_id: name for user_id, name in rows}


def _thread_comment(item: Item) -> ThreadComment:
    return ThreadComment(item.id, item.parent_id or 0, item.score, item.created_at.timestamp())


async def item_json(
    state: HackerNews, session: AsyncSession, item_id: int
) -> dict[str, Any] | None:
    """`/v0/item/<id>.json`: the item in the official shape, None when there is none. O(k log k)
    for k direct replies."""
    item = await session.get(Item, item_id)
    if item is None:
        return None
    children = (await session.scalars(select(Item).where(Item.parent_id == item_id))).all()
    kids = ranked_kids(
        item_id, [_thread_comment(c) for c in children], time.time(), state.config.gravity
    )
    names = await usernames(session, [item.by_id])
    return item_view(item, names.get(item.by_id, ""), kids)


@dataclass(frozen=True)
class ThreadEntry:
    item: Item
    depth: int
    by: str


async def thread(state: HackerNews, session: AsyncSession, root: Item) -> list[ThreadEntry]:
    """The comments under `root` (a story, or a comment's subtree through its materialized path)
    in ranked depth-first order. One indexed query; O(C log C) for C comments."""
    query = select(Item).where(Item.type == "comment")
    if root.type == "story":
        query = query.where(Item.story_id == root.id)
    else:
        query = query.where(Item.story_id == root.story_id, Item.path.like(f"{root.path}/%"))
    comments = {c.id: c for c in (await session.scalars(query)).all()}
    order = thread_order(
        root.id,
        [_thread_comment(c) for c in comments.values()],
        time.time(),
        state.config.gravity,
    )
    names = await usernames(session, (c.by_id for c in comments.values()))
    return [ThreadEntry(comments[i], depth, names.get(comments[i].by_id, "")) for i, depth in order]


async def new_story_ids(session: AsyncSession, limit: int, before: int | None = None) -> list[int]:
    """The newest live stories, newest first, older than item id `before` when given (a keyset
    page, stable while stories arrive): one index range scan."""
    query = select(Item.id).where(
        Item.type == "story", Item.dead.is_(False), Item.deleted.is_(False)
    )
    if before is not None:
        query = query.where(Item.id < before)
    rows = await session.scalars(query.order_by(Item.id.desc()).limit(limit))
    return list(rows)


def ranked_ids(state: HackerNews, view: str, limit: int, offset: int = 0) -> list[int]:
    """Ids of the "top", "ask" or "show" list from the in-memory ranking. O(limit)."""
    return state.lists.ids(view, limit, offset)


async def stories(session: AsyncSession, ids: Sequence[int]) -> list[tuple[Item, str]]:
    """The live stories of `ids`, in that order, with their authors' usernames."""
    if not ids:
        return []
    rows = await session.scalars(
        select(Item).where(Item.id.in_(ids), Item.dead.is_(False), Item.deleted.is_(False))
    )
    found = {item.id: item for item in rows}
    names = await usernames(session, (item.by_id for item in found.values()))
    return [(found[i], names.get(found[i].by_id, "")) for i in ids if i in found]


async def max_item(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(Item.id))) or 0)


async def user_json(session: AsyncSession, account: Account) -> dict[str, Any]:
    """`/v0/user/<id>.json`: id, created (Unix s), karma, about (when set), submitted (newest
    first, at most MAX_SUBMITTED)."""
    submitted = list(
        await session.scalars(
            select(Item.id)
            .where(Item.by_id == account.user_id)
            .order_by(Item.id.desc())
            .limit(MAX_SUBMITTED)
        )
    )
    out: dict[str, Any] = {
        "id": account.username,
        "created": int(account.created_at.timestamp()),
        "karma": account.karma,
    }
    if account.about:
        out["about"] = account.about
    if submitted:
        out["submitted"] = submitted
    return out


async def items_by(
    session: AsyncSession, user_id: int, type_: str, limit: int, before: int | None
) -> list[Item]:
    """A user's stories or comments, newest first, before item id `before` (keyset page)."""
    query = select(Item).where(Item.by_id == user_id, Item.type == type_, Item.deleted.is_(False))
    if before is not None:
        query = query.where(Item.id < before)
    return list(await session.scalars(query.order_by(Item.id.desc()).limit(limit)))


async def my_votes(
    session: AsyncSession, user_id: int, limit: int, before: int | None
) -> list[tuple[int, int]]:
    """The caller's own votes (item id, direction), newest item first — private to them."""
    query = select(Vote.item_id, Vote.direction).where(Vote.user_id == user_id)
    if before is not None:
        query = query.where(Vote.item_id < before)
    rows = await session.execute(query.order_by(Vote.item_id.desc()).limit(limit))
    return [(item_id, direction) for item_id, direction in rows]


async def votes_on(session: AsyncSession, user_id: int, item_ids: Iterable[int]) -> dict[int, int]:
    """The caller's votes on `item_ids` (to draw the arrows on a page)."""
    ids = list(item_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Vote.item_id, Vote.direction).where(Vote.user_id == user_id, Vote.item_id.in_(ids))
    )
    return {item_id: direction for item_id, direction in rows}
