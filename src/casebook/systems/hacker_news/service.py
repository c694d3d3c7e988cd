"""Hacker News use cases: submit, comment, vote, flag. Plain async functions over the system's
state; no HTTP objects.

Each write runs in its own write session and, after it commits, re-ranks the story in this
process's lists (`HackerNews.story_changed`) and publishes the change for live item pages
(`live.publish`). Counters users race on are changed by single atomic statements:

- a vote is one INSERT … ON CONFLICT DO NOTHING (or the UPDATE flipping its direction, or the
  DELETE of an unvote) on the (user, item) key, and only the statement that changed the vote row
  moves `score` and the author's `karma` (`UPDATE … SET score = score + :delta`);
- a comment bumps its story's `descendants` with `UPDATE … SET descendants = descendants + 1`;
- a flag is one INSERT on the (user, item) key and `flags = flags + 1`, killing the item in the
  same statement once the count reaches `kill_flags`.

Every write is O(log n) in the database plus O(log W) in the ranked lists.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.ratelimit import RateLimit, enforce_all
from casebook.systems.hacker_news import live
from casebook.systems.hacker_news.accounts import account_of
from casebook.systems.hacker_news.config import HackerNewsSettings
from casebook.systems.hacker_news.errors import (
    DuplicateUrl,
    InvalidSubmission,
    ItemDead,
    ItemNotFound,
    NotEnoughKarma,
    OwnItem,
    ThreadTooDeep,
)
from casebook.systems.hacker_news.models import Account, Flag, Item, UrlClaim, Vote
from casebook.systems.hacker_news.runtime import HackerNews, ranked_story
from casebook.systems.hacker_news.urls import check_url, on_domain, url_hash

MAX_TITLE = 80
MAX_TEXT = 10_000
VoteHow = Literal["up", "down", "un"]
_DIRECTION = {"up": 1, "down": -1, "un": 0}


def _insert(session: AsyncSession, table: type[Any]) -> Any:
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def clean_text(value: str, what: str, limit: int, *, required: bool) -> str:
    """`value` NFC-normalized and stripped; raises InvalidSubmission when it is empty (and
    `required`), longer than `limit` or holds control characters other than newline and tab."""
    text = unicodedata.normalize("NFC", value).strip()
    if required and not text:
        raise InvalidSubmission(f"The {what} must not be empty.")
    if len(text) > limit:
        raise InvalidSubmission(f"The {what} is at most {limit} characters.")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise InvalidSubmission(f"The {what} must not contain control characters.")
    return text


def story_kind(title: str, url: str | None) -> str:
    """ "ask" or "show" for titles starting "Ask HN"/"Show HN" (as on HN), else "link" or "text"."""
    lowered = title.lower()
    if lowered.startswith("ask hn"):
        return "ask"
    if lowered.startswith("show hn"):
        return "show"
    return "link" if url else "text"


def story_penalty(config: HackerNewsSettings, kind: str, domain: str | None) -> float:
    """The rank factor a story's kind and domain give it (flags come on top)."""
    penalty = 1.0
    if kind == "text":
        penalty *= config.no_url_penalty
    if domain and on_domain(domain, config.penalized_domains):
        penalty *= config.domain_penalty
    return penalty


def _is_new(state: HackerNews, account: Account) -> bool:
    return utcnow() - account.created_at < timedelta(days=state.config.new_account_days)


async def _limit(state: HackerNews, account: Account, action: str) -> None:
    """Count one `action` ("story", "comment", "vote", "flag") against the user's limits; new
    accounts also against the stricter ones. Raises TooManyRequests (429 + Retry-After)."""
    config = state.config
    key = f"hacker-news:{action}:{account.user_id}"
    per_hour = {
        "story": config.stories_per_hour,
        "comment": config.comments_per_hour,
        "vote": config.votes_per_minute * 60,
        "flag": config.flags_per_hour,
    }[action]
    burst = config.votes_per_minute if action == "vote" else per_hour
    hits = [(key, RateLimit(per_hour / 3600, burst))]
    new_limit = {"story": config.new_stories_per_hour, "comment": config.new_comments_per_hour}
    if action in new_limit and _is_new(state, account):
        hits.append((f"{key}:new", RateLimit(new_limit[action] / 3600, new_limit[action])))
    await enforce_all(state.platform, hits)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


async def submit_story(
    state: HackerNews, user_id: int, title: str, url: str | None, text: str | None
) -> Item:
    """Submit a link (with `url`), an Ask HN/Show HN (by title) or a text story.

    Raises NoAccount (403), InvalidSubmission/InvalidUrl (422), TooManyRequests (429) and
    DuplicateUrl (409, with `existing_id`) when the normalized URL was submitted within
    `dupe_window_days`; two concurrent submissions of one URL race on the claim's primary key,
    so exactly one succeeds.
    """
    config = state.config
    title = clean_text(title, "title", MAX_TITLE, required=True)
    body = clean_text(text or "", "text", MAX_TEXT, required=False) or None
    link, domain = check_url(url) if url and url.strip() else (None, None)
    kind = story_kind(title, link)
    if kind == "text" and body is None:
        raise InvalidSubmission("Submit a URL, or some text to go with the title.")
    penalty = story_penalty(config, kind, domain)
    async with state.platform.db.session(write=True) as session:
        account = await account_of(session, user_id)
        await _limit(state, account, "story")
        now = utcnow()
        item = Item(
            type="story",
            kind=kind,
            by_id=user_id,
            title=title,
            url=link,
            domain=domain,
            text=body,
            penalty=penalty,
            created_at=now,
        )
        session.add(item)
        await session.flush()
        if link is not None:
            await _claim_url(session, link, item.id, now - timedelta(days=config.dupe_window_days))
        username = account.username
    await state.story_changed(ranked_story(item), alive=True)
    await live.publish_story(state.platform, item_view(item, username, []))
    return item


async def _claim_url(session: AsyncSession, link: str, item_id: int, cutoff: Any) -> None:
    digest = url_hash(link)
    ins = _insert(session, UrlClaim).values(url_hash=digest, item_id=item_id, claimed_at=utcnow())
    claimed = await session.scalar(
        ins.on_conflict_do_update(
            index_elements=[UrlClaim.url_hash],
            set_={"item_id": ins.excluded.item_id, "claimed_at": ins.excluded.claimed_at},
            where=UrlClaim.claimed_at < cutoff,
        ).returning(UrlClaim.item_id)
    )
    if claimed is None:
        existing = await session.scalar(select(UrlClaim.item_id).where(UrlClaim.url_hash == digest))
        raise DuplicateUrl(
            f"That link was submitted already, as item {existing}.", existing_id=existing
        )


async def add_comment(state: HackerNews, user_id: int, parent_id: int, text: str) -> Item:
    """Reply to a story or a comment.

    Raises NoAccount (403), InvalidSubmission (422), ItemNotFound (404: no such item or deleted),
    ItemDead (409), ThreadTooDeep (422) and TooManyRequests (429). The story's `descendants`
    grows by one atomic UPDATE.
    """
    body = clean_text(text, "comment", MAX_TEXT, required=True)
    async with state.platform.db.session(write=True) as session:
        account = await account_of(session, user_id)
        parent = await session.get(Item, parent_id)
        if parent is None or parent.deleted:
            raise ItemNotFound(f"There is no item {parent_id}.")
        if parent.dead:
            raise ItemDead("Dead items take no replies.")
        is_reply = parent.type == "comment"
        depth = parent.depth + 1 if is_reply else 0
        if depth >= state.config.max_comment_depth:
            raise ThreadTooDeep(f"Threads are at most {state.config.max_comment_depth} deep.")
        await _limit(state, account, "comment")
        story_id = parent.story_id if is_reply and parent.story_id else parent.id
        item = Item(
            type="comment",
            by_id=user_id,
            parent_id=parent.id,
            story_id=story_id,
            depth=depth,
            text=body,
            created_at=utcnow(),
        )
        session.add(item)
        await session.flush()
        item.path = (f"{parent.path}/" if is_reply else "") + _base36(item.id)
        await session.execute(
            update(Item)
            .where(Item.id == story_id)
            .values(descendants=Item.descendants + 1)
            .execution_options(synchronize_session=False)
        )
        username = account.username
    await live.publish_item(
        state.platform,
        story_id,
        {"type": "comment", "item": item_view(item, username, []), "depth": depth},
    )
    return item


@dataclass(frozen=True)
class VoteResult:
    id: int
    score: int
    vote: Literal["up", "down"] | None


async def vote(state: HackerNews, user_id: int, item_id: int, how: VoteHow) -> VoteResult:
    """Vote `how` ("up", "down" or "un") on an item; repeating a vote changes nothing, "un"
    takes it back and "down" after "up" turns it around (the score moves by 2).

    The author's karma moves with the score (never for the voter's own items: those are refused).
    Raises NoAccount/OwnItem/NotEnoughKarma (403: downvoting needs `downvote_karma`),
    ItemNotFound (404), ItemDead (409), TooManyRequests (429).
    """
    direction = _DIRECTION[how]
    async with state.platform.db.session(write=True) as session:
        account = await account_of(session, user_id)
        item = await _votable(session, item_id, user_id)
        if direction < 0 and account.karma < state.config.downvote_karma:
            raise NotEnoughKarma(
                f"Downvoting needs {state.config.downvote_karma} karma; you have {account.karma}."
            )
        await _limit(state, account, "vote")
        delta = await _record_vote(session, user_id, item_id, direction)
        score: int | None = item.score
        if delta:
            score = await session.scalar(
                update(Item)
                .where(Item.id == item_id)
                .values(score=Item.score + delta)
                .returning(Item.score)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(Account)
                .where(Account.user_id == item.by_id)
                .values(karma=Account.karma + delta)
                .execution_options(synchronize_session=False)
            )
        mine = await session.scalar(
            select(Vote.direction).where(Vote.user_id == user_id, Vote.item_id == item_id)
        )
        story = ranked_story(item) if item.type == "story" else None
        story_id = item.story_id if item.type == "comment" else item.id
    assert score is not None
    if delta:
        if story is not None:
            await state.story_changed(replace(story, score=score), alive=True)
        await live.publish_item(
            state.platform, story_id or item_id, {"type": "score", "id": item_id, "score": score}
        )
    return VoteResult(item_id, score, None if mine is None else ("up" if mine > 0 else "down"))


async def _votable(session: AsyncSession, item_id: int, user_id: int) -> Item:
    item = await session.get(Item, item_id)
    if item is None or item.deleted:
        raise ItemNotFound(f"There is no item {item_id}.")
    if item.dead:
        raise ItemDead("Dead items cannot be voted on or flagged.")
    if item.by_id == user_id:
        raise OwnItem()
    return item


async def _record_vote(session: AsyncSession, user_id: int, item_id: int, direction: int) -> int:
    """Make the user's vote on the item `direction` (0 = none); the score change it causes."""
    where = (Vote.user_id == user_id, Vote.item_id == item_id)
    if direction == 0:
        old = await session.scalar(delete(Vote).where(*where).returning(Vote.direction))
        return -old if old else 0
    inserted = await session.scalar(
        _insert(session, Vote)
        .values(user_id=user_id, item_id=item_id, direction=direction, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[Vote.user_id, Vote.item_id])
        .returning(Vote.direction)
    )
    if inserted is not None:
        return direction
    flipped = await session.scalar(
        update(Vote)
        .where(*where, Vote.direction == -direction)
        .values(direction=direction, created_at=utcnow())
        .returning(Vote.direction)
    )
    return 2 * direction if flipped is not None else 0


@dataclass(frozen=True)
class FlagResult:
    id: int
    flagged: bool
    """Whether the caller's flag is on the item now."""
    dead: bool


async def flag(state: HackerNews, user_id: int, item_id: int, on: bool) -> FlagResult:
    """Flag (or unflag) an item. The `kill_flags`-th flag kills it in the same statement that
    counts it; a killed item stays dead when flags are withdrawn (reviving is a moderator's call).

    Raises NoAccount/OwnItem/NotEnoughKarma (403: flagging needs `flag_karma`), ItemNotFound
    (404), ItemDead (409, flagging a dead item), TooManyRequests (429).
    """
    kill = state.config.kill_flags
    async with state.platform.db.session(write=True) as session:
        account = await account_of(session, user_id)
        item = await session.get(Item, item_id)
        if item is None or item.deleted:
            raise ItemNotFound(f"There is no item {item_id}.")
        if item.by_id == user_id:
            raise OwnItem()
        if on and item.dead:
            raise ItemDead("The item is dead already.")
        if account.karma < state.config.flag_karma:
            raise NotEnoughKarma(
                f"Flagging needs {state.config.flag_karma} karma; you have {account.karma}."
            )
        await _limit(state, account, "flag")
        where = (Flag.user_id == user_id, Flag.item_id == item_id)
        row = None
        if on:
            changed = await session.scalar(
                _insert(session, Flag)
                .values(user_id=user_id, item_id=item_id, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=[Flag.user_id, Flag.item_id])
                .returning(Flag.item_id)
            )
            if changed is not None:
                row = (
                    await session.execute(
                        update(Item)
                        .where(Item.id == item_id)
                        .values(
                            flags=Item.flags + 1,
                            dead=case((Item.flags + 1 >= kill, True), else_=Item.dead),
                        )
                        .returning(Item.flags, Item.dead)
                        .execution_options(synchronize_session=False)
                    )
                ).one()
        else:
            changed = await session.scalar(delete(Flag).where(*where).returning(Flag.item_id))
            if changed is not None:
                row = (
                    await session.execute(
                        update(Item)
                        .where(Item.id == item_id)
                        .values(flags=Item.flags - 1)
                        .returning(Item.flags, Item.dead)
                        .execution_options(synchronize_session=False)
                    )
                ).one()
        flags, dead = (item.flags, item.dead) if row is None else (row[0], row[1])
        story = ranked_story(item) if item.type == "story" else None
        story_id = item.story_id if item.type == "comment" else item.id
        killed = row is not None and dead and not item.dead
    if row is not None and story is not None:
        await state.story_changed(replace(story, flags=flags), alive=not dead)
    if killed:
        await live.publish_item(
            state.platform, story_id or item_id, {"type": "dead", "id": item_id}
        )
    return FlagResult(item_id, on, dead)


def item_view(item: Item, username: str, kids: list[int]) -> dict[str, Any]:
    """The item as the official HN API renders it: fields that do not apply are absent,
    `deleted`/`dead` appear only when true, `time` is Unix seconds, `kids` in ranked order."""
    out: dict[str, Any] = {
        "id": item.id,
        "type": item.type,
        "time": int(item.created_at.timestamp()),
    }
    if item.deleted:
        out["deleted"] = True
    else:
        out["by"] = username
    if item.dead:
        out["dead"] = True
    if kids:
        out["kids"] = kids
    if item.type == "comment":
        out["parent"] = item.parent_id
        if not item.deleted:
            out["text"] = item.text or ""
        return out
    out["descendants"] = item.descendants
    out["score"] = item.score
    if not item.deleted:
        out["title"] = item.title or ""
        if item.url:
            out["url"] = item.url
        if item.text:
            out["text"] = item.text
    return out
