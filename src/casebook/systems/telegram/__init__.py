"""Telegram (seed 002 §1): cloud chats, huge groups, channels with view counts, secret chats
with self-destruct timers, and a compatible subset of the Bot API, on the messaging engine.
See docs/systems/telegram.md."""

from fastapi import APIRouter

from casebook.engines.messaging import mount, runtime, selfdestruct
from casebook.engines.messaging.runtime import messenger
from casebook.platform.context import Platform
from casebook.systems import catalog_entry
from casebook.systems.telegram import api, botapi, pages, updates, webhook
from casebook.systems.telegram.capacity import CAPACITY
from casebook.systems.telegram.demo import load_demo

SLUG = "telegram"
MESSAGING = runtime.MessagingConfig(group_member_limit=200_000)
"""Telegram's groups (supergroups) hold up to 200,000 members (seed 002 §1); channels are
unlimited; messages up to 4,096 characters, as in Telegram."""


def _api() -> APIRouter:
    router = APIRouter()
    router.include_router(mount.api_router(SLUG))
    router.include_router(api.router(SLUG))
    router.include_router(selfdestruct.router(SLUG))
    router.include_router(botapi.router(SLUG))
    return router


async def _start(platform: Platform) -> None:
    # The runtime starts with Telegram's configuration; mount.startup then finds it running.
    await runtime.start(platform, SLUG, MESSAGING)
    await mount.startup(platform, SLUG)
    messenger(platform, SLUG).in_transaction(updates.transaction_hook(platform, SLUG))
    webhook.register_jobs(platform)
    await webhook.resume_pending(platform, SLUG)
    selfdestruct.register_jobs(platform, SLUG)
    await selfdestruct.schedule_next(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=_api(),
    realtime=mount.realtime_router(SLUG),
    pages=pages.router(SLUG, "Telegram"),
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=_start,
    on_shutdown=_stop,
    models_module="casebook.systems.telegram.models",
)
