"""Alembic migrations for every table of every system, one linear history.

`upgrade(database)` runs them on an open engine (the connection-sharing recipe), so `casebook
migrate`, `casebook serve` and the tests all migrate the same way.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from casebook.platform import sqlite_plans
from casebook.platform.db import Database

HERE = Path(__file__).parent
RAW_DDL_PREFIXES = ("messaging_messages_fts",)
"""Schema objects made by hand-written DDL, not by the models: SQLite's FTS5 table of message
search with its shadow tables and triggers, and PostgreSQL's GIN expression index of it
(engines/messaging/search.py). Autogenerate and the schema checks leave them alone."""


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's filter: everything except the raw-DDL objects above."""
    return not (name or "").removeprefix("ix_").startswith(RAW_DDL_PREFIXES)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(HERE / "versions"))
    return config


async def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema of `database` up to `revision` (on SQLite, then write the planner's
    statistics: `casebook.platform.sqlite_plans`)."""
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if connection.dialect.name == "sqlite":
            sqlite_plans.write_statistics(connection)

    async with database.engine.begin() as connection:
        await connection.run_sync(run)
