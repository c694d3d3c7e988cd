"""Kickstarter (seed 004 §7): all-or-nothing crowdfunding on the ledger. Pledges are holds on
backers' wallets, settled exactly once at the deadline: captured to the creator (less the
platform fee) when the goal is met, voided when it is not. See docs/systems/kickstarter.md."""

from casebook.systems import catalog_entry
from casebook.systems.kickstarter.api import router
from casebook.systems.kickstarter.capacity import CAPACITY
from casebook.systems.kickstarter.demo import load_demo
from casebook.systems.kickstarter.pages import router as pages_router
from casebook.systems.kickstarter.runtime import start, stop

SYSTEM = catalog_entry("kickstarter").attach(
    api=router,
    pages=pages_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    on_shutdown=stop,
    models_module="casebook.systems.kickstarter.models",
)
