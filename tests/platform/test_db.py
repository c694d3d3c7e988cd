"""Write sessions: on SQLite they take the write lock at BEGIN and queue within the process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from casebook.platform import db as db_module
from casebook.platform.db import Database, WriteQueueTimeout


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.session() as session:
        await session.execute(text("CREATE TABLE tally (id INTEGER PRIMARY KEY, seen INTEGER)"))
        await session.execute(text("INSERT INTO tally VALUES (1, 0)"))
    yield database
    async with database.session() as session:
        await session.execute(text("DROP TABLE tally"))
    await database.dispose()


async def test_concurrent_read_then_write_sessions_all_commit_and_see_current_rows(
    database: Database,
) -> None:
    if not database.is_sqlite:
        pytest.skip("on PostgreSQL a write session is a plain session; rows are locked by the code")

    async def bump() -> int:
        async with database.session(write=True) as session:
            seen = (await session.execute(text("SELECT seen FROM tally WHERE id = 1"))).scalar_one()
            await asyncio.sleep(0.005)  # another writer would commit here, were it not queued
            await session.execute(text("UPDATE tally SET seen = :n WHERE id = 1"), {"n": seen + 1})
            return int(seen)

    seen = await asyncio.gather(*(bump() for _ in range(12)))
    # Each session read the value the previous one wrote: no lost update, no "locked".
    assert sorted(seen) == list(range(12))
    async with database.session() as session:
        assert (await session.execute(text("SELECT seen FROM tally"))).scalar_one() == 12


async def test_a_write_session_opened_inside_another_fails_fast_instead_of_hanging(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database.is_sqlite:
        pytest.skip("the write queue exists on SQLite only")
    monkeypatch.setattr(db_module, "WRITE_QUEUE_TIMEOUT", 0.2)
    with pytest.raises(WriteQueueTimeout):
        async with database.session(write=True), database.session(write=True):
            pass
    async with database.session(write=True) as session:  # the queue is free again
        await session.execute(text("UPDATE tally SET seen = 5"))


async def test_sqlite_write_statements_run_on_the_loop_thread_but_not_begin_or_commit(
    database: Database,
) -> None:
    """The writer connection runs calls inline (no hop to aiosqlite's thread), except BEGIN,
    which may wait for another process's lock, and COMMIT, which may checkpoint. Observed
    through SQLite's trace callback, which runs on the thread executing each statement; fails
    if an aiosqlite upgrade stops routing calls through `_execute`."""
    if not database.is_sqlite:
        pytest.skip("the writer connection exists on SQLite only")
    loop_thread = threading.get_ident()
    async with database.session(write=True) as session:
        await session.execute(text("UPDATE tally SET seen = 1"))
    writer = database._writer
    assert writer is not None
    raw = await writer.get_raw_connection()
    seen: list[tuple[str, bool]] = []
    sqlite_connection = raw.driver_connection._connection  # type: ignore[union-attr]
    sqlite_connection.set_trace_callback(
        lambda statement: seen.append((statement.split()[0], threading.get_ident() == loop_thread))
    )
    async with database.session(write=True) as session:
        await session.execute(text("UPDATE tally SET seen = seen + 1"))
        assert (await session.execute(text("SELECT seen FROM tally"))).scalar_one() == 2
    sqlite_connection.set_trace_callback(None)
    assert seen == [("BEGIN", False), ("UPDATE", True), ("SELECT", True), ("COMMIT", False)]
    async with database.session() as session:  # committed, and seen by another connection
        assert (await session.execute(text("SELECT seen FROM tally"))).scalar_one() == 2


async def test_a_failed_write_session_leaves_the_writer_connection_usable(
    database: Database,
) -> None:
    if not database.is_sqlite:
        pytest.skip("the writer connection exists on SQLite only")
    with pytest.raises(Exception, match="no such table"):
        async with database.session(write=True) as session:
            await session.execute(text("UPDATE tally SET seen = 7"))
            await session.execute(text("UPDATE missing SET x = 1"))
    async with database.session(write=True) as session:
        assert (await session.execute(text("SELECT seen FROM tally"))).scalar_one() == 0
        await session.execute(text("UPDATE tally SET seen = 3"))
    async with database.session() as session:
        assert (await session.execute(text("SELECT seen FROM tally"))).scalar_one() == 3


async def test_the_writer_connection_never_runs_a_call_inline_while_its_thread_is_busy(
    database: Database,
) -> None:
    """A call whose awaiting task was cancelled goes on running in aiosqlite's thread; a call
    made meanwhile must queue behind it there, not run on the loop's thread at the same time
    (two threads on one sqlite3 connection crashed a process)."""
    if not database.is_sqlite:
        pytest.skip("the writer connection exists on SQLite only")
    async with database.session(write=True) as session:
        await session.execute(text("UPDATE tally SET seen = 1"))
    assert database._writer is not None
    raw = await database._writer.get_raw_connection()
    driver: Any = raw.driver_connection
    release = threading.Event()
    threads: list[str] = []

    def slow(_sql: str) -> None:  # "BEGIN…" goes to the thread, as a real BEGIN does
        release.wait(5)
        threads.append("slow")

    def quick() -> int:
        threads.append("loop" if threading.get_ident() == loop_thread else "worker")
        return 1

    loop_thread = threading.get_ident()
    stuck = asyncio.create_task(driver._execute(slow, "BEGIN (held)"))
    await asyncio.sleep(0.05)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    waiting = asyncio.create_task(driver._execute(quick))
    await asyncio.sleep(0.05)
    assert threads == []  # queued behind the cancelled call, not run beside it
    release.set()
    assert await waiting == 1
    assert threads == ["slow", "worker"]
    assert await driver._execute(quick) == 1  # the thread is idle again: inline
    assert threads[-1] == "loop"
