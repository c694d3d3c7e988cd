"""Telegram (seed 002 §1): cloud chats, huge groups, channels with view counts, secret chats
with self-destruct timers, and a compatible subset of the Bot API, on the messaging engine.
See docs/systems/telegram.md."""

from fastapi import APIRouter

from casebook.engines.messaging import mount, selfdestruct
from casebook.engines.messaging.runtime import messenger
from casebook.platform.context import Platform
from casebook.systems import catalog_entry
from casebook.systems.telegram import api, botapi, updates, webhook

SLUG = "telegram"


def _api() -> APIRouter:
    router = APIRouter()
    router.include_router(mount.api_router(SLUG))
    router.include_router(api.router(SLUG))
    router.include_router(selfdestruct.router(SLUG))
    router.include_router(botapi.router(SLUG))
    return router


async def _start(platform: Platform) -> None:
    await mount.startup(platform, SLUG)
    messenger(platform, SLUG).on_commit(updates.on_commit)
    webhook.register_jobs(platform)
    selfdestruct.register_jobs(platform, SLUG)
    await selfdestruct.schedule_next(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=_api(),
    realtime=mount.realtime_router(SLUG),
    on_startup=_start,
    on_shutdown=_stop,
    models_module="casebook.systems.telegram.models",
)
