"""Click recording off the redirect path: in-process counters flushed to the database in batches.

The redirect adds one to a counter keyed by (link, hour, raw Referer, raw country header, raw
User-Agent) (`ClickRecorder.record`: O(1), no parsing, no I/O). A background task flushes the
counters every `click_flush_interval_seconds`, or as soon as `click_flush_keys` distinct counters
are waiting, in ONE transaction per batch:

1. `UPDATE urlshortener_links SET click_count = click_count + ?, last_click_at = max(...)` for
   each link in the batch (the counter changes atomically in SQL, never read-modify-write in
   Python), which also locks those rows against a concurrent delete;
2. the ids of the links that still exist (deleted ones are skipped: their clicks are dropped);
3. one upsert per distinct (link, hour, referrer host, country, agent family) adding the batch's
   count to `urlshortener_click_counts` (`models.ClickCount`), the referrer host, country and
   agent family parsed here, once per distinct raw value, rather than on the hot path.

So a flush costs O(distinct keys in the batch), not O(clicks): under load the same links are
clicked from the same few referrers and browsers again and again, and a second of traffic folds
into far fewer rows than it has clicks. That matters because the flush shares the event loop
with the redirects, so its own CPU time is their latency. Both writes are compiled once per
dialect by SQLAlchemy and sent as the driver's own `executemany` of plain tuples (sqlite3's loop
in C on aiosqlite's thread; asyncpg's pipelined executemany), and the rows are built before the
transaction opens, giving the loop back every `_ROWS_PER_SLICE` keys. Rows and links are written
in key order, so two processes flushing the same links lock them in one order and queue instead
of deadlocking (PostgreSQL).

Loss window: clicks live only in memory until their batch commits. A process killed without its
shutdown hook loses at most the clicks of the last interval (about one second of traffic, plus
those arriving during a flush). The early flush is triggered by distinct counters, not clicks: a
batch of 1,000 clicks on hot links folds into a few hundred rows, and flushing it 50 times a
second at 50,000 redirects/s would make the database write about as many rows as there were
clicks. A clean shutdown flushes everything.
If the database is unreachable the batch goes back to the buffer and is retried on the next tick;
beyond `click_buffer_limit` pending clicks the oldest are dropped and counted in `dropped`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import structlog
from sqlalchemy import bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from casebook.platform.db import Database
from casebook.systems.url_shortener.config import ShortenerSettings
from casebook.systems.url_shortener.models import MAX_HOST_LENGTH, ClickCount, Link

log = structlog.get_logger("casebook.url_shortener.clicks")

ClickKey = tuple[int, int, bytes | None, bytes | None, bytes | None]
"""(link id, hour since the epoch, Referer, trusted country header, User-Agent) as received."""

_BOT_MARKERS = ("bot", "spider", "crawl", "slurp", "preview", "facebookexternalhit", "monitor")
_CLI_PREFIXES = (
    "curl/",
    "wget/",
    "python-",
    "httpie/",
    "go-http-client",
    "okhttp",
    "libwww",
    "java/",
    "axios/",
    "node-fetch",
    "wrk",
)


def agent_family(user_agent: bytes | None) -> str:
    """A coarse user-agent family: bot, cli, edge, opera, firefox, chrome, safari or other.

    Order matters: Edge and Opera also claim Chrome, and Chrome also claims Safari.
    """
    if not user_agent:
        return "other"
    ua = user_agent.decode("latin-1").lower()
    if any(marker in ua for marker in _BOT_MARKERS):
        return "bot"
    if ua.startswith(_CLI_PREFIXES):
        return "cli"
    if "edg/" in ua or "edge/" in ua or "edga/" in ua or "edgios/" in ua:
        return "edge"
    if "opr/" in ua or "opera" in ua:
        return "opera"
    if "firefox/" in ua or "fxios/" in ua:
        return "firefox"
    if "chrome/" in ua or "crios/" in ua or "chromium/" in ua:
        return "chrome"
    if "safari/" in ua:
        return "safari"
    return "other"


def referrer_host(referer: bytes | None) -> str | None:
    """The host of a Referer header (lower case), or None when absent or unparseable."""
    if not referer:
        return None
    try:
        host = urlsplit(referer.decode("latin-1")).hostname
    except ValueError:
        return None
    if not host or len(host) > MAX_HOST_LENGTH:
        return None
    return host.rstrip(".")


def country_code(value: bytes | None) -> str | None:
    """An ISO 3166 alpha-2 code from the trusted edge header, or None if it is not one."""
    if value is None or len(value) != 2 or not value.isalpha():
        return None
    return value.decode("ascii").upper()


_add_clicks = (
    update(Link)
    .where(Link.id == bindparam("b_id"), Link.deleted_at.is_(None))
    .values(
        click_count=Link.click_count + bindparam("b_count"),
        last_click_at=case(
            (
                Link.last_click_at.is_(None)
                | (Link.last_click_at < bindparam("b_last", type_=Link.last_click_at.type)),
                bindparam("b_last", type_=Link.last_click_at.type),
            ),
            else_=Link.last_click_at,
        ),
    )
)
_ROLLUP_COLUMNS = ("link_id", "hour", "referrer_host", "country", "agent", "clicks")
_ROLLUP_KEY = _ROLLUP_COLUMNS[:-1]
_ROWS_PER_SLICE = 256
"""Distinct keys parsed between two yields to the event loop (well under a millisecond)."""

RollupRow = tuple[int, int, str, str, str, int]
"""A `urlshortener_click_counts` row in `_ROLLUP_COLUMNS` order."""


def _add_to_rollup(dialect: Dialect) -> ClauseElement:
    """INSERT … ON CONFLICT (key) DO UPDATE SET clicks = clicks + excluded.clicks."""
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    statement = insert(ClickCount).values({name: bindparam(name) for name in _ROLLUP_COLUMNS})
    return statement.on_conflict_do_update(
        index_elements=list(_ROLLUP_KEY),
        set_={"clicks": ClickCount.clicks + statement.excluded.clicks},
    )


class _DriverStatements(NamedTuple):
    """The flush's writes compiled for one dialect, to run as driver-level executemany."""

    add_clicks: str
    add_clicks_params: Callable[[dict[str, Any]], tuple[Any, ...]]
    """Picks a link's `b_id`/`b_count`/`b_last` in the statement's positional order."""
    add_to_rollup: str
    timestamp: Callable[[datetime], Any]
    """An aware UTC datetime as the driver stores it (SQLite: text; asyncpg: the datetime)."""

    @classmethod
    def compile(cls, dialect: Dialect) -> _DriverStatements:
        add_sql, add_order = _positional(_add_clicks, dialect)
        rollup_sql, rollup_order = _positional(_add_to_rollup(dialect), dialect)
        if rollup_order != _ROLLUP_COLUMNS:
            raise RuntimeError(f"unexpected parameter order {rollup_order} for the click upsert")
        processor = Link.__table__.c.last_click_at.type.dialect_impl(dialect).bind_processor(
            dialect
        )
        timestamp: Callable[[datetime], Any] = processor or _unchanged
        pick = itemgetter(*add_order)
        return cls(
            add_clicks=add_sql,
            add_clicks_params=lambda params: tuple(pick(params)),
            add_to_rollup=rollup_sql,
            timestamp=timestamp,
        )


def _positional(statement: ClauseElement, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    compiled = statement.compile(dialect=dialect)
    order = compiled.positiontup if isinstance(compiled, SQLCompiler) else None
    if order is None:
        raise RuntimeError(f"dialect {dialect.name} does not use positional parameters")
    return compiled.string, tuple(order)


def _unchanged(value: datetime) -> Any:
    return value


class ClickRecorder:
    """The click counters of one process and the task that flushes them."""

    def __init__(self, database: Database, config: ShortenerSettings) -> None:
        self.database = database
        self.config = config
        self.counts: dict[ClickKey, int] = {}
        """Buffered clicks per key, in the order their keys were first seen."""
        self.last_click: dict[int, float] = {}
        """The latest buffered click per link (epoch seconds)."""
        self.pending = 0
        """Clicks buffered (the sum of `counts`)."""
        self.dropped = 0
        """Clicks dropped because the buffer overflowed while the database was unreachable."""
        self.flushed = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._statements: _DriverStatements | None = None

    def record(
        self,
        link_id: int,
        at: float,
        referer: bytes | None,
        country: bytes | None,
        agent: bytes | None,
    ) -> None:
        """Count one click at epoch second `at` with its raw headers. O(1): a tuple, a dict
        increment and a dict store (a length check when the key is new)."""
        key = (link_id, int(at // 3600), referer, country, agent)
        counts = self.counts
        count = counts.get(key)
        if count is None:
            counts[key] = 1
            if len(counts) >= self.config.click_flush_keys:
                self._wake.set()
        else:
            counts[key] = count + 1
        self.last_click[link_id] = at
        self.pending += 1

    async def flush(self) -> int:
        """Write every buffered click; returns how many were written.

        Raises whatever the database raises, after putting the batch back in the buffer.
        """
        async with self._lock:
            if not self.pending:
                return 0
            counts, last_click, pending = self.counts, self.last_click, self.pending
            self.counts, self.last_click, self.pending = {}, {}, 0
            try:
                written = await self._write(counts, last_click)
            except BaseException:
                self._restore(counts, last_click, pending)
                raise
            self.flushed += written
            return written

    def _restore(self, counts: dict[ClickKey, int], last_click: dict[int, float], n: int) -> None:
        """Put a failed batch back in front of what arrived meanwhile, then drop the oldest
        clicks beyond `click_buffer_limit`. O(keys)."""
        merged = dict(counts)
        for key, count in self.counts.items():
            merged[key] = merged.get(key, 0) + count
        for link_id, at in self.last_click.items():
            if at > last_click.get(link_id, 0.0):
                last_click[link_id] = at
        total = n + self.pending
        excess = total - self.config.click_buffer_limit
        if excess > 0:
            for key in list(merged):  # oldest keys first
                count = merged[key]
                taken = min(count, excess)
                if taken == count:
                    del merged[key]
                else:
                    merged[key] = count - taken
                excess -= taken
                total -= taken
                self.dropped += taken
                if excess == 0:
                    break
        self.counts, self.last_click, self.pending = merged, last_click, total

    async def _write(self, counts: dict[ClickKey, int], last_click: dict[int, float]) -> int:
        sql = self._statements
        if sql is None:
            sql = self._statements = _DriverStatements.compile(self.database.engine.dialect)
        per_link: dict[int, int] = {}
        for key, count in counts.items():
            link_id = key[0]
            per_link[link_id] = per_link.get(link_id, 0) + count
        # In id order: workers flushing at the same time then lock shared rows in one order and
        # queue behind each other instead of deadlocking (PostgreSQL row locks).
        updates = [
            sql.add_clicks_params(
                {
                    "b_id": link_id,
                    "b_count": count,
                    "b_last": sql.timestamp(_utc(last_click[link_id])),
                }
            )
            for link_id, count in sorted(per_link.items())
        ]
        rows = await _rollup_rows(counts)
        async with self.database.session() as session:
            conn = await session.connection()
            await conn.exec_driver_sql(sql.add_clicks, updates)
            live = set(
                await conn.scalars(
                    select(Link.id).where(Link.id.in_(per_link), Link.deleted_at.is_(None))
                )
            )
            rows = [row for row in rows if row[0] in live]
            if rows:
                await conn.exec_driver_sql(sql.add_to_rollup, rows)
        return sum(row[5] for row in rows)

    def start(self) -> None:
        """Start the background flusher on the running event loop."""
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="url-shortener-clicks"
        )

    async def stop(self) -> None:
        """Stop the flusher and write whatever is still buffered."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=self.config.click_flush_interval_seconds
                )
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.flush()
            except Exception:
                log.exception("click flush failed; will retry", pending=self.pending)


async def _rollup_rows(counts: dict[ClickKey, int]) -> list[RollupRow]:
    """The rollup rows of a batch, in key order: each raw key parsed (each distinct header
    value once) and keys that parse alike merged. O(keys log keys); yields to the event loop
    every `_ROWS_PER_SLICE` keys so that redirects keep flowing meanwhile."""
    hosts: dict[bytes | None, str] = {}
    families: dict[bytes | None, str] = {}
    merged: dict[tuple[int, int, str, str, str], int] = {}
    for index, ((link_id, hour, referer, country, agent), count) in enumerate(counts.items()):
        if index and not index % _ROWS_PER_SLICE:
            await asyncio.sleep(0)
        host = hosts.get(referer)
        if host is None:
            host = hosts[referer] = referrer_host(referer) or ""
        family = families.get(agent)
        if family is None:
            family = families[agent] = agent_family(agent)
        key = (link_id, hour, host, country_code(country) or "", family)
        merged[key] = merged.get(key, 0) + count
    return [(*key, count) for key, count in sorted(merged.items())]


def _utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)
