"""Binance (seed 004 §2): a crypto spot exchange on the matching engine (venue "binance"), a
Binance-compatible signed REST API and streams, custodial wallets on a simulated chain, and an
on-chain DEX. See docs/systems/binance.md."""

from casebook.systems import catalog_entry
from casebook.systems.binance.api import router
from casebook.systems.binance.capacity import CAPACITY
from casebook.systems.binance.demo import load_demo
from casebook.systems.binance.pages import router as pages_router
from casebook.systems.binance.runtime import start, stop
from casebook.systems.binance.streams import router as realtime_router

SYSTEM = catalog_entry("binance").attach(
    api=router,
    pages=pages_router,
    realtime=realtime_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    on_shutdown=stop,
    models_module="casebook.systems.binance.models",
)
