"""Test harness: one backend per run, chosen by `CASEBOOK_TEST_BACKENDS`.

- `embedded` (default): SQLite files and in-process cache, rate limits, bus and jobs.
- `postgres`: PostgreSQL + Redis, from `CASEBOOK_TEST_POSTGRES_URL`/`CASEBOOK_TEST_REDIS_URL` or
  started here from the installed binaries (see tests/servers.py).

Each xdist worker gets its own database, created once from the models' metadata; each test starts
from empty tables. `tests/platform/test_migrations.py` proves the Alembic history builds the same
schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from casebook.app import create_app
from casebook.platform import featurecov, sqlite_plans
from casebook.platform.context import Platform
from casebook.platform.db import Base
from casebook.platform.models import import_platform_models
from casebook.platform.settings import Settings
from casebook.systems import all_systems, import_models
from tests.servers import POSTGRES_HINT, REDIS_HINT, Servers

BACKEND = os.environ.get("CASEBOOK_TEST_BACKENDS", "embedded").strip() or "embedded"
if BACKEND not in {"embedded", "postgres"}:
    raise pytest.UsageError(f"CASEBOOK_TEST_BACKENDS must be embedded or postgres, not {BACKEND}")

_servers: Servers | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Start the servers once, in the controlling process; xdist workers inherit the URLs."""
    global _servers
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    _servers = Servers()
    if not os.environ.get("CASEBOOK_TEST_REDIS_URL"):
        with contextlib.suppress(FileNotFoundError):
            os.environ["CASEBOOK_TEST_REDIS_URL"] = _servers.start_redis()
    if BACKEND == "postgres" and not os.environ.get("CASEBOOK_TEST_POSTGRES_URL"):
        with contextlib.suppress(FileNotFoundError):
            os.environ["CASEBOOK_TEST_POSTGRES_URL"] = _servers.start_postgres()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _servers is not None and not hasattr(config, "workerinput"):
        _servers.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A feature marker must name a feature of the catalogue: a typo would fake coverage."""
    unknown = featurecov.unknown_markers(all_systems(), featurecov.marked_features(items))
    if unknown:
        names = ", ".join(f"{slug}/{fid}" for slug, fid in unknown)
        raise pytest.UsageError(f"tests mark features the catalogue does not list: {names}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"casebook backend: {BACKEND}"


def worker_number(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(worker.removeprefix("gw"))


import_platform_models()
import_models()


@pytest.fixture(scope="session")
def redis_url(pytestconfig: pytest.Config) -> str:
    """A Redis database of this worker's own, flushed at the start."""
    base = os.environ.get("CASEBOOK_TEST_REDIS_URL")
    if not base:
        if BACKEND == "postgres" and os.environ.get("CI"):
            pytest.fail(f"Redis is required for the postgres backend: {REDIS_HINT}")
        pytest.skip(REDIS_HINT)
    return f"{base}/{worker_number(pytestconfig) % 60 + 1}"


@pytest.fixture(scope="session")
def database_template(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> str:
    """This worker's database, with every table created; returns its URL."""
    if BACKEND == "postgres":
        base = os.environ.get("CASEBOOK_TEST_POSTGRES_URL")
        if not base:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is required for the postgres backend: {POSTGRES_HINT}")
            pytest.skip(POSTGRES_HINT)
        name = f"casebook_test_{worker_number(pytestconfig)}"
        asyncio.run(_recreate_postgres_database(base, name))
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'template.db'}"
    asyncio.run(_create_schema(url))
    return url


async def _recreate_postgres_database(base: str, name: str) -> None:
    engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def _create_schema(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        if conn.dialect.name == "sqlite":  # as `casebook.migrations.upgrade` does
            await conn.run_sync(sqlite_plans.write_statistics)
    await engine.dispose()


async def _empty_postgres_tables(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    if not tables:
        return
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture
async def database_url(database_template: str, tmp_path: Path) -> str:
    """An empty database for one test: a copy of the SQLite template, or truncated PostgreSQL."""
    if BACKEND == "postgres":
        await _empty_postgres_tables(database_template)
        return database_template
    source = Path(database_template.removeprefix("sqlite+aiosqlite:///"))
    target = tmp_path / "casebook.db"
    shutil.copyfile(source, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    redis = ""
    if BACKEND == "postgres":
        redis = request.getfixturevalue("redis_url")
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis)
        await client.flushdb()
        await client.aclose()
    return Settings(
        var_dir=tmp_path,
        database_url=database_url,
        redis_url=redis,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        environment="test",
        auto_migrate=False,
        demo_data=False,
        worker_id=worker_number(request.config),
        # Cheap argon2 (about 1 ms a hash) keeps logins fast; production strength is the default.
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The whole app with its lifespan running (platform started, systems' startup hooks run)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def platform(app: FastAPI) -> Platform:
    result: Platform = app.state.platform
    return result


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
