"""Write sessions: on SQLite they take the write lock at BEGIN and queue within the process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

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
