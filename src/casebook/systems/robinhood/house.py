"""Robinhood at the Stock Exchange: its membership, its ONE house (omnibus) account there, the
stocks it offers, and its start and stop hooks.

Robinhood is a member firm of the exchange; its house trader is a platform user of its own
(`house@robinhood.casebook`), the admin of the member, whose KYC the member attests. The house
account `house` at the venue holds every share Robinhood's customers own (and its inventory)
and the firm capital that pays for purchases and exchange fees. Everything here is idempotent:
a broker's startup must not assume the exchange's demo ran.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from casebook.engines.ledger import Ledger
from casebook.engines.matching import venue as venues
from casebook.engines.matching.venue import Instrument, Venue
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.robinhood import books
from casebook.systems.stock_exchange import kyc, members, trading
from casebook.systems.stock_exchange.models import Member, Trader

VENUE = "stock-exchange"
MEMBER_NAME = "Robinhood Markets"
HOUSE_EMAIL = "house@robinhood.casebook"
HOUSE_LABEL = "house"
CAPITAL_CENTS = 1_000_000_000_00
"""The firm capital deposited in the house account at the exchange ($1 billion)."""
CAPITAL_TRANSFER_ID = 0x5B0B1_0000_0001
"""The capital deposit's fixed transfer id: depositing is done once, whatever restarts."""
STOCKS = (
    ("AAPL", "Apple Inc.", Decimal("189.50")),
    ("MSFT", "Microsoft Corporation", Decimal("415.20")),
    ("F", "Ford Motor Company", Decimal("12.10")),
)
_STATE = "robinhood:house"


@dataclass(frozen=True)
class House:
    user_id: int
    member_id: int
    account_id: int


def exchange(platform: Platform) -> Venue:
    return venues.get(platform, VENUE)


def house(platform: Platform) -> House:
    """The house account of this process (after `start`)."""
    found: House = platform.state[_STATE]
    return found


async def open_house(platform: Platform) -> House:
    """Membership, house trader, house account (KYC attested by the member) and the capital
    deposit, each made only if missing. Commits in its own transaction."""
    venue = exchange(platform)
    async with platform.db.session(write=True) as session:
        user_id = await session.scalar(select(User.id).where(User.email == HOUSE_EMAIL))
        if user_id is None:
            user = await register_user(
                session,
                HOUSE_EMAIL,
                secrets.token_urlsafe(24),
                "Robinhood house account",
                settings=platform.settings,
            )
            user_id = user.id
        trader = await session.get(Trader, user_id)
        if trader is None:
            member = await session.scalar(select(Member).where(Member.name == MEMBER_NAME))
            if member is None:
                member = await members.create_member(session, MEMBER_NAME, "firm", user_id)
            else:
                session.add(Trader(user_id=user_id, member_id=member.id, role="admin"))
                await session.flush()
            member_id = member.id
        else:
            member_id = trader.member_id
        account = await trading.open_trading_account(venue, session, user_id, HOUSE_LABEL)
        await kyc.attest(session, member_id, user_id, "robinhood:house-account")
        # The member's own capital (a clearing deposit), not a client's movement: it goes
        # straight to the venue account, outside the AML review of clients' transfers.
        # Idempotent by its fixed transfer id.
        await venue.credit(
            session,
            account.account_id,
            trading.QUOTE,
            CAPITAL_CENTS,
            CAPITAL_TRANSFER_ID,
            "robinhood:capital",
        )
    return House(user_id=int(user_id), member_id=member_id, account_id=account.account_id)


async def list_stocks(platform: Platform) -> list[Instrument]:
    """The stocks Robinhood offers, listed at the exchange when they are not yet."""
    venue = exchange(platform)
    listed = [
        (await trading.list_company(venue, symbol, name, price))[0]
        for symbol, name, price in STOCKS
    ]
    async with platform.db.session(write=True) as session:
        ledger = Ledger(session)
        for instrument in listed:
            await books.open_house_accounts(ledger, instrument.symbol)
    return listed


async def start(platform: Platform) -> None:
    """`System.on_startup`: the house account, the listings, the venue listener that settles
    fills of house orders to customers, and a reconciliation of orders left open by a crash."""
    from casebook.systems.robinhood import brokerage

    found = await open_house(platform)
    platform.state[_STATE] = found
    await list_stocks(platform)
    listener = brokerage.Listener(platform, found)
    exchange(platform).listeners.append(listener.on_commit)
    platform.state[f"{_STATE}:listener"] = listener
    await brokerage.reconcile(platform)


async def stop(platform: Platform) -> None:
    listener = platform.state.pop(f"{_STATE}:listener", None)
    platform.state.pop(_STATE, None)
    try:
        venue = exchange(platform)
    except KeyError:
        return
    if listener is not None and listener.on_commit in venue.listeners:
        venue.listeners.remove(listener.on_commit)
