"""`/api/razorpay/v1`: the Razorpay-compatible merchant API, authenticated by key id + secret.

The official SDK works against it when pointed here:

    client = razorpay.Client(auth=(key_id, key_secret), base_url="http://host/api/razorpay")
    order = client.order.create({"amount": 50000, "currency": "INR", "receipt": "r1"})
    client.payment.capture(payment_id, 50000)
    client.payment.refund(payment_id, {"amount": 10000})
    client.refund.fetch(refund_id)

Entities, ids, amounts (paise) and status strings are Razorpay's. Every error is answered with
Razorpay's error object (`{"error": {"code": "BAD_REQUEST_ERROR", "description": …}}`, which the
SDKs turn into `BadRequestError`) inside an RFC 9457 problem+json body, so both kinds of client
read it. Lists take Razorpay's `count` (1-100, default 10) and `skip`.

Idempotency: the POSTs that create something or move money (orders, payments, capture, refunds,
payment links, plans, subscriptions, customers) honour `Idempotency-Key`, keyed by merchant: a
retry with the same key and body replays the first answer (`Idempotent-Replayed: true`) and moves
no money twice; the same key with another body is refused (422). With the SDK:
`client.order.create(data, headers={"Idempotency-Key": key})`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.idempotency import idempotent_for
from casebook.systems.razorpay import (
    customers,
    links,
    payments,
    publicids,
    settlements,
    subscriptions,
    webhooks,
)
from casebook.systems.razorpay.entities import (
    collection,
    customer_entity,
    order_entity,
    payment_entity,
    payment_link_entity,
    plan_entity,
    refund_entity,
    settlement_entity,
    subscription_entity,
    token_entity,
    webhook_entity,
)
from casebook.systems.razorpay.errors import BadPaymentRequest
from casebook.systems.razorpay.gateways import Card, Instrument, Method
from casebook.systems.razorpay.merchants import BasicMerchant, merchant_owner
from casebook.systems.razorpay.models import Customer, PaymentLink, Subscription
from casebook.systems.razorpay.runtime import Razorpay, razorpay


def razorpay_error_body(problem: Problem, instance: str) -> dict[str, Any]:
    """`problem` as problem+json with Razorpay's `error` object alongside."""
    body = problem.body(instance)
    code = "SERVER_ERROR" if problem.status >= 500 else "BAD_REQUEST_ERROR"
    body["error"] = {
        "code": code,
        "description": problem.detail,
        "source": "business" if problem.status < 500 else "internal",
        "step": None,
        "reason": problem.type_.rsplit("/", 1)[-1].replace("-", "_"),
        "metadata": {},
        "field": problem.extensions.get("field"),
    }
    return body


class RazorpayError(Problem):
    """A problem of the `/v1` API: the same status and headers, rendered by the platform's
    handler with Razorpay's `error` object (see `razorpay_error_body`)."""

    def __init__(self, inner: Problem) -> None:
        self.inner = inner
        self.status = inner.status
        self.type_ = inner.type_
        self.title = inner.title
        super().__init__(inner.detail, **inner.extensions)

    def headers(self) -> dict[str, str]:
        return self.inner.headers()

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return razorpay_error_body(self.inner, instance or "")


class RazorpayRoute(APIRoute):
    """Renders every error of its endpoint (domain, auth, validation) in Razorpay's shape.

    The error is re-raised (wrapped), never turned into a response here: it must pass back
    through the endpoint's session dependency so the transaction rolls back.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                raise RazorpayError(_invalid_input(exc)) from None
            except RazorpayError:
                raise
            except Problem as exc:
                raise RazorpayError(exc) from None

        return route_handler


def _invalid_input(exc: RequestValidationError) -> InvalidInput:
    errors = exc.errors()
    first = errors[0] if errors else {}
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(location)
    message = str(first.get("msg", "invalid"))
    detail = f"{field}: {message}" if field else message
    return InvalidInput(detail, field=field or None)


router = APIRouter(route_class=RazorpayRoute)

PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_state(platform: PlatformDep) -> Razorpay:
    return razorpay(platform)


State = Annotated[Razorpay, Depends(get_state)]


async def _idempotency_owner(merchant: BasicMerchant) -> str:
    return merchant_owner(merchant.merchant_id)


MerchantIdempotent = idempotent_for(_idempotency_owner)
"""`Idempotency-Key` on the merchant API: keys belong to the merchant (all its key pairs)."""
Count = Annotated[int, Query(ge=1, le=100, description="Items per page (Razorpay `count`).")]
Skip = Annotated[int, Query(ge=0, le=10_000, description="Items to skip (Razorpay `skip`).")]
Notes = dict[str, str | int | float | bool | None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderCreate(_Strict):
    amount: int
    currency: str = Field("INR", min_length=3, max_length=3)
    receipt: str | None = Field(None, max_length=40)
    notes: Notes = Field(default_factory=dict, max_length=15)
    payment_capture: bool | Literal[0, 1] = True
    partial_payment: bool = False


class CardIn(_Strict):
    number: str = Field(min_length=12, max_length=23)
    expiry_month: int = Field(ge=1, le=12)
    expiry_year: int = Field(ge=2000, le=2100)
    cvv: str = Field(pattern=r"^[0-9]{3,4}$")
    name: str = Field("", max_length=100)


class PaymentCreate(BaseModel):
    """Razorpay's S2S payment (extra fields such as `ip` or `callback_url` are ignored)."""

    model_config = ConfigDict(extra="ignore")

    amount: int
    currency: str = Field("INR", min_length=3, max_length=3)
    order_id: str | None = Field(None, max_length=40)
    method: str = Field(max_length=16)
    card: CardIn | None = None
    vpa: str | None = Field(None, max_length=256)
    bank: str | None = Field(None, max_length=12)
    wallet: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)
    contact: str | None = Field(None, max_length=20)
    description: str | None = Field(None, max_length=255)
    notes: Notes = Field(default_factory=dict, max_length=15)
    capture: bool | None = None
    customer_details: dict[str, str] | None = Field(None, max_length=10)
    """The seed's name for email and contact (`{"email": …, "contact": …}`)."""
    customer_id: str | None = Field(None, max_length=40)
    save: bool | Literal[0, 1] = False
    """With `customer_id` and a card: save the card (tokenised) for the customer."""
    token: str | None = Field(None, max_length=40)
    """Pay with the customer's saved card (`token_…`), with `cvv` entered now."""
    cvv: str | None = Field(None, pattern=r"^[0-9]{3,4}$")


class CaptureIn(_Strict):
    amount: int
    currency: str | None = Field(None, min_length=3, max_length=3)


class RefundIn(_Strict):
    amount: int | None = None
    speed: Literal["normal", "optimum"] = "normal"
    receipt: str | None = Field(None, max_length=40)
    notes: Notes = Field(default_factory=dict, max_length=15)


class RefundCreate(RefundIn):
    payment_id: str = Field(max_length=40)


def _payment_request(body: PaymentCreate, saved: Card | None = None) -> payments.PaymentRequest:
    fields = body.model_dump()
    if body.card is not None:
        fields["card"] = body.card.model_dump()
    details = body.customer_details or {}
    order_id = payments.decode_id("order", body.order_id) if body.order_id else None
    if saved is not None and body.method != "card":
        raise BadPaymentRequest("A saved card pays with method card.", "method")
    return payments.PaymentRequest(
        amount=body.amount,
        currency=body.currency,
        instrument=Instrument(Method.CARD, card=saved)
        if saved is not None
        else payments.instrument_from(body.method, fields),
        order_id=order_id,
        email=body.email or details.get("email"),
        contact=body.contact or details.get("contact"),
        description=body.description,
        notes=dict(body.notes),
        capture=body.capture,
    )


# Orders


@router.post("/orders", dependencies=[MerchantIdempotent])
async def create_order(body: OrderCreate, merchant: BasicMerchant, session: Session) -> Any:
    """Create an order (`client.order.create`). `payment_capture` (default on) captures its
    payment as soon as it is authorized."""
    order = await payments.create_order(
        session,
        merchant.merchant_id,
        amount=body.amount,
        currency=body.currency,
        receipt=body.receipt,
        notes=dict(body.notes),
        payment_capture=bool(body.payment_capture),
    )
    return order_entity(order)


@router.get("/orders")
async def list_orders(
    merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your orders, newest first."""
    rows = await payments.list_orders(session, merchant.merchant_id, count, skip)
    return collection([order_entity(o) for o in rows])


@router.get("/orders/{order_id}")
async def fetch_order(order_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """One of your orders; another merchant's is answered as not existing."""
    order = await payments.owned_order(
        session, merchant.merchant_id, payments.decode_id("order", order_id)
    )
    return order_entity(order)


@router.get("/orders/{order_id}/payments")
async def order_payments(order_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """Every payment attempt of one of your orders."""
    order = await payments.owned_order(
        session, merchant.merchant_id, payments.decode_id("order", order_id)
    )
    rows = await payments.list_payments(session, merchant.merchant_id, 100, 0, order_id=order.id)
    return collection([payment_entity(p) for p in rows])


# Payments


async def _create_payment(
    body: PaymentCreate, merchant_id: int, platform: Platform, state: Razorpay
) -> dict[str, Any]:
    customer: Customer | None = None
    saved: Card | None = None
    if body.customer_id is not None:
        async with platform.db.session() as session:
            customer = await customers.owned_customer(
                session, merchant_id, payments.decode_id("cust", body.customer_id)
            )
            if body.token is not None:
                token = await customers.owned_token(
                    session, customer, payments.decode_id("token", body.token)
                )
                saved = await customers.card_of_token(session, state.vault, token, body.cvv or "")
    elif body.token is not None:
        raise BadPaymentRequest("A token is paid with its customer_id.", "customer_id")
    if body.save and (customer is None or body.card is None):
        raise BadPaymentRequest("Saving a card needs customer_id and the card.", "save")
    request = _payment_request(body, saved)
    payment, _ = await payments.create_payment(platform, state, merchant_id, request)
    entity = payment_entity(payment)
    entity["razorpay_payment_id"] = entity["id"]
    card = request.instrument.card
    if body.save and customer is not None and card is not None and payment.status != "failed":
        async with platform.db.session() as session:
            token = await customers.save_card(session, state.vault, customer, card, utcnow().date())
        entity["token_id"] = publicids.encode("token", token.id)
    return entity


@router.post("/payments/create/json", dependencies=[MerchantIdempotent])
async def create_payment_json(
    body: PaymentCreate, merchant: BasicMerchant, platform: PlatformDep, state: State
) -> Any:
    """Pay (`client.payment.createPaymentJson`): card, UPI VPA, net banking or wallet, routed to
    the most reliable gateway. Answers the payment: `authorized` (or `captured` with
    auto-capture), or `failed` with `error_code` and `error_description`."""
    return await _create_payment(body, merchant.merchant_id, platform, state)


@router.post("/payments", dependencies=[MerchantIdempotent])
async def create_payment(
    body: PaymentCreate, merchant: BasicMerchant, platform: PlatformDep, state: State
) -> Any:
    """The seed's `POST /v1/payments` ({amount, currency, method, customer_details}): the same
    as `/payments/create/json`."""
    return await _create_payment(body, merchant.merchant_id, platform, state)


@router.get("/payments")
async def list_payments(
    merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your payments, newest first (`client.payment.all`)."""
    rows = await payments.list_payments(session, merchant.merchant_id, count, skip)
    return collection([payment_entity(p) for p in rows])


@router.get("/payments/{payment_id}")
async def fetch_payment(payment_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """One of your payments: status, amount, method, customer, refunds so far."""
    payment = await payments.owned_payment(
        session, merchant.merchant_id, payments.decode_id("pay", payment_id)
    )
    return payment_entity(payment)


@router.post("/payments/{payment_id}/capture", dependencies=[MerchantIdempotent])
async def capture_payment(
    payment_id: str,
    body: CaptureIn,
    merchant: BasicMerchant,
    session: WriteSession,
    platform: PlatformDep,
    state: State,
) -> Any:
    """Capture an authorized payment for its full amount (`client.payment.capture`). A payment
    is captured once: a second capture, or a capture of a failed payment, is refused."""
    payment, deliveries = await payments.capture_payment(
        session,
        state,
        merchant.merchant_id,
        payments.decode_id("pay", payment_id),
        body.amount,
        body.currency,
    )
    entity = payment_entity(payment)
    await session.commit()
    await webhooks.dispatch(platform, deliveries)
    return entity


async def _refund(
    session: WriteSession, platform: Platform, merchant_id: int, payment_id: str, body: RefundIn
) -> dict[str, Any]:
    refund, deliveries = await payments.refund_payment(
        session,
        merchant_id,
        payments.decode_id("pay", payment_id),
        body.amount,
        receipt=body.receipt,
        notes=dict(body.notes),
    )
    entity = refund_entity(refund)
    await session.commit()
    await webhooks.dispatch(platform, deliveries)
    return entity


@router.post("/payments/{payment_id}/refund", dependencies=[MerchantIdempotent])
async def refund_payment(
    payment_id: str,
    body: RefundIn,
    merchant: BasicMerchant,
    session: WriteSession,
    platform: PlatformDep,
) -> Any:
    """Refund a captured payment fully (no amount) or partly (`client.payment.refund`). The
    refunds of a payment never add up to more than was captured, even when sent concurrently."""
    return await _refund(session, platform, merchant.merchant_id, payment_id, body)


@router.get("/payments/{payment_id}/refunds")
async def payment_refunds(payment_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """The refunds of one of your payments."""
    payment = await payments.owned_payment(
        session, merchant.merchant_id, payments.decode_id("pay", payment_id)
    )
    rows = await payments.list_refunds(session, merchant.merchant_id, 100, 0, payment_id=payment.id)
    return collection([refund_entity(r) for r in rows])


# Refunds


@router.post("/refunds", dependencies=[MerchantIdempotent])
async def create_refund(
    body: RefundCreate, merchant: BasicMerchant, session: WriteSession, platform: PlatformDep
) -> Any:
    """Refund by payment id in the body (`client.refund.create`)."""
    refund_body = RefundIn.model_validate(body.model_dump(exclude={"payment_id"}))
    return await _refund(session, platform, merchant.merchant_id, body.payment_id, refund_body)


@router.get("/refunds")
async def list_refunds(
    merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your refunds, newest first."""
    rows = await payments.list_refunds(session, merchant.merchant_id, count, skip)
    return collection([refund_entity(r) for r in rows])


@router.get("/refunds/{refund_id}")
async def fetch_refund(refund_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """One of your refunds (`client.refund.fetch`)."""
    refund = await payments.owned_refund(
        session, merchant.merchant_id, payments.decode_id("rfnd", refund_id)
    )
    return refund_entity(refund)


# Webhooks


class WebhookCreate(_Strict):
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s]+$")
    secret: str = Field(min_length=8, max_length=128)
    """Signs every delivery (`X-Razorpay-Signature`); the receiver checks it with the same."""
    events: list[str] = Field(min_length=1, max_length=len(webhooks.EVENTS))


@router.post("/webhooks")
async def create_webhook(body: WebhookCreate, merchant: BasicMerchant, session: Session) -> Any:
    """Register a URL for events (payment.authorized, payment.captured, payment.failed,
    refund.processed, order.paid, …). Deliveries are signed and retried with backoff."""
    hook = await webhooks.register(
        session, merchant.merchant_id, body.url, body.secret, body.events
    )
    return webhook_entity(hook)


@router.get("/webhooks")
async def list_webhooks(merchant: BasicMerchant, session: Session) -> Any:
    """Your webhooks (secrets are not shown)."""
    return collection(
        [webhook_entity(h) for h in await webhooks.merchant_webhooks(session, merchant.merchant_id)]
    )


@router.get("/events/{event_id}/deliveries")
async def event_deliveries(event_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """How the deliveries of one of your events went: status, attempts, last answer."""
    rows = await webhooks.deliveries_of(
        session, merchant.merchant_id, payments.decode_id("evt", event_id)
    )
    return collection(rows)


# Settlements and reconciliation


@router.get("/settlements")
async def list_settlements(
    merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your settlements, newest first (`client.settlement.all`)."""
    rows = await settlements.list_settlements(session, merchant.merchant_id, count, skip)
    return collection([settlement_entity(s) for s in rows])


def _month_range(year: int, month: int, day: int | None) -> tuple[date, date]:
    try:
        if day is not None:
            one = date(year, month, day)
            return one, one
        first = date(year, month, 1)
    except ValueError:
        raise InvalidInput("year, month and day do not name a date.", field="day") from None
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, date.fromordinal(following.toordinal() - 1)


@router.get("/settlements/recon/combined")
async def settlement_recon(
    merchant: BasicMerchant,
    session: Session,
    year: Annotated[int, Query(ge=2000, le=2100)],
    month: Annotated[int, Query(ge=1, le=12)],
    day: Annotated[int | None, Query(ge=1, le=31)] = None,
    count: Count = 10,
    skip: Skip = 0,
) -> Any:
    """Settled payments and refunds of a month or day (`client.settlement.report`): each with
    its amount, fee, tax and the settlement that paid it out."""
    start, end = _month_range(year, month, day)
    return collection(
        await settlements.recon_items(session, merchant.merchant_id, start, end, count, skip)
    )


@router.get("/settlements/{settlement_id}")
async def fetch_settlement(settlement_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """One of your settlements (`client.settlement.fetch`)."""
    row = await settlements.owned_settlement(
        session, merchant.merchant_id, payments.decode_id("setl", settlement_id)
    )
    return settlement_entity(row)


@router.get("/reconciliation")
async def reconciliation(
    merchant: BasicMerchant,
    session: Session,
    start: Annotated[date, Query(alias="from", description="First day (UTC), YYYY-MM-DD.")],
    end: Annotated[date, Query(alias="to", description="Last day (UTC), inclusive.")],
) -> Any:
    """Your reconciliation report for a date range, per currency: payments, fees, refunds,
    settlements, what is not settled yet, the same sums read from the ledger, and whether
    they agree."""
    return await settlements.reconciliation(session, merchant.merchant_id, start, end)


# Payment links


class LinkCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=254)
    contact: str | None = Field(None, max_length=20)


class PaymentLinkCreate(BaseModel):
    """Razorpay's payment link (`notify`, `reminder_enable`, `callback_url` are accepted and
    ignored: Casebook sends no SMS or e-mail)."""

    model_config = ConfigDict(extra="ignore")

    amount: int
    currency: str = Field("INR", min_length=3, max_length=3)
    accept_partial: bool = False
    first_min_partial_amount: int | None = None
    description: str | None = Field(None, max_length=2048)
    customer: LinkCustomer = Field(default_factory=LinkCustomer)
    reference_id: str | None = Field(None, min_length=1, max_length=40)
    expire_by: int | None = Field(None, ge=0, le=4_102_444_800)
    """Unix seconds; 0 or absent: never expires."""
    notes: Notes = Field(default_factory=dict, max_length=15)


def short_url(request: Request, link_id: int) -> str:
    """The public page where the customer pays the link."""
    return f"{str(request.base_url).rstrip('/')}/api/razorpay/pay/{links.public_id(link_id)}"


async def link_out(session: AsyncSession, request: Request, link: PaymentLink) -> dict[str, Any]:
    return payment_link_entity(
        link, short_url(request, link.id), list(await payments.payments_of_link(session, link.id))
    )


@router.post("/payment_links", dependencies=[MerchantIdempotent])
async def create_payment_link(
    body: PaymentLinkCreate, request: Request, merchant: BasicMerchant, session: Session
) -> Any:
    """Create a payment link (`client.payment_link.create`): a `short_url` the customer opens
    to pay `amount`, in one payment or, with `accept_partial`, in parts that add up to it
    (the first at least `first_min_partial_amount`), until `expire_by`."""
    payments.check_amount(body.amount, body.currency)
    link = await links.create_link(
        session,
        merchant.merchant_id,
        amount=body.amount,
        currency=body.currency,
        accept_partial=body.accept_partial,
        first_min_partial_amount=body.first_min_partial_amount,
        description=body.description,
        customer=body.customer.model_dump(exclude_none=True),
        reference_id=body.reference_id,
        expire_by=datetime.fromtimestamp(body.expire_by, UTC) if body.expire_by else None,
        notes=dict(body.notes),
        min_amount=payments.MIN_AMOUNT,
    )
    return payment_link_entity(link, short_url(request, link.id))


@router.get("/payment_links")
async def list_payment_links(
    request: Request, merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your payment links, newest first (`client.payment_link.all`); Razorpay answers them
    under `payment_links`."""
    rows = await links.list_links(session, merchant.merchant_id, count, skip)
    items = [payment_link_entity(link, short_url(request, link.id)) for link in rows]
    return {**collection(items), "payment_links": items}


@router.get("/payment_links/{link_id}")
async def fetch_payment_link(
    link_id: str, request: Request, merchant: BasicMerchant, session: Session
) -> Any:
    """One of your payment links with its payments (`client.payment_link.fetch`)."""
    link = await links.get_link(session, payments.decode_id("plink", link_id), merchant.merchant_id)
    return await link_out(session, request, link)


@router.post("/payment_links/{link_id}/cancel")
async def cancel_payment_link(
    link_id: str, request: Request, merchant: BasicMerchant, session: WriteSession
) -> Any:
    """Cancel a link that is not paid, expired or cancelled (`client.payment_link.cancel`);
    what was paid in part stays paid."""
    link = await links.cancel_link(
        session, merchant.merchant_id, payments.decode_id("plink", link_id)
    )
    return await link_out(session, request, link)


# Plans and subscriptions


class PlanItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=120)
    amount: int
    currency: str = Field("INR", min_length=3, max_length=3)
    description: str | None = Field(None, max_length=2048)


class PlanCreate(_Strict):
    period: str = Field(max_length=8)
    interval: int
    item: PlanItem
    notes: Notes = Field(default_factory=dict, max_length=15)


@router.post("/plans", dependencies=[MerchantIdempotent])
async def create_plan(body: PlanCreate, merchant: BasicMerchant, session: Session) -> Any:
    """A plan (`client.plan.create`): `item.amount` every `interval` `period`s (daily, weekly,
    monthly, yearly)."""
    payments.check_amount(body.item.amount, body.item.currency, "item.amount")
    plan = await subscriptions.create_plan(
        session,
        merchant.merchant_id,
        period=body.period,
        interval=body.interval,
        name=body.item.name,
        description=body.item.description,
        amount=body.item.amount,
        currency=body.item.currency,
        notes=dict(body.notes),
    )
    return plan_entity(plan)


@router.get("/plans")
async def list_plans(
    merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your plans, newest first (`client.plan.all`)."""
    rows = await subscriptions.list_plans(session, merchant.merchant_id, count, skip)
    return collection([plan_entity(p) for p in rows])


@router.get("/plans/{plan_id}")
async def fetch_plan(plan_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """One of your plans (`client.plan.fetch`)."""
    plan = await subscriptions.owned_plan(
        session, merchant.merchant_id, payments.decode_id("plan", plan_id)
    )
    return plan_entity(plan)


class SubscriptionCreate(BaseModel):
    """Razorpay's subscription (`customer_notify`, `quantity` 1, `addons`, `offer_id` are not
    taken beyond their defaults)."""

    model_config = ConfigDict(extra="ignore")

    plan_id: str = Field(max_length=40)
    total_count: int
    start_at: int | None = Field(None, ge=0, le=4_102_444_800)
    """Unix seconds of the first charge; until then the subscription is in its trial."""
    notes: Notes = Field(default_factory=dict, max_length=15)


def subscription_url(request: Request, subscription_id: int) -> str:
    """The public page where the customer authenticates the subscription's mandate."""
    public = publicids.encode("sub", subscription_id)
    return f"{str(request.base_url).rstrip('/')}/api/razorpay/pay/subscriptions/{public}"


def subscription_out(request: Request, subscription: Subscription) -> dict[str, Any]:
    return subscription_entity(subscription, subscription_url(request, subscription.id))


@router.post("/subscriptions", dependencies=[MerchantIdempotent])
async def create_subscription(
    body: SubscriptionCreate, request: Request, merchant: BasicMerchant, session: Session
) -> Any:
    """Subscribe a customer to a plan for `total_count` cycles (`client.subscription.create`);
    the customer authenticates the mandate at `short_url`. `start_at` gives a free trial until
    then; otherwise the first cycle is charged when the customer authenticates."""
    subscription = await subscriptions.create_subscription(
        session,
        merchant.merchant_id,
        plan_id=payments.decode_id("plan", body.plan_id),
        total_count=body.total_count,
        start_at=datetime.fromtimestamp(body.start_at, UTC) if body.start_at else None,
        notes=dict(body.notes),
    )
    return subscription_out(request, subscription)


@router.get("/subscriptions")
async def list_subscriptions(
    request: Request, merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your subscriptions, newest first (`client.subscription.all`)."""
    rows = await subscriptions.list_subscriptions(session, merchant.merchant_id, count, skip)
    return collection([subscription_out(request, s) for s in rows])


@router.get("/subscriptions/{subscription_id}")
async def fetch_subscription(
    subscription_id: str, request: Request, merchant: BasicMerchant, session: Session
) -> Any:
    """One of your subscriptions: status, cycles paid and left, next charge."""
    row = await subscriptions.get_subscription(
        session, payments.decode_id("sub", subscription_id), merchant.merchant_id
    )
    return subscription_out(request, row)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cancel_at_cycle_end: bool | Literal[0, 1] = False


@router.post("/subscriptions/{subscription_id}/cancel")
async def cancel_subscription(
    subscription_id: str,
    request: Request,
    merchant: BasicMerchant,
    session: WriteSession,
    body: CancelIn | None = None,
) -> Any:
    """Cancel now, or with `cancel_at_cycle_end` when the next cycle falls due
    (`client.subscription.cancel`)."""
    row = await subscriptions.cancel(
        session,
        merchant.merchant_id,
        payments.decode_id("sub", subscription_id),
        at_cycle_end=bool(body and body.cancel_at_cycle_end),
    )
    return subscription_out(request, row)


@router.post("/subscriptions/{subscription_id}/pause")
async def pause_subscription(
    subscription_id: str, request: Request, merchant: BasicMerchant, session: WriteSession
) -> Any:
    """Pause now (`client.subscription.pause`): nothing is charged until resumed."""
    row = await subscriptions.pause(
        session, merchant.merchant_id, payments.decode_id("sub", subscription_id)
    )
    return subscription_out(request, row)


@router.post("/subscriptions/{subscription_id}/resume")
async def resume_subscription(
    subscription_id: str, request: Request, merchant: BasicMerchant, session: WriteSession
) -> Any:
    """Resume now (`client.subscription.resume`); the schedule moves by the pause."""
    row = await subscriptions.resume(
        session, merchant.merchant_id, payments.decode_id("sub", subscription_id)
    )
    return subscription_out(request, row)


# Customers and saved cards


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    contact: str | None = Field(None, max_length=20, pattern=r"^\+?[0-9]{6,15}$")
    notes: Notes = Field(default_factory=dict, max_length=15)


@router.post("/customers", dependencies=[MerchantIdempotent])
async def create_customer(body: CustomerIn, merchant: BasicMerchant, session: Session) -> Any:
    """A customer whose cards can be saved (`client.customer.create`)."""
    customer = await customers.create_customer(
        session,
        merchant.merchant_id,
        name=body.name,
        email=body.email,
        contact=body.contact,
        notes=dict(body.notes),
    )
    return customer_entity(customer)


@router.get("/customers")
async def list_customers(
    merchant: BasicMerchant, session: Session, count: Count = 10, skip: Skip = 0
) -> Any:
    """Your customers, newest first (`client.customer.all`)."""
    rows = await customers.list_customers(session, merchant.merchant_id, count, skip)
    return collection([customer_entity(c) for c in rows])


@router.get("/customers/{customer_id}")
async def fetch_customer(customer_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """One of your customers (`client.customer.fetch`)."""
    customer = await customers.owned_customer(
        session, merchant.merchant_id, payments.decode_id("cust", customer_id)
    )
    return customer_entity(customer)


@router.put("/customers/{customer_id}")
async def edit_customer(
    customer_id: str, body: CustomerIn, merchant: BasicMerchant, session: Session
) -> Any:
    """Change a customer's name, email or contact (`client.customer.edit`)."""
    customer = await customers.update_customer(
        session,
        merchant.merchant_id,
        payments.decode_id("cust", customer_id),
        body.model_dump(exclude_unset=True, exclude={"notes"}),
    )
    return customer_entity(customer)


async def _customer(session: AsyncSession, merchant_id: int, customer_id: str) -> Customer:
    return await customers.owned_customer(
        session, merchant_id, payments.decode_id("cust", customer_id)
    )


@router.get("/customers/{customer_id}/tokens")
async def list_tokens(customer_id: str, merchant: BasicMerchant, session: Session) -> Any:
    """The customer's saved cards (`client.token.all`): last 4, network, expiry; never the
    number."""
    customer = await _customer(session, merchant.merchant_id, customer_id)
    return collection([token_entity(t) for t in await customers.tokens_of(session, customer)])


@router.get("/customers/{customer_id}/tokens/{token_id}")
async def fetch_token(
    customer_id: str, token_id: str, merchant: BasicMerchant, session: Session
) -> Any:
    """One saved card (`client.token.fetch`)."""
    customer = await _customer(session, merchant.merchant_id, customer_id)
    token = await customers.owned_token(session, customer, payments.decode_id("token", token_id))
    return token_entity(token)


@router.delete("/customers/{customer_id}/tokens/{token_id}")
async def delete_token(
    customer_id: str, token_id: str, merchant: BasicMerchant, session: Session, state: State
) -> Any:
    """Remove a saved card here and at the card network (`client.token.delete`)."""
    customer = await _customer(session, merchant.merchant_id, customer_id)
    await customers.delete_token(
        session, state.vault, customer, payments.decode_id("token", token_id)
    )
    return {"deleted": True}
