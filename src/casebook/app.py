"""create_app(settings): one ASGI app serving every enabled system.

Layout of the URL space (ARCHITECTURE §4): `/api/<slug>/…` JSON APIs, `/<slug>/` pages, `/api/auth`
the shared identity, `/` the console, `/docs` and `/openapi.json` the API documentation. Hot paths
that systems declare (`System.fast_path`) are lean ASGI handlers in front of FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

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
from casebook.platform.metrics import MetricsMiddleware
from casebook.platform.metrics import router as metrics_router
from casebook.platform.registry import System, select
from casebook.platform.settings import Settings
from casebook.systems import all_systems

log = structlog.get_logger("casebook.app")


def enabled_systems(settings: Settings, only: Sequence[str] = ()) -> list[System]:
    """The built systems to serve: `only`, else `settings.systems`, else all built ones."""
    chosen = select(all_systems(), list(only) or settings.systems)
    return [s for s in chosen if s.built]


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
        log.info("started", systems=[s.slug for s in systems], database=platform.db.engine.url)
        try:
            yield
        finally:
            for system in reversed(systems):
                if system.on_shutdown:
                    await system.on_shutdown(platform)
            await platform.close()

    app = FastAPI(
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

    from casebook.web import install_web

    install_web(app)  # the console, /login|/register|/logout, offline /docs, /static/web|swagger

    for system in systems:
        if system.fast_path is not None:
            app.add_middleware(_FastPathMiddleware, system=system)
    # Added last = outermost: request ids and metrics cover fast-path answers too.
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware)
    return app


class _FastPathMiddleware:
    """Hands each HTTP request to a system's lean handler, which may answer it or pass it on."""

    def __init__(self, app: ASGIApp, system: System) -> None:
        assert system.fast_path is not None
        self._inner = app
        self._build = system.fast_path
        self._handler: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        if self._handler is None:
            self._handler = self._build(scope["app"].state.platform, self._inner)
        await self._handler(scope, receive, send)
