"""Stock Exchange (seed 000 §2): members and their traders, KYC/AML gates, price-time matching on
the matching engine, T+0 settlement in the ledger, market data, surveillance and reports. See
docs/systems/stock-exchange.md."""

from casebook.systems import catalog_entry
from casebook.systems.stock_exchange.api import router
from casebook.systems.stock_exchange.capacity import CAPACITY
from casebook.systems.stock_exchange.demo import load_demo
from casebook.systems.stock_exchange.pages import router as pages_router
from casebook.systems.stock_exchange.realtime import router as realtime_router
from casebook.systems.stock_exchange.runtime import start, stop

SYSTEM = catalog_entry("stock-exchange").attach(
    api=router,
    pages=pages_router,
    realtime=realtime_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    on_shutdown=stop,
    models_module="casebook.systems.stock_exchange.models",
)
