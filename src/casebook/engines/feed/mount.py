"""Assembles the feed engine for one system: its HTTP routes (mounted under `/api/<slug>`), its
WebSocket (`/ws/<slug>`), and its start and stop hooks."""

from __future__ import annotations

from fastapi import APIRouter

from casebook.engines.feed.runtime import FeedConfig
from casebook.platform.context import Platform


def api_router(system: str) -> APIRouter:
    """Every HTTP endpoint of the feed core for `system` (graph, posts, home feed)."""
    from casebook.engines.feed import api, engagement_api

    router = api.router(system)
    router.include_router(engagement_api.router(system))  # reactions, comments, notifications…
    return router


def realtime_router(system: str) -> APIRouter:
    """The live-updates WebSocket, at the router's root (the app mounts it at `/ws/<slug>`)."""
    from casebook.engines.feed import live

    router = APIRouter()
    live.add_route(router, system)
    return router


async def startup(platform: Platform, system: str, config: FeedConfig | None = None) -> None:
    """Start the system's feed runtime (timeline store, live hub) and register its fan-out job
    (before the job queue starts)."""
    from casebook.engines.feed import fanout, live, notifications, runtime

    state = await runtime.start(platform, system, config)
    state.live = live.LiveHub(platform, system)
    notifications.publish_through(platform.db.engine.sync_engine, platform.bus)
    fanout.register(platform, system)


async def shutdown(platform: Platform, system: str) -> None:
    """Close the system's sockets and forget its runtime."""
    from casebook.engines.feed import runtime

    state = platform.state.get(runtime.state_key(system))
    if state is not None and state.live is not None:
        await state.live.close()
    await runtime.stop(platform, system)
