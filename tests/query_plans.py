"""Checking the SQLite query plans of what a test ran (tests/engines/*/test_query_plans.py).

Without statistics SQLite takes any `system = ?` on an indexed column for a selective search: a
query naming both a system and a list of keys can walk every row of the system instead of looking
the keys up. The test databases carry the statistics `casebook.platform.sqlite_plans` writes, as
migrated ones do, so these checks see the plans `casebook serve` gets. `recorded` collects the
statements a block runs; `bad_plans` EXPLAINs each and names the steps that search by the system
alone or scan a whole table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from casebook.platform.context import Platform

_SYSTEM_ONLY = re.compile(r"USING (?:COVERING )?INDEX \S+ \(system=\?\)")


@contextmanager
def recorded(platform: Platform) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the database runs inside the block."""
    statements: list[tuple[str, Any]] = []
    engine = platform.db.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def bad_plans(
    platform: Platform, statements: list[tuple[str, Any]], table_prefix: str
) -> list[str]:
    """The plan steps of the statements on `table_prefix` tables that search by the system
    alone or scan one of those tables whole (SQLite only)."""
    full_scan = re.compile(rf"^SCAN ({re.escape(table_prefix)}\w+)(?! VIRTUAL)")
    found: list[str] = []
    seen: set[str] = set()
    async with platform.db.session() as session:
        connection = await session.connection()
        for statement, parameters in statements:
            if statement in seen or table_prefix not in statement:
                continue
            seen.add(statement)
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                continue
            if isinstance(parameters, list):  # executemany: one row's parameters suffice
                parameters = parameters[0]
            rows = await connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", tuple(parameters)
            )
            for row in rows:
                detail = str(row[3])
                if _SYSTEM_ONLY.search(detail) or full_scan.search(detail):
                    found.append(f"{detail}  <-  {' '.join(statement.split())[:200]}")
    return found
