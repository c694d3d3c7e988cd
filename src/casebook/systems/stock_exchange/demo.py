"""Demo data: three listings, a compliance officer, a market-making member firm with two traders
quoting both sides of every book, and the demo user as a verified, funded self-directed member
with a few trades done.

Sign in at /login as `demo@example.com` / `casebook-demo` and open /stock-exchange/; the
compliance desk is `compliance@example.com` (same password). Loading is idempotent: it does
nothing once the demo user holds a trading account here. The deposits of the market makers are
large, so the AML review queue has something in it.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.venue import Instrument, Venue
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange import aml, kyc, members, staff, trading
from casebook.systems.stock_exchange.models import ExchangeAccount, Trader
from casebook.systems.stock_exchange.runtime import exchange

DEMO_PASSWORD = "casebook-demo"
LISTINGS = (
    ("AAPL", "Apple Inc.", Decimal("189.50")),
    ("MSFT", "Microsoft Corporation", Decimal("415.20")),
    ("F", "Ford Motor Company", Decimal("12.10")),
)
OFFICER = ("compliance@example.com", "Exchange Compliance")
DEMO = ("demo@example.com", "Demo user")
FIRM = "Northwind Securities"
MARKET_MAKERS = (("mm1@example.com", "Northwind Desk 1"), ("mm2@example.com", "Northwind Desk 2"))
RULES = aml.AmlRules()


async def _user_id(session: AsyncSession, platform: Platform, email: str, name: str) -> int:
    user_id = await session.scalar(select(User.id).where(User.email == email))
    if user_id is not None:
        return int(user_id)
    user = await register_user(session, email, DEMO_PASSWORD, name, settings=platform.settings)
    return user.id


async def _verified_account(
    session: AsyncSession, venue: Venue, user_id: int, officer_id: int, **deposits: int
) -> ExchangeAccount:
    account = await trading.open_trading_account(venue, session, user_id, "main")
    record = await kyc.record_of(session, user_id)
    if record is None or record.status != "verified":
        await kyc.submit(session, user_id, "Demo Person", "US", f"DEMO-{user_id}")
        await kyc.decide(session, user_id, officer_id, "verified", "demo data")
    for asset, amount in deposits.items():
        await trading.move_funds(venue, session, RULES, account, "deposit", asset, amount, new_id())
    return account


async def _quote(venue: Venue, account: ExchangeAccount, instrument: Instrument, side: str) -> None:
    """Five levels on one side, 5 cents apart from one tick off the reference."""
    reference = instrument.reference_price or 100
    for level in range(1, 6):
        ticks = reference - 5 * level if side == "buy" else reference + 5 * level
        await trading.place_order(
            venue,
            account.account_id,
            instrument,
            side=side,
            quantity=10 * level,
            price=Decimal(ticks) / trading.QUOTE_SCALE,
            order_type="limit",
            tif="gtc",
            client_order_id=None,
        )


async def load_demo(platform: Platform) -> None:
    """`System.demo`: listings, members, funded demo traders and resting orders."""
    venue = exchange(platform)
    async with platform.db.session() as session:
        demo_id = await session.scalar(select(User.id).where(User.email == DEMO[0]))
        if demo_id is not None and await members.accounts_of(session, demo_id):
            return
    instruments = [
        (await trading.list_company(venue, symbol, name, price))[0]
        for symbol, name, price in LISTINGS
    ]
    async with platform.db.session(write=True) as session:
        officer = await _user_id(session, platform, *OFFICER)
        await staff.grant(session, officer)
        makers: list[tuple[int, ExchangeAccount]] = []
        for index, (email, name) in enumerate(MARKET_MAKERS):
            user_id = await _user_id(session, platform, email, name)
            if await session.get(Trader, user_id) is None:
                if index == 0:
                    await members.create_member(session, FIRM, "firm", user_id)
                else:
                    admin = await members.trader_of(session, makers[0][0])
                    await members.add_trader(session, admin.member_id, admin.user_id, user_id)
            makers.append(
                (
                    user_id,
                    await _verified_account(
                        session,
                        venue,
                        user_id,
                        officer,
                        USD=50_000_000,
                        **{i.symbol: 1_000 for i in instruments},
                    ),
                )
            )
        demo = await _user_id(session, platform, *DEMO)
        if await session.get(Trader, demo) is None:
            await members.create_member(session, DEMO[0], "individual", demo)
        demo_account = await _verified_account(
            session, venue, demo, officer, USD=2_500_000, AAPL=20
        )
    for instrument in instruments:
        await _quote(venue, makers[0][1], instrument, "buy")
        await _quote(venue, makers[1][1], instrument, "sell")
    # The demo user's first trades: buy 5 Ford at the ask, sell 2 Apple at the bid.
    ford, apple = instruments[2], instruments[0]
    for instrument, side, qty in ((ford, "buy", 5), (apple, "sell", 2)):
        await trading.place_order(
            venue,
            demo_account.account_id,
            instrument,
            side=side,
            quantity=qty,
            price=None,
            order_type="market",
            tif="ioc",
            client_order_id=None,
        )
