"""`/api/razorpay/pay/…`: the public pages where customers pay a payment link
(`/pay/{plink_id}`) and authenticate a subscription's mandate (`/pay/subscriptions/{sub_id}`).

No credentials: whoever has the link's URL may see what it asks for and pay it, as with
Razorpay's `rzp.io` links. The page shows only what the payer needs (merchant name, amount,
what is due, description, status), never the merchant's customer details or other payments.
Paying is rate limited per link and per address, so the public endpoint cannot be used to
hammer the gateways.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.ratelimit import RateLimit, enforce_all
from casebook.systems.razorpay import billing, links, payments, subscriptions
from casebook.systems.razorpay.compat import CardIn, RazorpayRoute
from casebook.systems.razorpay.entities import payment_entity, unix
from casebook.systems.razorpay.models import Merchant
from casebook.systems.razorpay.runtime import razorpay

PAY_LIMIT_PER_LINK = RateLimit.per_minute(30)
PAY_LIMIT_PER_ADDRESS = RateLimit.per_minute(20)

router = APIRouter(route_class=RazorpayRoute)
PlatformDep = Annotated[Platform, Depends(get_platform)]


class LinkPayment(BaseModel):
    """The customer's payment of a link: `amount` (default: all that is due) and the method."""

    model_config = ConfigDict(extra="forbid")

    amount: int | None = None
    method: str = Field(max_length=16)
    card: CardIn | None = None
    vpa: str | None = Field(None, max_length=256)
    bank: str | None = Field(None, max_length=12)
    wallet: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)
    contact: str | None = Field(None, max_length=20)


class Mandate(BaseModel):
    """The customer's recurring mandate for a subscription: UPI autopay (`vpa`), a net-banking
    e-mandate (`bank`) or a wallet. Card mandates need saved cards, which are not built."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["upi", "netbanking", "wallet"]
    vpa: str | None = Field(None, max_length=100)
    bank: str | None = Field(None, max_length=12)
    wallet: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)


@router.post("/subscriptions/{sub_id}")
async def authenticate_subscription(
    sub_id: str, body: Mandate, request: Request, platform: PlatformDep
) -> Any:
    """The customer authenticates the subscription's mandate. Without a trial the first cycle
    is charged now; with one (`start_at`) the billing job charges it when the trial ends.
    Answers the subscription's status, cycles paid and next charge."""
    subscription_id = payments.decode_id("sub", sub_id)
    address = request.client.host if request.client else "unknown"
    await enforce_all(platform, [(f"razorpay:mandate:ip:{address}", PAY_LIMIT_PER_ADDRESS)])
    instrument = payments.instrument_from(body.method, body.model_dump())
    async with platform.db.session(write=True) as session:
        await subscriptions.authenticate(
            session,
            subscription_id,
            method=instrument.method.value,
            vpa=instrument.vpa,
            bank=instrument.bank,
            wallet=instrument.wallet,
            email=body.email,
        )
    first_charge = await billing.charge_cycle(platform, subscription_id)
    async with platform.db.session() as session:
        after = await subscriptions.get_subscription(session, subscription_id)
    return {
        "id": sub_id,
        "entity": "subscription",
        "status": after.status,
        "paid_count": after.paid_count,
        "charge_at": unix(after.charge_at),
        "first_charge": first_charge,
    }


@router.get("/{plink_id}")
async def link_page(plink_id: str, session: Session) -> Any:
    """What the link asks for: merchant, amount, amount paid and due, status, expiry."""
    link = await links.get_link(session, payments.decode_id("plink", plink_id))
    merchant = await session.get(Merchant, link.merchant_id)
    assert merchant is not None
    return {
        "id": plink_id,
        "entity": "payment_link",
        "merchant": merchant.name,
        "description": link.description,
        "amount": link.amount,
        "amount_paid": link.amount_paid,
        "amount_due": link.amount - link.amount_paid,
        "currency": link.currency,
        "accept_partial": link.accept_partial,
        "first_min_partial_amount": link.first_min_partial_amount,
        "status": link.status,
        "expire_by": unix(link.expire_by),
    }


@router.post("/{plink_id}")
async def pay_link(
    plink_id: str,
    body: LinkPayment,
    request: Request,
    platform: PlatformDep,
) -> Any:
    """Pay the link (all that is due, or a part when it accepts partial payments). Answers the
    payment (`captured`, or `failed` with the gateway's error) and the link's new status. A
    payment that would take the link over its amount is refused and nothing is charged."""
    link_id = payments.decode_id("plink", plink_id)
    address = request.client.host if request.client else "unknown"
    await enforce_all(
        platform,
        [
            (f"razorpay:pay-link:{link_id}", PAY_LIMIT_PER_LINK),
            (f"razorpay:pay-link:ip:{address}", PAY_LIMIT_PER_ADDRESS),
        ],
    )
    async with platform.db.session() as session:
        link = await links.get_link(session, link_id)
    amount = body.amount if body.amount is not None else link.amount - link.amount_paid
    links.check_payable(link, amount, link.currency, payments.MIN_AMOUNT)
    fields = body.model_dump()
    if body.card is not None:
        fields["card"] = body.card.model_dump()
    request_ = payments.PaymentRequest(
        amount=amount,
        currency=link.currency,
        instrument=payments.instrument_from(body.method, fields),
        email=body.email,
        contact=body.contact,
        description=link.description,
        link_id=link.id,
    )
    payment, _ = await payments.create_payment(
        platform, razorpay(platform), link.merchant_id, request_
    )
    async with platform.db.session() as session:
        after = await links.get_link(session, link_id)
    return {
        "payment": payment_entity(payment),
        "payment_link": {
            "id": plink_id,
            "status": after.status,
            "amount_paid": after.amount_paid,
            "amount_due": after.amount - after.amount_paid,
        },
    }
