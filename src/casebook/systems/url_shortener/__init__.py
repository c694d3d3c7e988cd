"""URL Shortener (seed 003 §1): short codes that never collide, cache-first redirects, click
analytics off the hot path, custom aliases and domains, scoped API keys. See
docs/systems/url-shortener.md."""

from casebook.systems import catalog_entry
from casebook.systems.url_shortener.api import router
from casebook.systems.url_shortener.capacity import CAPACITY
from casebook.systems.url_shortener.demo import load_demo
from casebook.systems.url_shortener.pages import router as pages_router
from casebook.systems.url_shortener.redirect import build_fast_path
from casebook.systems.url_shortener.runtime import ready, start, stop

SYSTEM = catalog_entry("url-shortener").attach(
    api=router,
    capacity=CAPACITY,
    pages=pages_router,
    fast_path=build_fast_path,
    on_startup=start,
    on_shutdown=stop,
    on_ready=ready,
    demo=load_demo,
    models_module="casebook.systems.url_shortener.models",
)
