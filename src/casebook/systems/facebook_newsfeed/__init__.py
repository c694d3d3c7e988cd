"""Facebook Newsfeed (seed 000 §1) on the feed engine: the engine's graph, posts with audiences,
hybrid fan-out, ranking, engagement and live updates on `/ws/facebook-newsfeed`, plus the
system's own ads (inventory, interest targeting, cadence, frequency caps, exact budgets, tracked
clicks), A/B experiments of the ranking and post/author analytics. See
docs/systems/facebook-newsfeed.md."""

from fastapi import APIRouter

from casebook.engines.feed import mount
from casebook.platform.context import Platform
from casebook.systems import catalog_entry
from casebook.systems.facebook_newsfeed import api, capacity, demo, home, pages
from casebook.systems.facebook_newsfeed.config import NewsfeedSettings

SLUG = "facebook-newsfeed"


def _api_router() -> APIRouter:
    router = mount.api_router(SLUG)
    router.include_router(api.router)
    return router


async def _start(platform: Platform) -> None:
    platform.state[home.STATE_KEY] = NewsfeedSettings()
    await mount.startup(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)
    platform.state.pop(home.STATE_KEY, None)


SYSTEM = catalog_entry(SLUG).attach(
    api=_api_router(),
    pages=pages.router,
    capacity=capacity.CAPACITY,
    demo=demo.load_demo,
    realtime=mount.realtime_router(SLUG),
    on_startup=_start,
    on_shutdown=_stop,
    models_module="casebook.systems.facebook_newsfeed.models",
)
