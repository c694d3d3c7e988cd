"""CashApp (seed 001 §4): P2P payments and requests on a double-entry ledger, a Cash Card whose
number is tokenised, card purchases through a simulated card network with authorization holds,
and Cash Boost discounts on the purchase amount. See docs/systems/cashapp.md."""

from casebook.systems import catalog_entry
from casebook.systems.cashapp.api import router
from casebook.systems.cashapp.capacity import CAPACITY
from casebook.systems.cashapp.demo import load_demo
from casebook.systems.cashapp.pages import router as pages_router
from casebook.systems.cashapp.runtime import start

SYSTEM = catalog_entry("cashapp").attach(
    api=router,
    pages=pages_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    models_module="casebook.systems.cashapp.models",
)
