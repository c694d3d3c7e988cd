"""The Hacker News state of one process, at `platform.state["hacker-news"]`: its settings and its
ranked lists, kept current three ways — directly by this process's writes, by the ranking messages
other processes publish on the bus (`hacker-news:rank`), and by a rebuild from the database every
`rerank_interval_seconds` (which also ages the ranks and heals any message this process missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy import select

from casebook.platform.bus import SubscriberTooSlow
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.hacker_news.config import HackerNewsSettings
from casebook.systems.hacker_news.models import Item
from casebook.systems.hacker_news.ranking import RankedLists, RankedStory

STATE_KEY = "hacker-news"
RANK_CHANNEL = "hacker-news:rank"
log = structlog.get_logger("casebook.hacker_news")


def ranked_story(item: Item) -> RankedStory:
    return RankedStory(
        id=item.id,
        score=item.score,
        created=item.created_at.timestamp(),
        kind=item.kind or "link",
        penalty=item.penalty,
        flags=item.flags,
    )


class HackerNews:
    """Everything Hacker News keeps in one process."""

    def __init__(self, platform: Platform, config: HackerNewsSettings | None = None) -> None:
        self.platform = platform
        self.config = config or HackerNewsSettings()
        self.lists = self._new_lists()
        self.origin = secrets.token_hex(8)
        """Tags this process's ranking messages, so it does not apply its own twice."""
        self._tasks: list[asyncio.Task[None]] = []

    def _new_lists(self) -> RankedLists:
        return RankedLists(
            self.config.gravity, self.config.flag_penalty, self.config.rank_window_hours * 3600
        )

    def configure(self, config: HackerNewsSettings) -> None:
        """Apply new settings (tests); the lists are re-ranked at the next `rebuild`."""
        self.config = config
        self.lists.gravity = config.gravity
        self.lists.flag_penalty = config.flag_penalty
        self.lists.window_seconds = config.rank_window_hours * 3600

    async def rebuild(self, now: float | None = None) -> None:
        """Re-rank every live story of the window from the database. O(W log W)."""
        now = time.time() if now is None else now
        cutoff = utcnow() - timedelta(hours=self.config.rank_window_hours)
        async with self.platform.db.session() as session:
            rows = await session.scalars(
                select(Item).where(
                    Item.type == "story",
                    Item.dead.is_(False),
                    Item.deleted.is_(False),
                    Item.created_at >= cutoff,
                )
            )
            stories = [ranked_story(item) for item in rows]
        self.lists.rebuild(stories, now)

    async def story_changed(self, story: RankedStory, *, alive: bool) -> None:
        """A story's score, flags or liveness changed (after commit): re-rank it here and tell
        the other processes. O(log W)."""
        if alive:
            self.lists.upsert(story, time.time())
        else:
            self.lists.remove(story.id)
        message: dict[str, Any] = {"origin": self.origin, "id": story.id, "alive": alive}
        if alive:
            message.update(
                score=story.score,
                created=story.created,
                kind=story.kind,
                penalty=story.penalty,
                flags=story.flags,
            )
        await self.platform.bus.publish(RANK_CHANNEL, orjson.dumps(message))

    def apply(self, message: dict[str, Any]) -> None:
        """Apply another process's ranking message."""
        if message.get("origin") == self.origin:
            return
        if not message["alive"]:
            self.lists.remove(int(message["id"]))
            return
        story = RankedStory(
            id=int(message["id"]),
            score=int(message["score"]),
            created=float(message["created"]),
            kind=str(message["kind"]),
            penalty=float(message["penalty"]),
            flags=int(message["flags"]),
        )
        self.lists.upsert(story, time.time())

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self.platform.bus.subscribe(RANK_CHANNEL) as messages:
                    ready.set()
                    async for raw in messages:
                        self.apply(orjson.loads(raw))
            except SubscriberTooSlow:
                await self.rebuild()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hacker-news ranking subscription failed; resubscribing")
                await asyncio.sleep(1.0)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.config.rerank_interval_seconds)
            try:
                await self.rebuild()
            except Exception:
                log.exception("hacker-news re-ranking failed")

    async def start(self) -> None:
        await self.rebuild()
        ready = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(ready), name="hacker-news-rank-listener"),
            loop.create_task(self._refresh(), name="hacker-news-rerank"),
        ]
        async with asyncio.timeout(10):
            await ready.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


def hacker_news(platform: Platform) -> HackerNews:
    """The Hacker News state of `platform` (created by `start`)."""
    state: HackerNews = platform.state[STATE_KEY]
    return state


async def start(platform: Platform) -> None:
    """Startup hook: rank the window's stories and follow other processes' ranking messages."""
    state = HackerNews(platform)
    platform.state[STATE_KEY] = state
    await state.start()


async def stop(platform: Platform) -> None:
    state = platform.state.pop(STATE_KEY, None)
    if state is not None:
        await state.stop()
