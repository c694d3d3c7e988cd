"""Liveness and readiness probes for load balancers and orchestrators.

- `GET /healthz`: the process is up and its event loop answers. No I/O, so a slow database never
  gets a healthy process restarted.
- `GET /readyz`: this process can serve: the database answers `SELECT 1` and, when configured,
  Redis answers `PING`, each within `settings.readiness_timeout_seconds`. Otherwise a 503
  problem+json whose `checks` say which dependency is down, so the balancer stops sending
  traffic here until it recovers.

An embedded SQLite database is checked without the timeout. aiosqlite runs each connection in a
thread that cancellation cannot stop: a check cancelled while connecting leaves that thread to
finish the connect, close it and then answer an event loop that may be gone by then ("Event loop
is closed" raised in the thread, long after the probe returned). A local file has no network to
hang on, and `SELECT 1` takes no lock, so the check ends on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Depends
from sqlalchemy import text

from casebook.platform.context import Platform, get_platform
from casebook.platform.errors import Problem

log = structlog.get_logger("casebook.health")

OK = "ok"


class NotReady(Problem):
    status = 503
    type_ = "not-ready"
    title = "Not ready"


async def _database(platform: Platform) -> None:
    async with platform.db.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _redis(platform: Platform) -> None:
    assert platform.redis is not None
    await platform.redis.ping()


async def _probe(name: str, check: Awaitable[None], limit_seconds: float | None) -> str:
    try:
        async with asyncio.timeout(limit_seconds):
            await check
    except Exception as exc:
        log.warning("readiness check failed", dependency=name, error=repr(exc))
        # The exception class only: the probe is public, connection strings are not.
        return f"down ({type(exc).__name__})"
    return OK


async def check_readiness(platform: Platform) -> dict[str, str]:
    """Each dependency's state, "ok" or "down (<error class>)"; checks run concurrently, each
    within the readiness timeout (an embedded SQLite database without one: module docstring)."""
    timeout = platform.settings.readiness_timeout_seconds
    checks: dict[str, tuple[Callable[[Platform], Awaitable[None]], float | None]] = {
        "database": (_database, None if platform.db.is_sqlite else timeout)
    }
    if platform.redis is not None:
        checks["redis"] = (_redis, timeout)
    states = await asyncio.gather(
        *(_probe(name, check(platform), limit) for name, (check, limit) in checks.items())
    )
    return dict(zip(checks, states, strict=True))


router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness: 200 while the process serves requests at all."""
    return {"status": OK}


@router.get("/readyz", include_in_schema=False)
async def readyz(platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    """Readiness: 200 when every dependency answers; 503 problem+json naming those that do not."""
    checks = await check_readiness(platform)
    down = [name for name, state in checks.items() if state != OK]
    if down:
        verb = "is" if len(down) == 1 else "are"
        raise NotReady(f"{' and '.join(down)} {verb} down.", checks=checks)
    return {"status": "ready", "checks": checks}
