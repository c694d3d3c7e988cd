"""Cash Cards: issue one per user (its number shown once), freeze and unfreeze it, carry a boost.

The card has no balance of its own: purchases are held and paid from the owner's wallet
(`casebook.systems.cashapp.issuer`). Freezing makes the issuer decline every new authorization;
holds already approved still settle, as with a real card.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.cashapp.boosts import BOOSTS
from casebook.systems.cashapp.card_numbers import cvv, new_pan, pan_token
from casebook.systems.cashapp.errors import BoostNotFound, CardAlreadyIssued, CardNotFound
from casebook.systems.cashapp.models import Card
from casebook.systems.cashapp.profiles import require_profile

VALID_YEARS = 4


@dataclass(frozen=True)
class IssuedCard:
    """A new card and the secrets shown to its owner this once."""

    card: Card
    pan: str
    cvv: str


async def issue_card(session: AsyncSession, user_id: int, key: bytes) -> IssuedCard:
    """Issue the user's Cash Card, valid to the end of the same month in four years.

    Raises ProfileRequired and CardAlreadyIssued (409; also for two racing requests, by the
    unique user_id). The PAN and CVV exist only in the returned value.
    """
    await require_profile(session, user_id)
    if await session.scalar(select(Card.id).where(Card.user_id == user_id)) is not None:
        raise CardAlreadyIssued("You already have a Cash Card; freeze it instead of replacing it.")
    now = utcnow()
    pan = new_pan()
    card = Card(
        id=new_id(),
        user_id=user_id,
        pan_token=pan_token(key, pan),
        last4=pan[-4:],
        exp_month=now.month,
        exp_year=now.year + VALID_YEARS,
        status="active",
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(card)
    except IntegrityError as exc:
        raise CardAlreadyIssued("You already have a Cash Card.") from exc
    return IssuedCard(card, pan, cvv(key, pan, card.exp_month, card.exp_year))


async def own_card(session: AsyncSession, user_id: int, card_id: int) -> Card:
    """The user's card `card_id`; someone else's is CardNotFound (404), like none."""
    card = await session.get(Card, card_id)
    if card is None or card.user_id != user_id:
        raise CardNotFound(f"You have no card {card_id}.")
    return card


async def cards_of(session: AsyncSession, user_id: int) -> list[Card]:
    return list(await session.scalars(select(Card).where(Card.user_id == user_id)))


async def set_status(session: AsyncSession, user_id: int, card_id: int, status: str) -> Card:
    """Freeze (`frozen`) or unfreeze (`active`) the card; idempotent."""
    card = await own_card(session, user_id, card_id)
    card.status = status
    await session.flush()
    return card


async def set_boost(
    session: AsyncSession, user_id: int, card_id: int, boost_id: str | None
) -> Card:
    """Put `boost_id` on the card, replacing any other (one boost at a time), or remove it (None).

    Raises CardNotFound, BoostNotFound.
    """
    card = await own_card(session, user_id, card_id)
    if boost_id is not None and boost_id not in BOOSTS:
        raise BoostNotFound(f"There is no boost {boost_id!r}.")
    card.boost_id = boost_id
    await session.flush()
    return card
