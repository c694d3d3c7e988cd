"""Zerodha (seed 000 §3): a broker that is a member of the Stock Exchange. Client onboarding with
KYC attested to the exchange, funds, an OMS on the exchange's venue, zero brokerage on delivery and
charges on intraday posted in the ledger, holdings vs positions, and a Kite Connect compatible API.
See docs/systems/zerodha.md."""

from casebook.systems import catalog_entry
from casebook.systems.zerodha.api import router
from casebook.systems.zerodha.capacity import CAPACITY
from casebook.systems.zerodha.demo import load_demo
from casebook.systems.zerodha.kite import kite_fast_path
from casebook.systems.zerodha.pages import router as pages_router
from casebook.systems.zerodha.runtime import start, stop
from casebook.systems.zerodha.ticker import router as ticker_router

SYSTEM = catalog_entry("zerodha").attach(
    api=router,
    pages=pages_router,
    realtime=ticker_router,
    fast_path=kite_fast_path,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    on_shutdown=stop,
    models_module="casebook.systems.zerodha.models",
)
