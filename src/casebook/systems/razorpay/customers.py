"""Customers and their saved cards (tokenised by the card network, see `vault`).

A card is saved by a successful card payment made with `customer_id` and `save: 1`: the
network vault tokenises the number and only the token, last 4 digits, network and expiry are
stored. A later payment names `customer_id` + `token`; the vault resolves the token for the
gateway. Removing a token deletes it at the vault too, so it can never be charged again.
Every lookup is scoped to the merchant: another merchant's customer or token does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.razorpay.errors import BadPaymentRequest, EntityNotFound
from casebook.systems.razorpay.gateways import Card
from casebook.systems.razorpay.models import CardToken, Customer
from casebook.systems.razorpay.vault import CardVault, UnknownToken, VaultRefused

MAX_TOKENS_PER_CUSTOMER = 20


async def create_customer(
    session: AsyncSession,
    merchant_id: int,
    *,
    name: str | None,
    email: str | None,
    contact: str | None,
    notes: dict[str, Any],
) -> Customer:
    customer = Customer(
        id=new_id(), merchant_id=merchant_id, name=name, email=email, contact=contact, notes=notes
    )
    session.add(customer)
    await session.flush()
    return customer


async def owned_customer(session: AsyncSession, merchant_id: int, customer_id: int) -> Customer:
    customer = await session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.merchant_id == merchant_id)
        .execution_options(populate_existing=True)
    )
    if customer is None:
        raise EntityNotFound()
    return customer


async def update_customer(
    session: AsyncSession, merchant_id: int, customer_id: int, changes: dict[str, Any]
) -> Customer:
    """Change the customer's name, email or contact (keys absent are left as they are)."""
    customer = await owned_customer(session, merchant_id, customer_id)
    if changes:
        await session.execute(update(Customer).where(Customer.id == customer.id).values(**changes))
    return await owned_customer(session, merchant_id, customer_id)


async def list_customers(
    session: AsyncSession, merchant_id: int, count: int, skip: int
) -> Sequence[Customer]:
    return (
        await session.scalars(
            select(Customer)
            .where(Customer.merchant_id == merchant_id)
            .order_by(Customer.id.desc())
            .limit(count)
            .offset(skip)
        )
    ).all()


async def tokens_of(session: AsyncSession, customer: Customer) -> Sequence[CardToken]:
    return (
        await session.scalars(
            select(CardToken)
            .where(CardToken.customer_id == customer.id)
            .order_by(CardToken.id)
            .limit(MAX_TOKENS_PER_CUSTOMER)
        )
    ).all()


async def owned_token(session: AsyncSession, customer: Customer, token_id: int) -> CardToken:
    token = await session.scalar(
        select(CardToken).where(CardToken.id == token_id, CardToken.customer_id == customer.id)
    )
    if token is None:
        raise EntityNotFound()
    return token


async def save_card(
    session: AsyncSession, vault: CardVault, customer: Customer, card: Card, today: date
) -> CardToken:
    """Tokenise `card` at the network and keep the token for `customer`; raises
    BadPaymentRequest when the network refuses or the customer has too many cards."""
    if len(await tokens_of(session, customer)) >= MAX_TOKENS_PER_CUSTOMER:
        raise BadPaymentRequest(
            f"A customer can save at most {MAX_TOKENS_PER_CUSTOMER} cards.", "save"
        )
    try:
        network_token = vault.tokenize(card, today)
    except VaultRefused as refused:
        raise BadPaymentRequest(str(refused), "card") from None
    token = CardToken(
        id=new_id(),
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        network_token=network_token,
        last4=card.last4,
        network=card.network,
        expiry_month=card.expiry_month,
        expiry_year=card.expiry_year,
        name=card.name,
    )
    session.add(token)
    await session.flush()
    return token


async def card_of_token(
    session: AsyncSession, vault: CardVault, token: CardToken, cvv: str
) -> Card:
    """The card a saved token stands for, resolved by the network; raises BadPaymentRequest
    when the network no longer knows the token."""
    try:
        card = vault.detokenize(token.network_token, cvv)
    except UnknownToken:
        raise BadPaymentRequest(
            "The saved card is no longer valid; pay with the card details.", "token"
        ) from None
    await session.execute(
        update(CardToken).where(CardToken.id == token.id).values(used_at=utcnow())
    )
    return card


async def delete_token(
    session: AsyncSession, vault: CardVault, customer: Customer, token_id: int
) -> None:
    """Remove a saved card, here and at the network."""
    token = await owned_token(session, customer, token_id)
    await session.execute(delete(CardToken).where(CardToken.id == token.id))
    vault.delete(token.network_token)
