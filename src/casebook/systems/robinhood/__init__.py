"""Robinhood (seed 001 §2): a commission-free broker on the Stock Exchange — onboarding with
KYC/AML, fractional and dollar orders filled from the exchange through one house account and
the house's fractional inventory, exact to the cent in the ledger; quotes, charts, news,
watchlists and portfolio value over time. See docs/systems/robinhood.md."""

from casebook.systems import catalog_entry
from casebook.systems.robinhood.api import router
from casebook.systems.robinhood.capacity import CAPACITY
from casebook.systems.robinhood.demo import load_demo
from casebook.systems.robinhood.house import start, stop
from casebook.systems.robinhood.pages import router as pages_router

SYSTEM = catalog_entry("robinhood").attach(
    api=router,
    pages=pages_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    on_shutdown=stop,
    models_module="casebook.systems.robinhood.models",
)
