"""Assembles the engine's parts for one system: its HTTP routes (mounted by the system under
`/api/<slug>`), its WebSocket route (`/ws/<slug>`), and its start and stop hooks."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import APIRouter

from casebook.platform.context import Platform


def api_router(system: str, *, replaced: Collection[tuple[str, str]] = ()) -> APIRouter:
    """Every HTTP endpoint of the engine for `system` (conversations, messages, devices, keys,
    attachments, push subscriptions, call signalling), without the conversation and message
    operations (method, path) in `replaced`, which the system serves itself."""
    router = APIRouter()
    from casebook.engines.messaging import api

    router.include_router(api.router(system, replaced=replaced))
    from casebook.engines.messaging import contacts

    router.include_router(contacts.router(system))
    from casebook.engines.messaging import phone

    router.include_router(phone.router(system))
    from casebook.engines.messaging import keys

    router.include_router(keys.router(system))
    from casebook.engines.messaging import attachments

    router.include_router(attachments.router(system))
    from casebook.engines.messaging import push

    router.include_router(push.router(system))
    from casebook.engines.messaging import presence

    router.include_router(presence.router(system))
    from casebook.engines.messaging import calls

    router.include_router(calls.router(system))
    return router


def realtime_router(system: str) -> APIRouter:
    """The WebSocket endpoint, at the router's root (the app mounts it at `/ws/<slug>`)."""
    router = APIRouter()
    from casebook.engines.messaging import gateway

    gateway.add_route(router, system)
    return router


async def startup(platform: Platform, system: str) -> None:
    """Start the system's messaging runtime (writer, gateway hub, jobs)."""
    from casebook.engines.messaging import runtime

    await runtime.start(platform, system)
    from casebook.engines.messaging import gateway

    await gateway.start(platform, system)
    from casebook.engines.messaging import attachments

    attachments.register_jobs(platform, system)
    from casebook.engines.messaging import push

    push.register(platform, system)
    from casebook.engines.messaging import calls

    calls.register_jobs(platform, system)


async def shutdown(platform: Platform, system: str) -> None:
    """Stop what `startup` started, flushing pending writes."""
    from casebook.engines.messaging import gateway

    await gateway.stop(platform, system)  # sockets first: no new sends while the writer drains
    from casebook.engines.messaging import runtime

    await runtime.stop(platform, system)
    from casebook.engines.messaging import push

    await push.close(platform, system)
