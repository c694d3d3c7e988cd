"""Zerodha as a member of the Stock Exchange: the firm, its INR listings, client onboarding (own
KYC, attested to the exchange) and the funds of a client's exchange account.

Zerodha is one `firm` member of the exchange; its operations desk is the member's admin (a house
user). Onboarding a client makes them a trader of member Zerodha with one exchange account
(`main`), and Zerodha attests their KYC to the exchange (`kyc.attest`), so the exchange's own gate
(`kyc.can_trade`) lets their orders through. Cash is INR in paise in that account's ledger wallet;
shares are the symbol's wallet (one unit = one share). Zerodha never keeps a balance itself.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.venue import Venue
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.errors import Conflict, InvalidInput, NotFound
from casebook.systems.stock_exchange import kyc, members, trading
from casebook.systems.stock_exchange.models import Member, Trader
from casebook.systems.zerodha.models import ZerodhaClient

MEMBER_NAME = "Zerodha Broking Ltd"
OPS_EMAIL = "operations@zerodha.example.com"
CASH = "INR"
ACCOUNT_LABEL = "main"
PAN = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
LISTINGS: tuple[tuple[str, str, str], ...] = (
    ("RELIANCE", "Reliance Industries Ltd", "2950.00"),
    ("INFY", "Infosys Ltd", "1850.00"),
    ("TCS", "Tata Consultancy Services Ltd", "4100.00"),
    ("HDFCBANK", "HDFC Bank Ltd", "1650.00"),
)
"""Symbol, company, reference price in rupees: listed (INR) at startup if missing."""


class NotAClient(NotFound):
    type_ = "zerodha/not-a-client"
    title = "Open a Zerodha account first"


class AlreadyAClient(Conflict):
    type_ = "zerodha/already-a-client"
    title = "Already a Zerodha client"


@dataclass(frozen=True)
class House:
    member_id: int
    ops_user_id: int


async def ensure_house(platform: Platform) -> House:
    """Member Zerodha and its operations user, made on first start (idempotent; safe against a
    concurrent start in another process: the unique e-mail and member name decide)."""
    async with platform.db.session(write=True) as session:
        ops = await session.scalar(select(User.id).where(User.email == OPS_EMAIL))
        if ops is None:
            user = await register_user(
                session,
                OPS_EMAIL,
                secrets.token_urlsafe(24),
                "Zerodha operations",
                settings=platform.settings,
            )
            ops = user.id
        member_id = await session.scalar(select(Member.id).where(Member.name == MEMBER_NAME))
        if member_id is None:
            try:
                async with session.begin_nested():
                    member_id = (await members.create_member(session, MEMBER_NAME, "firm", ops)).id
            except IntegrityError:
                member_id = await session.scalar(
                    select(Member.id).where(Member.name == MEMBER_NAME)
                )
        assert member_id is not None
    return House(member_id=int(member_id), ops_user_id=int(ops))


async def ensure_listings(venue: Venue) -> None:
    """The INR listings Zerodha's clients trade (idempotent by symbol)."""
    for symbol, company, price in LISTINGS:
        await trading.list_company(venue, symbol, company, Decimal(price), quote=CASH)


def _client_code() -> str:
    return "Z" + secrets.token_hex(3).upper()


async def onboard(
    session: AsyncSession, venue: Venue, house: House, user_id: int, legal_name: str, pan: str
) -> ZerodhaClient:
    """Open a Zerodha account: our KYC (a PAN in the right shape, a name), a trader seat under
    member Zerodha, the exchange account, and the attestation to the exchange — one transaction.

    Raises InvalidInput (422), AlreadyAClient (409), the exchange's AlreadyAMember (409) for a
    user who already trades for another member."""
    pan = pan.strip().upper()
    if not PAN.match(pan):
        raise InvalidInput("pan must look like ABCDE1234F.", field="pan")
    legal_name = legal_name.strip()
    if not 2 <= len(legal_name) <= 120:
        raise InvalidInput("legal_name is 2-120 characters.", field="legal_name")
    if await session.get(ZerodhaClient, user_id) is not None:
        raise AlreadyAClient("You already have a Zerodha account.")
    if await session.scalar(select(ZerodhaClient.user_id).where(ZerodhaClient.pan == pan)):
        raise AlreadyAClient("This PAN already has a Zerodha account.")
    await members.add_trader(session, house.member_id, house.ops_user_id, user_id)
    account_id = await venue.open_account(
        session, members.venue_owner(house.member_id, user_id, ACCOUNT_LABEL), user_id
    )
    await members.attach_account(session, account_id, house.member_id, user_id, ACCOUNT_LABEL)
    client = ZerodhaClient(
        user_id=user_id,
        client_code=_client_code(),
        account_id=account_id,
        legal_name=legal_name,
        pan=pan,
    )
    session.add(client)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent onboarding of this user or PAN won the unique index
        raise AlreadyAClient("This user or PAN already has a Zerodha account.") from None
    await kyc.attest(session, house.member_id, user_id, f"zerodha:{client.client_code}:{pan}")
    return client


async def client_of(session: AsyncSession, user_id: int) -> ZerodhaClient:
    """The user's Zerodha account; NotAClient (404)."""
    client = await session.get(ZerodhaClient, user_id)
    if client is None:
        raise NotAClient("You have no Zerodha account: POST /api/zerodha/account first.")
    return client


async def is_client_trader(session: AsyncSession, house: House, user_id: int) -> bool:
    trader = await session.get(Trader, user_id)
    return trader is not None and trader.member_id == house.member_id


async def add_funds(
    session: AsyncSession, venue: Venue, client: ZerodhaClient, amount: int, transfer_id: int
) -> None:
    """Pay-in from the client's bank (the venue's external account stands for the banking
    network) into their cash wallet; idempotent by `transfer_id`."""
    _check_amount(amount)
    await venue.credit(
        session, client.account_id, CASH, amount, transfer_id, f"zerodha:payin:{transfer_id}"
    )


async def withdraw_funds(
    session: AsyncSession, venue: Venue, client: ZerodhaClient, amount: int, transfer_id: int
) -> None:
    """Pay-out to the client's bank; InsufficientFunds (409) beyond the available cash (cash
    blocked by open orders and charge reserves is not available)."""
    _check_amount(amount)
    await venue.debit(
        session, client.account_id, CASH, amount, transfer_id, f"zerodha:payout:{transfer_id}"
    )


def _check_amount(amount: int) -> None:
    if not 1 <= amount <= 10**13:
        raise InvalidInput("amount is 1..10^13 paise.", field="amount")
