"""create_app(settings): one ASGI app serving every enabled system.

Layout of the URL space (ARCHITECTURE §4): `/api/<slug>/…` JSON APIs, `/<slug>/` pages, `/api/auth`
the shared identity, `/` the console, `/docs` and `/openapi.json` the API documentation. Hot paths
that systems declare (`System.fast_path`) are lean ASGI handlers in front of FastAPI and of every
middleware.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from casebook import __version__
from casebook.engines import schedule_engine_jobs
from casebook.migrations import upgrade
from casebook.platform.context import Platform
from casebook.platform.errors import install_problem_handlers
from casebook.platform.health import router as health_router
from casebook.platform.idempotency import install_idempotency, register_purge_job, schedule_purge
from casebook.platform.logging import RequestIdMiddleware, configure_logging
from casebook.platform.metrics import MetricsMiddleware, fold_all, record_gc_pauses
from casebook.platform.metrics import router as metrics_router
from casebook.platform.registry import RAW_RECEIVE, RAW_SEND, FastPath, System, select
from casebook.platform.settings import Settings
from casebook.systems import all_systems

log = structlog.get_logger("casebook.app")


def enabled_systems(settings: Settings, only: Sequence[str] = ()) -> list[System]:
    """The built systems to serve: `only`, else `settings.systems`, else all built ones."""
    chosen = select(all_systems(), list(only) or settings.systems)
    return [s for s in chosen if s.built]


def create_served_app() -> ASGIApp:
    """The app as `casebook serve --server granian` runs it: `create_app()` behind the same
    proxy-header handling uvicorn applies by default (`X-Forwarded-For` and `-Proto` are believed
    only from the addresses in `FORWARDED_ALLOW_IPS`, default 127.0.0.1), so the client address
    that rate limits and load mixes see does not depend on the server."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    # uvicorn types ASGI apps with its own TypedDicts, Starlette with plain mappings: same protocol.
    served = ProxyHeadersMiddleware(cast(Any, create_app()), trusted_hosts=trusted)
    return cast(ASGIApp, served)


def create_app(settings: Settings | None = None, *, only: Sequence[str] = ()) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)
    systems = enabled_systems(settings, only)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform.start(settings)
        app.state.platform = platform
        if settings.migrates_on_start:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
            await upgrade(platform.db)
        for system in systems:
            if system.on_startup:
                await system.on_startup(platform)
        register_purge_job(platform)
        await platform.jobs.start()  # after every system has registered its job handlers
        await schedule_purge(platform)
        await schedule_engine_jobs(platform)
        if settings.loads_demo_data:
            for system in systems:
                if system.demo:
                    await system.demo(platform)
        if settings.simulate_trading:
            from casebook.simulate import start_in_app

            await start_in_app(platform, systems, settings.simulate_trading)
        for system in systems:
            if system.on_ready:
                await system.on_ready(platform)
        if settings.tune_gc:
            tune_gc(settings.gc_young_threshold)
        log.info("started", systems=[s.slug for s in systems], database=platform.db.engine.url)
        try:
            yield
        finally:
            if settings.simulate_trading:
                from casebook.simulate import stop_in_app

                await stop_in_app(platform)
            # Jobs first: a job that ran on while its system shut down would find it gone.
            await platform.jobs.stop()
            for system in reversed(systems):
                if system.on_shutdown:
                    await system.on_shutdown(platform)
            await platform.close()
            fold_all()  # the answers counted since the last fold reach the metrics files

    app = _FastPathsFirst(
        title="Casebook",
        version=__version__,
        description="The system-design case studies of the seed articles, built for real.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_tags=[{"name": s.slug, "description": s.summary} for s in systems],
    )
    app.state.settings = settings
    app.state.systems = systems
    install_problem_handlers(app)
    install_idempotency(app)

    from casebook.platform.auth.api import router as auth_router

    app.include_router(auth_router, prefix="/api/auth", tags=["auth"])
    app.include_router(health_router)  # /healthz, /readyz
    app.include_router(metrics_router)  # /metrics
    for system in systems:
        assert system.api is not None
        app.include_router(system.api, prefix=f"/api/{system.slug}", tags=[system.slug])
        if system.pages is not None:
            app.include_router(system.pages, prefix=f"/{system.slug}", include_in_schema=False)
        if system.realtime is not None:
            app.include_router(system.realtime, prefix=f"/ws/{system.slug}")

    from casebook.web import install_web

    install_web(app)  # the console, /login|/register|/logout, offline /docs, /static/web|swagger

    # Fast paths answer before FastAPI and every middleware (see `_FastPathsFirst`); the
    # middlewares below serve everything else.
    app.fast_paths = tuple(s.fast_path for s in systems if s.fast_path is not None)
    # Added last = outermost: request ids and metrics cover every framework request.
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware)
    return app


class _FastPathsFirst(FastAPI):
    """FastAPI with the systems' lean handlers (`System.fast_path`) in front of everything.

    A hot path (a redirect) must not pay for FastAPI's per-request telemetry check, Starlette's
    error and body-limit middlewares, request ids and the metrics middleware: together they
    cost more than the handler's own work. So every HTTP request reaches the fast paths first;
    each answers what it owns — and then counts it in the metrics and answers its own errors —
    or passes the request on to the full framework stack. Lifespan and websocket events go to
    FastAPI directly.

    The chain is built at the first HTTP request, when the lifespan has started the platform
    the handlers read.
    """

    fast_paths: tuple[FastPath, ...] = ()
    _front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.fast_paths:
            front = self._front or self._build_front()
            await front(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # The server's own send and receive, for a socket's data frames once it is accepted
            # (each would otherwise pass through every middleware's and Starlette's wrappers).
            scope[RAW_SEND] = send
            scope[RAW_RECEIVE] = receive
        await super().__call__(scope, receive, send)

    async def _framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def _build_front(self) -> ASGIApp:
        front: ASGIApp = self._framework
        # The first system's handler ends up outermost: the catalogue's order, which puts the
        # URL Shortener's redirects (the hottest path of all) before any other system's check.
        for build in reversed(self.fast_paths):
            front = build(self.state.platform, front)
        self._front = front
        return front


_gc_tuned = False


def tune_gc(young_threshold: int) -> None:
    """Fit the cyclic garbage collector to a long-running server process (`casebook serve`
    turns this on through `Settings.tune_gc`), once per process, after start-up.

    - The start-up heap (every module, model, route and compiled query: hundreds of thousands
      of objects that live as long as the process) is frozen out of the collector
      (`gc.freeze`), so full collections scan only what was made since.
    - The youngest generation is collected every `young_threshold` allocations instead of 700.
      A request or a message batch allocates thousands of objects that live until it ends; at
      700, they survive two collections and pile up in the oldest generation, whose full
      collections (measured: 0.5 s each over 900,000 objects with 2,000 chat sockets open)
      then stall everything in flight. Short-lived objects now die young.

    Measured with `bench.messaging` (2,000 sockets, SQLite, one worker): 1,212 → 1,918
    messages/s saturated, p99 at 1,000 messages/s 816 → 219 ms. Costs up to `young_threshold`
    uncollected cyclic garbage objects between collections; reference counting still frees
    the rest at once.

    The default, 200,000, comes from 10,000 chat sockets: a collection walks every object of
    its generations that is still alive, and each socket kept about 20 waiting for its next
    frame (its reader's and writer's pending awaits, the server's keepalive timer; about 5
    since session 18, the gateway's sockets having no task waiting: see wsdirect.py), so at a
    fixed 3,000 messages/s a young collection took about 140 ms at 50,000 (about 160 ms at
    200,000), one every ~10 s at 50,000, and the backlog of each pause took far longer than the
    pause to drain. A higher threshold cannot make them shorter, only rarer: in 90 s at a
    fixed 3,000 messages/s on SQLite, 6 young collections (694 ms of pauses in all) at 50,000
    against 1 (147 ms) at 200,000. (p99 did not follow in those two runs, 260 and 452 ms: the
    benchmark's own load processes paused for their full collections, found and fixed in
    session 17.) 1,000,000 was tried and not kept: during a burst of 10,000 connects, when
    nearly every young object survives, its young collections took 390-475 ms against 60-120
    ms. Saturated throughput did not change. See docs/engines/messaging.md, sessions 16-17.

    Every collection's pause is timed from then on (`casebook_gc_pause_seconds` at /metrics).
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    record_gc_pauses()
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, oldest)
