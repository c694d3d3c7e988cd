"""Razorpay (seed 003 §3): a payment gateway with a Razorpay-compatible API (the official SDK
works against it), a payment state machine on the ledger, smart routing over simulated
acquirers, refunds bounded by the captured amount under concurrency, signed webhooks, payment
links, subscriptions billed by a job, and settlements with reconciliation reports. See
docs/systems/razorpay.md."""

from casebook.systems import catalog_entry
from casebook.systems.razorpay.api import router
from casebook.systems.razorpay.capacity import CAPACITY
from casebook.systems.razorpay.demo import load_demo
from casebook.systems.razorpay.pages import router as pages_router
from casebook.systems.razorpay.runtime import start

SYSTEM = catalog_entry("razorpay").attach(
    api=router,
    pages=pages_router,
    capacity=CAPACITY,
    demo=load_demo,
    on_startup=start,
    models_module="casebook.systems.razorpay.models",
)
