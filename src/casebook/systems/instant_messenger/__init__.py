"""Instant Messenger (seed 003 §8): realtime chat with ordered at-least-once delivery, receipts,
presence, search and end-to-end encryption, on the messaging engine, plus the seed's own
endpoints (seed_api.py). See docs/systems/instant-messenger.md."""

from fastapi import APIRouter

from casebook.engines.messaging import mount, web
from casebook.platform.context import Platform
from casebook.systems import catalog_entry
from casebook.systems.instant_messenger import seed_api
from casebook.systems.instant_messenger.capacity import CAPACITY
from casebook.systems.instant_messenger.demo import load_demo

SLUG = "instant-messenger"


def _api() -> APIRouter:
    router = APIRouter()
    router.include_router(mount.api_router(SLUG))
    router.include_router(seed_api.router(SLUG))
    return router


async def _start(platform: Platform) -> None:
    await mount.startup(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=_api(),
    realtime=mount.realtime_router(SLUG),
    pages=web.pages_router(SLUG, "Instant Messenger"),
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=_start,
    on_shutdown=_stop,
)
