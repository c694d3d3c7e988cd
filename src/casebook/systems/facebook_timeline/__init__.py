"""Facebook Timeline (seed 003 §10): each user's chronological profile of posts, photos, shares
and typed, dated life events; featured posts on top; year/month sections; per-item audiences;
an activity log the user reviews and undoes from. Built on the feed engine (graph, posts,
audiences, reactions, comments, shares), mounted under `/api/facebook-timeline` and
`/ws/facebook-timeline`. See docs/systems/facebook-timeline.md."""

from fastapi import APIRouter

from casebook.engines.feed import mount
from casebook.platform.context import Platform
from casebook.systems import catalog_entry
from casebook.systems.facebook_timeline.api import router as timeline_router
from casebook.systems.facebook_timeline.capacity import CAPACITY
from casebook.systems.facebook_timeline.demo import load_demo
from casebook.systems.facebook_timeline.models import SYSTEM as SLUG
from casebook.systems.facebook_timeline.pages import router as pages_router


def _api() -> APIRouter:
    # The system's own routes first, so `/users/{id}/timeline` and friends are matched before
    # the engine's routes of the same shape.
    router = APIRouter()
    router.include_router(timeline_router)
    router.include_router(mount.api_router(SLUG))
    return router


async def _start(platform: Platform) -> None:
    await mount.startup(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=_api(),
    pages=pages_router,
    capacity=CAPACITY,
    demo=load_demo,
    realtime=mount.realtime_router(SLUG),
    on_startup=_start,
    on_shutdown=_stop,
    models_module="casebook.systems.facebook_timeline.models",
)
