"""`where_keys`: rows matching any of many composite keys, answered from the index on both
backends (a row-value IN list makes SQLite scan the whole table)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, UniqueConstraint, select, text

from casebook.platform.db import Database, keys_parameter, where_keys

_METADATA = MetaData()
_ROWS = Table(
    "keyed_rows",
    _METADATA,
    Column("id", BigInteger, primary_key=True),
    Column("a", BigInteger, nullable=False),
    Column("b", BigInteger, nullable=False),
    Column("c", String(64), nullable=False),
    UniqueConstraint("a", "b", "c"),
)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(_METADATA.create_all)
        await connection.execute(
            _ROWS.insert(),
            [{"id": n, "a": n % 7, "b": 10**12 + n % 5, "c": f"client-{n}"} for n in range(1, 400)],
        )
    yield database
    async with database.engine.begin() as connection:
        await connection.run_sync(_METADATA.drop_all)
    await database.dispose()


def _statement(keys: set[tuple[int, int, str]], dialect: str):  # type: ignore[no-untyped-def]
    return where_keys(select(_ROWS.c.id), [_ROWS.c.a, _ROWS.c.b, _ROWS.c.c], keys, dialect)


async def test_it_returns_exactly_the_rows_of_the_given_keys(database: Database) -> None:
    keys = {(n % 7, 10**12 + n % 5, f"client-{n}") for n in (3, 77, 250)}
    keys |= {(3, 10**12 + 3, "client-3x"), (99, 10**12, "client-1")}  # near misses: no row
    async with database.session() as session:
        dialect = session.get_bind().dialect.name
        found = set(await session.scalars(_statement(keys, dialect)))
        none = set(await session.scalars(_statement({(1, 1, "none")}, dialect)))
    assert found == {3, 77, 250}
    assert none == set()


async def test_a_statement_built_once_takes_its_keys_as_a_parameter(database: Database) -> None:
    async with database.session() as session:
        dialect = session.get_bind().dialect.name
        statement = where_keys(select(_ROWS.c.id), [_ROWS.c.a, _ROWS.c.b, _ROWS.c.c], "k", dialect)
        found = []
        for numbers in ((3, 77), (250, 250), (5, 6, 7)):
            keys = [(n % 7, 10**12 + n % 5, f"client-{n}") for n in numbers]
            rows = await session.scalars(statement, {"k": keys_parameter(keys, dialect)})
            found.append(sorted(rows))
    assert found == [[3, 77], [250], [5, 6, 7]]


async def test_on_sqlite_each_key_is_one_search_of_the_unique_index(database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("PostgreSQL plans a row-value IN list as index probes itself")
    statement = _statement({(1, 10**12, "client-1"), (2, 10**12, "client-2")}, "sqlite")
    compiled = statement.compile(
        database.engine.sync_engine, compile_kwargs={"literal_binds": True}
    )
    async with database.session() as session:
        plan = [row[-1] for row in await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert not any(step.startswith("SCAN keyed_rows") for step in plan), plan
    assert any(
        step.startswith("SEARCH keyed_rows USING") and "(a=? AND b=? AND c=?)" in step
        for step in plan
    ), plan
