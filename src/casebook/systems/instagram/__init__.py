"""Instagram (seed 001 §1) on the feed engine: photo and video posts processed by a job
(orientation, EXIF/GPS stripped, variants, blurhash, video poster frames), carousels, captions,
user and location tags; stories that expire after 24 h with their viewers; explore and search;
private accounts, follow requests, likes, threaded comments and notifications from the engine;
Direct messages on the messaging engine (`/api/instagram/direct`, `/ws/instagram/direct`) with
message requests, blocks and shared posts (direct.py). See docs/systems/instagram.md."""

from fastapi import APIRouter

from casebook.engines.feed import mount
from casebook.engines.messaging import mount as messaging_mount
from casebook.engines.messaging import runtime as messaging_runtime
from casebook.engines.messaging.runtime import MessagingConfig, messenger
from casebook.platform.context import Platform
from casebook.systems import catalog_entry
from casebook.systems.instagram import api, direct, direct_api, media, pages
from casebook.systems.instagram.capacity import CAPACITY
from casebook.systems.instagram.demo import load_demo
from casebook.systems.instagram.media import SLUG

MESSAGING = MessagingConfig(shares_posts=True)
"""Direct: one-to-one chats into which posts can be shared (the engine's other defaults)."""


def _api() -> APIRouter:
    router = APIRouter()
    # Instagram's routes first: `/media/{id}/{w}.jpg` and `/stories/archive` must win over
    # any engine route of the same shape.
    router.include_router(api.router)
    router.include_router(direct_api.router(), prefix="/direct")
    router.include_router(mount.api_router(SLUG))
    return router


def _realtime() -> APIRouter:
    # The feed's live updates at /ws/instagram, Direct's messaging gateway at /ws/instagram/direct.
    router = mount.realtime_router(SLUG)
    router.include_router(messaging_mount.realtime_router(SLUG), prefix="/direct")
    return router


async def _start(platform: Platform) -> None:
    await mount.startup(platform, SLUG)
    platform.jobs.register(media.JOB, media.process_media, retries=3, timeout=120.0)
    # Direct's configuration first (posts can be shared into chats); startup then finds it.
    await messaging_runtime.start(platform, SLUG, MESSAGING)
    await messaging_mount.startup(platform, SLUG)
    messenger(platform, SLUG).in_transaction(direct.guard_batch)


async def _stop(platform: Platform) -> None:
    await messaging_mount.shutdown(platform, SLUG)
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=_api(),
    realtime=_realtime(),
    pages=pages.router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=_start,
    on_shutdown=_stop,
    models_module="casebook.systems.instagram.models",
)
