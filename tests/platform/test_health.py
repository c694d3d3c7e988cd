"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from casebook.platform.context import Platform
from casebook.platform.errors import install_problem_handlers
from casebook.platform.health import check_readiness
from casebook.platform.health import router as health_router
from casebook.platform.settings import Settings
from tests.servers import free_port


async def _probe(settings: Settings, path: str) -> httpx.Response:
    """GET `path` from an app whose platform is built from `settings` (which may be broken)."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(health_router)
    platform = Platform.start(settings)
    app.state.platform = platform
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.get(path)
    finally:
        await platform.close()
        await _sqlite_threads_finished()


def _sqlite_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")]


async def _sqlite_threads_finished() -> None:
    """Wait for aiosqlite's connection threads to end while this test's event loop still runs.

    `close()` ends the threads of the pooled connections; what is left is a connection that
    failed to open (the unreachable database): aiosqlite then stops its thread with a request
    nobody awaits, and the thread acknowledges it to the loop that opened it. Unwaited, that
    acknowledgement could come after the loop closed ("Event loop is closed" raised in the
    thread, reported against whichever test ran next).
    """
    for thread in _sqlite_threads():
        await asyncio.to_thread(thread.join, 5)


def _unreachable_database(settings: Settings, tmp_path: Path) -> str:
    if settings.is_sqlite:
        return f"sqlite+aiosqlite:///{tmp_path / 'no-such-directory' / 'casebook.db'}"
    return f"postgresql+asyncpg://casebook@127.0.0.1:{free_port()}/casebook"


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers: a hung dependency."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_the_app_is_alive_and_ready(client: httpx.AsyncClient, settings: Settings) -> None:
    alive = await client.get("/healthz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    expected = {"database": "ok", "redis": "ok"} if settings.uses_redis else {"database": "ok"}
    assert ready.json() == {"status": "ready", "checks": expected}


async def test_a_database_that_is_down_makes_the_process_unready_but_alive(
    settings: Settings, tmp_path: Path
) -> None:
    broken = settings.model_copy(update={"database_url": _unreachable_database(settings, tmp_path)})
    assert (await _probe(broken, "/healthz")).status_code == 200
    response = await _probe(broken, "/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/not-ready"
    assert body["detail"] == "database is down."
    assert body["checks"]["database"].startswith("down (")
    assert "127.0.0.1" not in response.text and "no-such-directory" not in response.text


async def test_redis_that_is_down_is_named(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    response = await _probe(broken, "/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "redis is down."
    assert body["checks"] == {"database": "ok", "redis": "down (ConnectionError)"}


async def test_a_dependency_that_hangs_is_reported_after_the_timeout(
    settings: Settings, silent_server: int
) -> None:
    hung = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{silent_server}/0",
            "readiness_timeout_seconds": 0.1,
        }
    )
    async with asyncio.timeout(2):
        response = await _probe(hung, "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "down (TimeoutError)"


def test_a_probe_shorter_than_a_sqlite_connect_leaves_no_thread_behind(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check cancelled mid-connect left aiosqlite's thread to answer a closed event loop
    ("Event loop is closed" in the thread, reported against a later test)."""
    if not settings.is_sqlite:
        pytest.skip("aiosqlite's connection threads exist only with the SQLite database")
    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    impatient = settings.model_copy(update={"readiness_timeout_seconds": 1e-6})

    async def probe() -> dict[str, str]:
        platform = Platform.start(impatient)
        try:
            return await check_readiness(platform)
        finally:
            await platform.close()

    checks = asyncio.run(probe())  # the loop is closed when this returns
    for thread in _sqlite_threads():
        thread.join(timeout=5)
    assert checks == {"database": "ok"}
    assert failures == []
