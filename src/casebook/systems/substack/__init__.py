"""Substack (seed 003 §7): publications, Markdown posts (sanitized), drafts and scheduling, free
and paid subscriptions on the ledger, newsletters over real SMTP with one-click unsubscribe,
bounces, RSS and open/click analytics, and pages for readers and writers. See
docs/systems/substack.md."""

from casebook.systems import catalog_entry
from casebook.systems.substack.api import router
from casebook.systems.substack.capacity import CAPACITY
from casebook.systems.substack.demo import load_demo
from casebook.systems.substack.pages import router as pages_router
from casebook.systems.substack.runtime import start, stop

SYSTEM = catalog_entry("substack").attach(
    api=router,
    pages=pages_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    on_shutdown=stop,
    models_module="casebook.systems.substack.models",
)
