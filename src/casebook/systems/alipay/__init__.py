"""Alipay (seed 002 §5): a CNY wallet on the ledger, transfers, merchant payments by signed
single-use QR codes, bills, a money-market fund with daily yield, and top-ups/withdrawals through a
simulated bank reconciled daily. See docs/systems/alipay.md."""

from casebook.systems import catalog_entry
from casebook.systems.alipay.api import router
from casebook.systems.alipay.capacity import CAPACITY
from casebook.systems.alipay.demo import load_demo
from casebook.systems.alipay.pages import router as pages_router
from casebook.systems.alipay.runtime import start

SYSTEM = catalog_entry("alipay").attach(
    api=router,
    capacity=CAPACITY,
    pages=pages_router,
    demo=load_demo,
    on_startup=start,
    models_module="casebook.systems.alipay.models",
)
