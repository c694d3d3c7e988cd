"""The Alembic history builds exactly the schema the models describe, on the test backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from casebook.migrations import include_object, upgrade
from casebook.platform.db import Base, Database
from tests.conftest import BACKEND, worker_number


@pytest.fixture
async def empty_database(tmp_path: Path, pytestconfig: pytest.Config) -> AsyncIterator[Database]:
    if BACKEND == "postgres":
        base = os.environ.get("CASEBOOK_TEST_POSTGRES_URL")
        if not base:
            pytest.skip("install PostgreSQL (apt-get install postgresql) to run this test")
        name = f"casebook_migrate_{worker_number(pytestconfig)}"
        admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    database = Database(url)
    yield database
    await database.dispose()


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_build_the_schema_of_the_models(empty_database: Database) -> None:
    await upgrade(empty_database)
    async with empty_database.engine.connect() as conn:
        differences = await conn.run_sync(_schema_differences)
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert differences == []
    assert set(Base.metadata.tables) <= tables


async def test_migrating_twice_changes_nothing(empty_database: Database) -> None:
    await upgrade(empty_database)
    await upgrade(empty_database)
    async with empty_database.engine.connect() as conn:
        assert await conn.run_sync(_schema_differences) == []


def test_the_migrated_search_ddl_is_the_models() -> None:
    """Message search is raw DDL (FTS5 on SQLite, a GIN index on PostgreSQL) that migration 0006
    froze: when search.py changes it, a new migration must carry the change."""
    import importlib

    from casebook.engines.messaging import search

    migration = importlib.import_module("casebook.migrations.versions.0006_messaging")
    assert migration.SQLITE_DDL == search.SQLITE_DDL
    assert migration.POSTGRES_DDL == search.POSTGRES_DDL
