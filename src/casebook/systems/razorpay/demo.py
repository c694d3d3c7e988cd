"""Demo data: the shared demo account (`demo@example.com` / `casebook-demo`) as the merchant
"Demo Stores" with orders paid by card, UPI, net banking and wallet, one payment left
authorized (capture it from /razorpay/), a partial and a full refund, a settlement of what was
captured, and an open payment link.

Every payment goes through the real path: the router, the simulated gateways, the ledger. The
demo user's key secret is not kept (nobody would see it): create a key on the page.

Loading is idempotent: it does nothing once the demo user has a merchant account. The merchant
row is the marker and is committed first; if a load is cut short afterwards, a later load adds
nothing and the demo shows fewer items, never duplicates. A payment a (simulated) gateway fails
stays as a failed payment, and the steps that need it captured are skipped.
"""

from __future__ import annotations

from sqlalchemy import select

from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.razorpay import links, merchants, payments, settlements, webhooks
from casebook.systems.razorpay.gateways import Card, Instrument, Method
from casebook.systems.razorpay.models import Merchant, Payment
from casebook.systems.razorpay.runtime import razorpay

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "casebook-demo"
MERCHANT_NAME = "Demo Stores"
CARD = Card(number="4111111111111111", expiry_month=12, expiry_year=2099, cvv="123", name="Asha")
SALES: tuple[tuple[str, int, Instrument, bool], ...] = (
    ("rcpt-tea", 149_900, Instrument(Method.CARD, card=CARD), True),
    ("rcpt-mugs", 79_900, Instrument(Method.UPI, vpa="asha@okhdfc"), True),
    ("rcpt-book", 35_000, Instrument(Method.NETBANKING, bank="HDFC"), True),
    ("rcpt-lamp", 250_000, Instrument(Method.CARD, card=CARD), False),
)
"""(receipt, amount in paise, instrument, auto-capture); the last is left authorized."""


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the demo merchant with payments, refunds, a settlement and a link."""
    async with platform.db.session(write=True) as session:
        user_id = await session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
        if user_id is None:
            user = await register_user(
                session, DEMO_EMAIL, DEMO_PASSWORD, "Demo user", settings=platform.settings
            )
            user_id = user.id
        elif await session.scalar(select(Merchant.id).where(Merchant.user_id == user_id)):
            return
        merchant = await merchants.open_merchant(session, user_id, MERCHANT_NAME)
        await merchants.create_key(session, merchant.id)
        merchant_id = merchant.id
        orders = [
            await payments.create_order(
                session,
                merchant_id,
                amount=amount,
                currency="INR",
                receipt=receipt,
                notes={"demo": "true"},
                payment_capture=auto,
            )
            for receipt, amount, _, auto in SALES
        ]
        order_ids = [order.id for order in orders]
        await links.create_link(
            session,
            merchant_id,
            amount=129_900,
            currency="INR",
            accept_partial=True,
            first_min_partial_amount=50_000,
            description="Yoga mat (demo link)",
            customer={"name": "Asha", "email": "asha@example.com"},
            reference_id=None,
            expire_by=None,
            notes={},
            min_amount=payments.MIN_AMOUNT,
        )
    state = razorpay(platform)
    paid: list[Payment] = []
    for (_, amount, instrument, _), order_id in zip(SALES, order_ids, strict=True):
        payment, _ = await payments.create_payment(
            platform,
            state,
            merchant_id,
            payments.PaymentRequest(
                amount=amount,
                currency="INR",
                instrument=instrument,
                order_id=order_id,
                email="asha@example.com",
                contact="+919900000000",
                description="Demo purchase",
            ),
        )
        paid.append(payment)
    refunds = ((paid[1], 20_000), (paid[2], None))  # part of the mugs, all of the book
    for payment, refund in refunds:
        if payment.status != "captured":
            continue
        async with platform.db.session(write=True) as session:
            _, deliveries = await payments.refund_payment(
                session, merchant_id, payment.id, refund, receipt="demo-refund"
            )
        await webhooks.dispatch(platform, deliveries)
    today = utcnow().date()
    await settlements.settle(platform.db, today, today, merchant_id=merchant_id)
