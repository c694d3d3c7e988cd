"""Hacker News (seed 003 §9): submissions with duplicate-URL detection, one vote per user per
item, karma, the HN ranking formula kept incrementally, threaded comments ranked within their
thread, flags that kill, limits for new accounts, live item pages and a compatible subset of the
official HN API. See docs/systems/hacker-news.md."""

from casebook.systems import catalog_entry
from casebook.systems.hacker_news.api import router
from casebook.systems.hacker_news.capacity import CAPACITY
from casebook.systems.hacker_news.demo import load_demo
from casebook.systems.hacker_news.live import realtime_router
from casebook.systems.hacker_news.pages import router as pages_router
from casebook.systems.hacker_news.runtime import start, stop

SLUG = "hacker-news"

SYSTEM = catalog_entry(SLUG).attach(
    api=router,
    realtime=realtime_router(),
    pages=pages_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    on_shutdown=stop,
    models_module="casebook.systems.hacker_news.models",
)
