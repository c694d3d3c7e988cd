"""Facebook Newsfeed (seed 000 §1), as far as this session builds it: the feed engine mounted for
the system — graph, posts with audiences, hybrid fan-out, chronological and ranked home feeds,
and live updates on `/ws/facebook-newsfeed`. Ads, A/B tests, analytics and pages come with the
system itself. See docs/engines/feed.md."""

from casebook.engines.feed import mount
from casebook.platform.context import Platform
from casebook.systems import catalog_entry

SLUG = "facebook-newsfeed"


async def _start(platform: Platform) -> None:
    await mount.startup(platform, SLUG)


async def _stop(platform: Platform) -> None:
    await mount.shutdown(platform, SLUG)


SYSTEM = catalog_entry(SLUG).attach(
    api=mount.api_router(SLUG),
    realtime=mount.realtime_router(SLUG),
    on_startup=_start,
    on_shutdown=_stop,
)
