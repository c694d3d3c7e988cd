"""Instant Messenger (seed 003 §8): realtime chat with ordered at-least-once delivery, receipts,
presence, search and end-to-end encryption, on the messaging engine. See
docs/systems/instant-messenger.md."""

from casebook.engines.messaging import mount, web
from casebook.platform.context import Platform
from casebook.systems import catalog_entry

SLUG = "instant-messenger"


async def _start(platform: Platform) -> None:
    await mount.startup(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=mount.api_router(SLUG),
    realtime=mount.realtime_router(SLUG),
    pages=web.pages_router(SLUG, "Instant Messenger"),
    on_startup=_start,
    on_shutdown=_stop,
)
