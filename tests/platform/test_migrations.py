"""The Alembic history builds exactly the schema the models describe, on the test backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
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


async def test_url_shortener_clicks_fold_into_the_rollup_and_back(
    empty_database: Database,
) -> None:
    """Migration 0013 folds one-row-per-click into counts per (link, hour, referrer host,
    country, agent); its downgrade expands the counts back into rows."""
    from alembic import command

    from casebook.migrations import alembic_config

    await upgrade(empty_database, "0012")
    hour = 490_000
    async with empty_database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO urlshortener_links (id, domain_id, code, is_alias, target_url, "
                "redirect_type, created_at, updated_at, click_count) VALUES "
                "(7, 0, 'abc', false, 'https://example.com/', 302, :at, :at, 4)"
            ),
            {"at": datetime(2025, 1, 1, tzinfo=UTC)},
        )
        clicks = [
            (1, "t.co", "DE", "chrome"),
            (2, "t.co", "DE", "chrome"),
            (3, None, None, "cli"),
            (4, None, "US", "cli"),
        ]
        for click_id, referrer, country, agent in clicks:
            await conn.execute(
                text(
                    "INSERT INTO urlshortener_clicks (id, link_id, clicked_at, hour, "
                    "referrer_host, country, agent) VALUES (:id, 7, :at, :hour, :ref, :c, :a)"
                ),
                {
                    "id": click_id,
                    "at": datetime(2025, 1, 1, tzinfo=UTC),
                    "hour": hour,
                    "ref": referrer,
                    "c": country,
                    "a": agent,
                },
            )
    await upgrade(empty_database, "0013")
    async with empty_database.engine.connect() as conn:
        rollup = sorted(
            tuple(row)
            for row in await conn.execute(
                text(
                    "SELECT hour, referrer_host, country, agent, clicks "
                    "FROM urlshortener_click_counts WHERE link_id = 7"
                )
            )
        )
    assert rollup == [
        (hour, "", "", "cli", 1),
        (hour, "", "US", "cli", 1),
        (hour, "t.co", "DE", "chrome", 2),
    ]

    config = alembic_config()

    def downgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")

    async with empty_database.engine.begin() as conn:
        await conn.run_sync(downgrade)
    async with empty_database.engine.connect() as conn:
        rows = sorted(
            (str(ref), str(country), agent)
            for ref, country, agent in await conn.execute(
                text(
                    "SELECT referrer_host, country, agent FROM urlshortener_clicks "
                    f"WHERE link_id = 7 AND hour = {hour}"
                )
            )
        )
    assert rows == [
        ("None", "None", "cli"),
        ("None", "US", "cli"),
        ("t.co", "DE", "chrome"),
        ("t.co", "DE", "chrome"),
    ]
