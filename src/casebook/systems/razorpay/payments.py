"""Orders, payments, captures and refunds: Razorpay's payment state machine on the ledger.

    created ──authorize──▶ authorized ──capture──▶ captured ──refund (all)──▶ refunded
       │                      │                        └── refund (part) ──▶ captured (partial)
       └──decline/error──▶ failed                      (authorization expiry releases the hold)

Money, per payment (accounts in `merchants`):

- authorize: a PENDING ledger transfer from the gateway's clearing account to the merchant's
  balance, timing out after `authorization_hold_seconds` (the hold expiry job releases it);
- capture: the POST of that hold, then the fee (2 % + GST) from the balance to Razorpay's fees;
- refund: a transfer from the balance back to the clearing account.

Every transfer id is chosen when the payment or refund row is written and stored on it, so a
retried step finds the transfer already made (`Outcome.EXISTS`) instead of posting twice.

Concurrency: capture and refund run in a write session and take the payment row with
`SELECT … FOR UPDATE` (PostgreSQL; SQLite's write session holds the database lock), and the
change itself is one conditional UPDATE — `status = 'authorized'` for a capture,
`amount_refunded + :amount <= amount` for a refund — so two captures cannot both succeed and
concurrent refunds can never add up to more than was captured.

Authorization calls the (simulated) gateways, which may take seconds, so it holds no
transaction while it waits: the order is checked in a short read, the router is asked, and the
outcome is written in one short write transaction that re-checks the order under lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import (
    InsufficientFunds,
    Ledger,
    Outcome,
    Transfer,
    TransferKind,
    TransferRefused,
)
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.razorpay import links, merchants, publicids, subscriptions, webhooks
from casebook.systems.razorpay.entities import order_entity, payment_entity, refund_entity
from casebook.systems.razorpay.errors import (
    BadPaymentRequest,
    EntityNotFound,
    IllegalTransition,
    RefundExceedsCaptured,
)
from casebook.systems.razorpay.gateways import Approved, Card, Declined, Instrument, Method
from casebook.systems.razorpay.models import Order, Payment, Plan, Refund, Subscription
from casebook.systems.razorpay.runtime import Razorpay

CURRENCIES = frozenset({"INR", "USD", "EUR"})
MIN_AMOUNT = 100
"""Razorpay's minimum payment: 100 paise (₹1)."""
MAX_AMOUNT = 10**12


@dataclass(frozen=True)
class PaymentRequest:
    """A customer's payment attempt (Razorpay's S2S `POST /v1/payments/create/json`)."""

    amount: int
    currency: str
    instrument: Instrument
    order_id: int | None = None
    email: str | None = None
    contact: str | None = None
    description: str | None = None
    notes: dict[str, Any] | None = None
    capture: bool | None = None
    """Without an order: capture at once? None takes the default (manual capture)."""
    link_id: int | None = None
    """The payment link this pays (part of); such payments are captured at once."""
    subscription_cycle: tuple[int, int] | None = None
    """(subscription id, cycle) this charges; such payments are captured at once."""


def check_amount(amount: int, currency: str, field: str = "amount") -> None:
    if currency not in CURRENCIES:
        raise BadPaymentRequest(
            f"The currency {currency!r} is not supported; use one of {sorted(CURRENCIES)}.",
            "currency",
        )
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise BadPaymentRequest(
            f"The amount must be at least {MIN_AMOUNT} (₹1) and at most {MAX_AMOUNT}, in the "
            "currency's smallest unit.",
            field,
        )


def decode_id(prefix: str, public_id: str) -> int:
    value = publicids.decode(prefix, public_id)
    if value is None:
        raise EntityNotFound()
    return value


# Orders


async def create_order(
    session: AsyncSession,
    merchant_id: int,
    *,
    amount: int,
    currency: str,
    receipt: str | None,
    notes: dict[str, Any],
    payment_capture: bool,
) -> Order:
    """A new order the customer pays once; `payment_capture` turns on auto-capture."""
    check_amount(amount, currency)
    order = Order(
        id=new_id(),
        merchant_id=merchant_id,
        amount=amount,
        currency=currency,
        receipt=receipt,
        notes=notes,
        payment_capture=payment_capture,
        status="created",
        attempts=0,
        amount_paid=0,
    )
    session.add(order)
    await session.flush()
    return order


async def owned_order(
    session: AsyncSession, merchant_id: int, order_id: int, *, lock: bool = False
) -> Order:
    """The merchant's order; another merchant's is answered like a missing one."""
    statement = select(Order).where(Order.id == order_id, Order.merchant_id == merchant_id)
    if lock:
        statement = statement.with_for_update()
    order = await session.scalar(statement)
    if order is None:
        raise EntityNotFound()
    return order


async def list_orders(
    session: AsyncSession, merchant_id: int, count: int, skip: int
) -> Sequence[Order]:
    return (
        await session.scalars(
            select(Order)
            .where(Order.merchant_id == merchant_id)
            .order_by(Order.id.desc())
            .limit(count)
            .offset(skip)
        )
    ).all()


# Payments


async def owned_payment(
    session: AsyncSession, merchant_id: int, payment_id: int, *, lock: bool = False
) -> Payment:
    statement = select(Payment).where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
    if lock:
        statement = statement.with_for_update()
    payment = await session.scalar(statement)
    if payment is None:
        raise EntityNotFound()
    return payment


async def list_payments(
    session: AsyncSession,
    merchant_id: int,
    count: int,
    skip: int,
    *,
    order_id: int | None = None,
) -> Sequence[Payment]:
    statement = select(Payment).where(Payment.merchant_id == merchant_id)
    if order_id is not None:
        statement = statement.where(Payment.order_id == order_id)
    return (
        await session.scalars(statement.order_by(Payment.id.desc()).limit(count).offset(skip))
    ).all()


async def payments_of_link(session: AsyncSession, link_id: int) -> Sequence[Payment]:
    """The payments made on a payment link, oldest first."""
    return (
        await session.scalars(
            select(Payment).where(Payment.link_id == link_id).order_by(Payment.id).limit(1000)
        )
    ).all()


def _check_payable_order(order: Order, request: PaymentRequest) -> None:
    if order.status == "paid":
        raise IllegalTransition("Order has already been paid.")
    if request.amount != order.amount or request.currency != order.currency:
        raise BadPaymentRequest(
            "The payment amount and currency must match the order's "
            f"({order.amount} {order.currency}).",
            "amount",
        )


async def create_payment(
    platform: Platform, state: Razorpay, merchant_id: int, request: PaymentRequest
) -> tuple[Payment, Order | None]:
    """Authorize a payment at the best gateway (failing over), then write the outcome.

    Returns the payment (authorized, captured when auto-captured, or failed with its error) and
    its order. Raises BadPaymentRequest / EntityNotFound / IllegalTransition before any money
    moves. Cost: one short read, the gateway round trips, one short write transaction.
    """
    check_amount(request.amount, request.currency)
    if request.order_id is not None:
        async with platform.db.session() as session:
            _check_payable_order(await owned_order(session, merchant_id, request.order_id), request)
    if request.link_id is not None:
        async with platform.db.session() as session:
            link = await links.get_link(session, request.link_id, merchant_id)
            links.check_payable(link, request.amount, request.currency, MIN_AMOUNT)
    result = await state.router.authorize(
        request.instrument, request.amount, request.currency, utcnow().date()
    )
    instrument = request.instrument
    card = instrument.card
    payment = Payment(
        id=new_id(),
        merchant_id=merchant_id,
        order_id=request.order_id,
        link_id=request.link_id,
        subscription_id=request.subscription_cycle[0] if request.subscription_cycle else None,
        amount=request.amount,
        currency=request.currency,
        method=instrument.method.value,
        status="created",
        amount_refunded=0,
        fee=0,
        tax=0,
        gateway=result.gateway,
        card_token=publicids.encode("card", new_id()) if card else None,
        card_last4=card.last4 if card else None,
        card_network=card.network if card else None,
        vpa=instrument.vpa,
        bank=instrument.bank,
        wallet=instrument.wallet,
        email=request.email,
        contact=request.contact,
        description=request.description,
        notes=request.notes or {},
        hold_transfer_id=new_id(),
        capture_transfer_id=new_id(),
        fee_transfer_id=new_id(),
    )
    deliveries: list[int] = []
    async with platform.db.session(write=True) as session:
        order = None
        if request.order_id is not None:
            order = await owned_order(session, merchant_id, request.order_id, lock=True)
            await session.execute(
                update(Order)
                .where(Order.id == order.id)
                .values(
                    attempts=Order.attempts + 1,
                    status=case((Order.status == "created", "attempted"), else_=Order.status),
                )
            )
            await session.refresh(order)
        decision = result.decision
        if isinstance(decision, Approved):
            if request.link_id is not None:
                # Claimed before any money moves: a payment that would overpay rolls back.
                await links.claim(session, request.link_id, request.amount)
            await _authorize(session, state, payment, decision.reference)
            if request.subscription_cycle is not None:
                await _claim_cycle(session, payment, *request.subscription_cycle)
            deliveries += await webhooks.record_event(
                session, merchant_id, "payment.authorized", {"payment": payment_entity(payment)}
            )
            auto_capture = (
                order.payment_capture and order.status != "paid"
                if order is not None
                else bool(request.capture)
                or request.link_id is not None
                or request.subscription_cycle is not None
            )
            if auto_capture:
                deliveries += await _capture(session, state, payment)
        else:
            payment.status = "failed"
            if isinstance(decision, Declined):
                payment.error_code, payment.error_description = decision.code, decision.reason
            else:
                payment.error_code = "GATEWAY_ERROR"
                payment.error_description = "payment_failed_at_every_gateway"
            session.add(payment)
            await session.flush()
            deliveries += await webhooks.record_event(
                session, merchant_id, "payment.failed", {"payment": payment_entity(payment)}
            )
        if order is not None:
            await session.refresh(order)
    await webhooks.dispatch(platform, deliveries)
    return payment, order


async def _authorize(
    session: AsyncSession, state: Razorpay, payment: Payment, reference: str
) -> None:
    """Write an approved authorization: the payment row and its ledger hold."""
    ledger = Ledger(session)
    assert payment.gateway is not None
    clearing = await merchants.clearing_account(ledger, payment.gateway, payment.currency)
    balance = await merchants.balance_account(ledger, payment.merchant_id, payment.currency)
    payment.status = "authorized"
    payment.gateway_reference = reference
    payment.authorized_at = utcnow()
    session.add(payment)
    await session.flush()
    await ledger.transfer(
        Transfer(
            id=payment.hold_transfer_id,
            debit_account_id=clearing.id,
            credit_account_id=balance.id,
            amount=payment.amount,
            kind=TransferKind.PENDING,
            timeout=state.config.authorization_hold_seconds,
            code="authorize",
            reference=publicids.encode("pay", payment.id),
        )
    )


async def _claim_cycle(
    session: AsyncSession, payment: Payment, subscription_id: int, cycle: int
) -> None:
    """Mark the billing cycle paid by `payment`, in its transaction (see `subscriptions`)."""
    subscription = await session.get(Subscription, subscription_id, populate_existing=True)
    assert subscription is not None
    plan = await session.get(Plan, subscription.plan_id)
    assert plan is not None
    await subscriptions.claim_cycle(session, plan, subscription, cycle, payment.id)


def fees_for(state: Razorpay, amount: int) -> tuple[int, int]:
    """(fee including tax, tax) Razorpay keeps from a captured `amount`, rounded half up."""
    base = (amount * state.config.fee_basis_points + 5_000) // 10_000
    tax = (base * state.config.gst_basis_points + 5_000) // 10_000
    return base + tax, tax


async def _capture(session: AsyncSession, state: Razorpay, payment: Payment) -> list[int]:
    """Capture an authorized payment already locked by the caller; returns webhook deliveries.

    Raises IllegalTransition if another capture won the race or the authorization expired.
    """
    changed = await session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == "authorized")
        .values(status="captured", captured_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise IllegalTransition("This payment has already been captured.")
    fee, tax = fees_for(state, payment.amount)
    ledger = Ledger(session)
    try:
        await ledger.transfer(
            Transfer(
                id=payment.capture_transfer_id,
                kind=TransferKind.POST,
                pending_id=payment.hold_transfer_id,
                code="capture",
                reference=publicids.encode("pay", payment.id),
            )
        )
    except TransferRefused as refused:
        if refused.outcome in (
            Outcome.PENDING_TRANSFER_EXPIRED,
            Outcome.PENDING_TRANSFER_ALREADY_VOIDED,
        ):
            raise IllegalTransition(
                "The authorization has expired; the payment can no longer be captured."
            ) from None
        raise
    if fee:
        balance = await merchants.balance_account(ledger, payment.merchant_id, payment.currency)
        fees = await merchants.fees_account(ledger, payment.currency)
        await ledger.transfer(
            Transfer(
                id=payment.fee_transfer_id,
                debit_account_id=balance.id,
                credit_account_id=fees.id,
                amount=fee,
                code="fee",
                reference=publicids.encode("pay", payment.id),
            )
        )
    await session.execute(update(Payment).where(Payment.id == payment.id).values(fee=fee, tax=tax))
    await session.refresh(payment)
    deliveries = await webhooks.record_event(
        session, payment.merchant_id, "payment.captured", {"payment": payment_entity(payment)}
    )
    if payment.order_id is not None:
        await session.execute(
            update(Order)
            .where(Order.id == payment.order_id)
            .values(status="paid", amount_paid=Order.amount)
        )
        order = await session.get(Order, payment.order_id)
        assert order is not None
        await session.refresh(order)
        deliveries += await webhooks.record_event(
            session,
            payment.merchant_id,
            "order.paid",
            {"payment": payment_entity(payment), "order": order_entity(order)},
        )
    return deliveries


async def capture_payment(
    session: AsyncSession,
    state: Razorpay,
    merchant_id: int,
    payment_id: int,
    amount: int,
    currency: str | None,
) -> tuple[Payment, list[int]]:
    """Capture the merchant's authorized payment for its full amount (Razorpay's rule).

    Raises EntityNotFound, BadPaymentRequest (amount or currency differ) or IllegalTransition
    (not authorized: failed, already captured, expired). Returns the payment and the webhook
    deliveries to dispatch after commit.
    """
    payment = await owned_payment(session, merchant_id, payment_id, lock=True)
    if payment.status != "authorized":
        if payment.status in ("captured", "refunded"):
            raise IllegalTransition("This payment has already been captured.")
        raise IllegalTransition(
            f"Only authorized payments can be captured; this payment is {payment.status}."
        )
    if currency is not None and currency != payment.currency:
        raise BadPaymentRequest("The currency should be the payment's currency.", "currency")
    if amount != payment.amount:
        raise BadPaymentRequest("Capture amount must be equal to the amount authorized.", "amount")
    deliveries = await _capture(session, state, payment)
    return payment, deliveries


# Refunds


async def refund_payment(
    session: AsyncSession,
    merchant_id: int,
    payment_id: int,
    amount: int | None,
    *,
    receipt: str | None = None,
    notes: dict[str, Any] | None = None,
) -> tuple[Refund, list[int]]:
    """Refund `amount` (None: all that is left) of the merchant's captured payment.

    The refunded total can never exceed the captured amount, whatever the concurrency: one
    conditional UPDATE adds the amount only while `amount_refunded + amount <= amount`. Raises
    EntityNotFound, IllegalTransition (not captured), RefundExceedsCaptured, BadPaymentRequest
    (the merchant's balance cannot cover it).
    """
    payment = await owned_payment(session, merchant_id, payment_id, lock=True)
    if payment.status not in ("captured", "refunded"):
        raise IllegalTransition(
            f"Only captured payments can be refunded; this payment is {payment.status}."
        )
    remaining = payment.amount - payment.amount_refunded
    if amount is None:
        amount = remaining
    if amount <= 0 or remaining == 0:
        raise RefundExceedsCaptured("The payment has already been fully refunded.")
    if amount > remaining:
        raise RefundExceedsCaptured(
            f"The refund amount ({amount}) is more than what is left to refund ({remaining})."
        )
    changed = await session.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.status.in_(("captured", "refunded")),
            Payment.amount_refunded + amount <= Payment.amount,
        )
        .values(
            amount_refunded=Payment.amount_refunded + amount,
            status=case(
                (Payment.amount_refunded + amount == Payment.amount, "refunded"),
                else_=Payment.status,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise RefundExceedsCaptured("The refund amount is more than what is left to refund.")
    refund = Refund(
        id=new_id(),
        merchant_id=merchant_id,
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        status="processed",
        receipt=receipt,
        notes=notes or {},
        transfer_id=new_id(),
    )
    ledger = Ledger(session)
    assert payment.gateway is not None
    balance = await merchants.balance_account(ledger, merchant_id, payment.currency)
    clearing = await merchants.clearing_account(ledger, payment.gateway, payment.currency)
    try:
        await ledger.transfer(
            Transfer(
                id=refund.transfer_id,
                debit_account_id=balance.id,
                credit_account_id=clearing.id,
                amount=amount,
                code="refund",
                reference=publicids.encode("rfnd", refund.id),
            )
        )
    except InsufficientFunds:
        raise BadPaymentRequest(
            "Your balance is insufficient to process this refund.", "amount"
        ) from None
    session.add(refund)
    await session.flush()
    await session.refresh(payment)
    deliveries = await webhooks.record_event(
        session,
        merchant_id,
        "refund.processed",
        {"refund": refund_entity(refund), "payment": payment_entity(payment)},
    )
    return refund, deliveries


async def owned_refund(session: AsyncSession, merchant_id: int, refund_id: int) -> Refund:
    refund = await session.scalar(
        select(Refund).where(Refund.id == refund_id, Refund.merchant_id == merchant_id)
    )
    if refund is None:
        raise EntityNotFound()
    return refund


async def list_refunds(
    session: AsyncSession,
    merchant_id: int,
    count: int,
    skip: int,
    *,
    payment_id: int | None = None,
) -> Sequence[Refund]:
    statement = select(Refund).where(Refund.merchant_id == merchant_id)
    if payment_id is not None:
        statement = statement.where(Refund.payment_id == payment_id)
    return (
        await session.scalars(statement.order_by(Refund.id.desc()).limit(count).offset(skip))
    ).all()


def instrument_from(method: str, fields: dict[str, Any]) -> Instrument:
    """The instrument a payment request describes; raises BadPaymentRequest when incomplete."""
    try:
        kind = Method(method)
    except ValueError:
        raise BadPaymentRequest(
            f"The method {method!r} is not one of card, upi, netbanking, wallet.", "method"
        ) from None
    if kind is Method.CARD:
        card = fields.get("card")
        if not isinstance(card, dict):
            raise BadPaymentRequest("A card payment needs the card details.", "card")
        try:
            return Instrument(
                kind,
                card=Card(
                    number=str(card["number"]).replace(" ", ""),
                    expiry_month=int(card["expiry_month"]),
                    expiry_year=int(card["expiry_year"]),
                    cvv=str(card["cvv"]),
                    name=str(card.get("name", "")),
                ),
            )
        except (KeyError, ValueError, TypeError):
            raise BadPaymentRequest(
                "The card needs number, expiry_month, expiry_year and cvv.", "card"
            ) from None
    if kind is Method.UPI:
        vpa = fields.get("vpa")
        if not isinstance(vpa, str) or not vpa:
            raise BadPaymentRequest("A UPI payment needs the customer's VPA.", "vpa")
        return Instrument(kind, vpa=vpa)
    if kind is Method.NETBANKING:
        bank = fields.get("bank")
        if not isinstance(bank, str) or not bank:
            raise BadPaymentRequest("A net-banking payment needs a bank code.", "bank")
        return Instrument(kind, bank=bank.upper())
    wallet = fields.get("wallet")
    if not isinstance(wallet, str) or not wallet:
        raise BadPaymentRequest("A wallet payment needs the wallet's name.", "wallet")
    return Instrument(kind, wallet=wallet.lower())
