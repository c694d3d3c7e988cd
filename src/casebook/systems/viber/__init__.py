"""Viber (seed 000 §4): phone-number accounts, end-to-end encrypted 1:1 chats, group chats,
stickers and GIFs, Public Accounts, and voice/video call signalling, on the messaging engine.
See docs/systems/viber.md."""

from fastapi import APIRouter

from casebook.engines.messaging import mount, runtime, web
from casebook.platform.context import Platform
from casebook.systems import catalog_entry
from casebook.systems.viber import public_accounts, seed_api, stickers
from casebook.systems.viber.capacity import CAPACITY
from casebook.systems.viber.demo import load_demo

SLUG = "viber"
MESSAGING = runtime.MessagingConfig(direct_chats_e2e=True)
"""Viber's 1:1 chats are end-to-end encrypted, always; groups are engine groups."""


def _api() -> APIRouter:
    # The engine's routes include call signalling (engines/messaging/calls.py) and push.
    router = APIRouter()
    router.include_router(mount.api_router(SLUG))
    router.include_router(seed_api.router(SLUG))
    router.include_router(stickers.router(SLUG))
    router.include_router(public_accounts.router(SLUG))
    return router


async def _start(platform: Platform) -> None:
    # The engine's runtime is started with Viber's configuration first; mount.startup then finds
    # it running and starts the rest (gateway, jobs, push, call signalling).
    await runtime.start(platform, SLUG, MESSAGING)
    await mount.startup(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=_api(),
    realtime=mount.realtime_router(SLUG),
    pages=web.pages_router(SLUG, "Viber"),
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=_start,
    on_shutdown=_stop,
    models_module="casebook.systems.viber.models",
)
