"""Group commit for new links: many requests' INSERTs share one transaction.

Creating a link used to cost each request its own session: a SELECT for the loop rule, the
INSERT, a COMMIT and a pool check-in. On PostgreSQL every COMMIT is an fsync; on SQLite every
call is a thread hop and concurrent writers queue on the database's single write lock (with
sleeping busy-waits). `LinkWriter` turns N concurrent creates into one unit of work:

1. a request calls `insert(row, target_host)`; the row joins an in-memory queue and the request
   awaits a future;
2. one background task per process takes everything queued (up to `max_batch` rows) and, in ONE
   transaction, runs ONE `SELECT host … WHERE host IN (…) AND verified_at IS NOT NULL` (the loop
   rule for the whole batch) and ONE multi-row `INSERT … ON CONFLICT (domain_id, code) DO NOTHING
   RETURNING id`, then COMMITs;
3. only after the COMMIT has returned is each request's future resolved: the inserted `Link`, None
   when its (domain, code) was taken (by an older row or by an earlier row of the same batch), or
   `RejectedUrl` when its target is a verified short domain. A 201 therefore still means durable.

No timer: while one batch commits, the next one accumulates, so the batch size follows the load
(one row when idle — no added latency — and tens under load). Cost per batch: 2 statements and 1
commit, whatever its size; per row O(1) Python work.

Failure isolation: if the batch statement fails (a row violating a foreign key, the database
going away), the transaction is rolled back and every row is retried alone in its own
transaction, so a bad row fails only its own request. Shutdown (`stop`) refuses new rows and
drains the queue before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite

from casebook.platform.db import Database
from casebook.platform.errors import Problem
from casebook.systems.url_shortener.models import Domain, Link
from casebook.systems.url_shortener.safety import RejectedUrl

log = structlog.get_logger("casebook.url_shortener.writer")

MAX_BATCH = 256
"""Rows per transaction; bounds the statement size (14 parameters a row) and a batch's latency."""
_LINKS = cast(Table, Link.__table__)
"""The table itself: a Core INSERT skips the ORM's per-row bulk bookkeeping."""


class WriterClosed(Problem):
    """The process is shutting down and takes no new links; the client may retry elsewhere."""

    status = 503
    type_ = "url-shortener/shutting-down"
    title = "This server is shutting down"


Outcome = Link | None | BaseException


@dataclass
class _Pending:
    values: dict[str, Any]
    target_host: str
    future: asyncio.Future[Link | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class LinkWriter:
    """The per-process group-commit writer of new link rows (see the module docstring)."""

    def __init__(self, database: Database, max_batch: int = MAX_BATCH) -> None:
        self.database = database
        self.max_batch = max_batch
        self.batches = 0
        """Transactions committed so far (diagnostics and tests)."""
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        """Start the background task (the system's startup hook calls this)."""
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="url-shortener-links")

    async def stop(self) -> None:
        """Refuse new rows, commit every queued one, and end the background task."""
        self._closed = True
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def insert(self, values: Mapping[str, Any], target_host: str) -> Link | None:
        """Insert one link row (every column of `Link`, `id` and `code` included) and wait for
        its COMMIT.

        Returns the committed `Link` (a transient instance holding the stored values), or None
        when (domain_id, code) is taken. Raises RejectedUrl (reason "loop") when `target_host` is
        a verified short domain, WriterClosed (503) during shutdown, and the database error of a
        row that cannot be inserted. O(1) here; the caller then waits for the batch in progress
        and its own (more only when over `max_batch` rows are queued ahead of it).
        """
        if self._closed or self._task is None:
            raise WriterClosed("This server is shutting down; retry the request.")
        pending = _Pending(dict(values), target_host)
        self._queue.put_nowait(pending)
        return await pending.future

    async def _run(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                first = await self._queue.get()
                if first is None:
                    return
                batch = [first]
                stopping = False
                while len(batch) < self.max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                await self._commit(batch)
                if stopping:
                    # Everything queued before the sentinel is in `batch`; nothing follows it.
                    return
        finally:
            # Only reached early if the task itself is cancelled: no waiter may hang forever.
            self._closed = True
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    batch.append(item)
            for item in batch:
                if not item.future.done():
                    _settle(item, WriterClosed("This server is shutting down; retry the request."))

    async def _commit(self, batch: Sequence[_Pending]) -> None:
        try:
            outcomes = await self._write(batch)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0], error)
                return
            log.warning("link batch failed; retrying its rows one by one", rows=len(batch))
            for item in batch:
                await self._commit([item])
            return
        self.batches += 1
        for item, outcome in zip(batch, outcomes, strict=True):
            _settle(item, outcome)

    async def _write(self, batch: Sequence[_Pending]) -> list[Outcome]:
        """One transaction for `batch`; returns each row's outcome once it has COMMITTED."""
        hosts = {item.target_host for item in batch}
        async with self.database.session() as session:
            looping = set(
                await session.scalars(
                    select(Domain.host).where(
                        Domain.host.in_(hosts), Domain.verified_at.is_not(None)
                    )
                )
            )
            rows = [item.values for item in batch if item.target_host not in looping]
            inserted: set[int] = set()
            if rows:
                # One statement for any batch size: compiled once and cached, then sent as
                # multi-row VALUES by SQLAlchemy's insertmanyvalues. (`.values(rows)` would be a
                # new statement, compiled again, for every batch: ~150 µs a link.)
                insert = sqlite.insert if self.database.is_sqlite else postgresql.insert
                statement = (
                    insert(_LINKS)
                    .on_conflict_do_nothing(index_elements=["domain_id", "code"])
                    .returning(_LINKS.c.id)
                )
                inserted = set((await session.execute(statement, rows)).scalars())
        # The session block has committed: only now may any request learn its outcome.
        return [_outcome(item, looping, inserted) for item in batch]


def _outcome(item: _Pending, looping: set[str], inserted: set[int]) -> Outcome:
    if item.target_host in looping:
        return RejectedUrl(
            f"{item.target_host} is a short domain of this service; a link to it would loop.",
            "loop",
        )
    if item.values["id"] not in inserted:
        return None
    return Link(**item.values)


def _settle(item: _Pending, outcome: Outcome) -> None:
    # A request cancelled while waiting (client gone) has a cancelled future; its row may still
    # have committed, exactly as if the client had vanished just after a commit.
    with contextlib.suppress(asyncio.InvalidStateError):
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
