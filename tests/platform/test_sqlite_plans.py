"""SQLite planner statistics derived from the schema (casebook.platform.sqlite_plans): a search by
the system alone no longer looks selective, so SQLite looks keys up instead."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from casebook.migrations import upgrade
from casebook.platform.db import Database
from casebook.platform.sqlite_plans import index_statistics


def test_a_partition_column_keeps_half_the_rows_and_keys_narrow_as_sqlite_assumes() -> None:
    assert index_statistics(["system", "blocker_id", "blocked_id"], True) == "1000000 500000 10 1"
    assert index_statistics(["system", "blocked_id"], False) == "1000000 500000 10"
    assert index_statistics(["id"], True) == "1000000 1"
    # No partition column: SQLite's own assumptions without statistics (10, 9, 8 … rows).
    assert index_statistics(["deleted", "expires_at"], False) == "1000000 10 9"
    assert index_statistics(list("abcdefg"), False) == "1000000 10 9 8 7 6 5 5"


async def _plan(database: Database, sql: str, **params: object) -> str:
    async with database.engine.connect() as connection:
        rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params)
        return " | ".join(str(row[3]) for row in rows)


async def test_migrating_writes_them_and_keys_are_looked_up(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/plans.db")
    try:
        # Before: SQLite takes `system = ?` on the covering primary key for a selective search.
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE TABLE feed_blocks (system TEXT, blocker_id INT, blocked_id INT,"
                    " PRIMARY KEY (system, blocker_id, blocked_id))"
                )
            )
            await connection.execute(
                text("CREATE INDEX ix_feed_blocks_blocked ON feed_blocks (system, blocked_id)")
            )
        who_blocked = "SELECT blocker_id FROM feed_blocks WHERE system = :s AND blocked_id = :b"
        assert "(system=?)" in await _plan(database, who_blocked, s="x", b=1)
        async with database.engine.begin() as connection:
            await connection.execute(text("DROP TABLE feed_blocks"))
        await upgrade(database)
        async with database.engine.connect() as connection:
            rows = await connection.execute(text("SELECT idx, stat FROM sqlite_stat1"))
            stats = {str(idx): str(stat) for idx, stat in rows}
        assert stats["ix_feed_blocks_blocked"] == "1000000 500000 10"
        # A connection opened after the upgrade reads them: the (system, blocked_id) index.
        await database.engine.dispose()
        plan = await _plan(database, who_blocked, s="x", b=1)
        assert "ix_feed_blocks_blocked (system=? AND blocked_id=?)" in plan
    finally:
        await database.dispose()
