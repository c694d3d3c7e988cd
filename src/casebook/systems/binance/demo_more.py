"""Demo data beyond spot, so the futures, Launchpad and margin pages are usable at once:

- **Futures**: the demo market maker's futures wallet is funded from its spot wallet through the
  futures transfer, and it quotes LEVELS levels on both sides of every perpetual around the
  contract's index; the demo user gets FUTURES_USDT in the futures wallet to trade against it.
- **Launchpad**: a staff user (`binance-staff@example.com`, the demo password; granted by
  `staff.grant`, as an operator would) creates the sale SALE_SYMBOL whose commitment window opens
  at the load and lasts SALE_DAYS, distribution a day later; the demo user commits COMMIT_USDT.
- **Margin**: the demo user moves MARGIN_USDT into the margin account and borrows LOAN_BTC, so
  the page shows a level (about 4.3) and a loan; the spot BTC stays where demo.py put it.

Everything goes through the service functions the API uses (`futures.transfer`,
`futures.place_order`, `launchpad.create_project`/`commit`, `margin.transfer`/`borrow`), so the
ledger records every move and `verify` holds. Each part is idempotent on its own: futures by the
maker having futures orders (and transfer ids derived from the user, so a rerun after a crash
between funding and quoting moves nothing twice), the sale by its symbol, margin by the demo
user's margin account; each part's writes are one transaction, except the futures quotes, which
the venue's writer places one by one after the funding commits.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import Side
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.binance import futures, launchpad, margin, spot, staff
from casebook.systems.binance.futures_settlement import FUTURES_VENUE
from casebook.systems.binance.launchpad_models import LaunchpadProject
from casebook.systems.binance.margin_models import BinanceMarginAccount
from casebook.systems.binance.wallets import derived_id

SCALE = spot.SCALE
STAFF = ("binance-staff@example.com", "Binance staff")

MAKER_FUTURES_USDT = 1_000_000 * SCALE
FUTURES_USDT = 2_000 * SCALE
LEVELS = 5
SPREAD_BPS = 10
"""Each futures quote level sits this many basis points further from the index."""
LEVEL_NOTIONAL = 300 * SCALE
"""USDT notional of the first quote level (level n quotes n times as much)."""

SALE_SYMBOL = "CASE"
SALE_DAYS = 7
COMMIT_USDT = 100 * SCALE

MARGIN_USDT = 1_000 * SCALE
LOAN_BTC = 500_000  # 0.005 BTC


def _units(text: str) -> int:
    return int(Decimal(text) * SCALE)


async def load_more(platform: Platform, maker_user: int, demo_user: int, password: str) -> None:
    """Add the futures, Launchpad and margin demo data for the market maker `maker_user` and the
    demo user `demo_user` (both registered by demo.py); `password` is the demo users' password,
    given to the staff user. Idempotent: a second call adds nothing."""
    await _futures(platform, maker_user, demo_user)
    await _launchpad(platform, demo_user, password)
    await _margin(platform, demo_user)


async def _futures(platform: Platform, maker_user: int, demo_user: int) -> None:
    async with platform.db.session(write=True) as session:
        maker = await futures.account_of(session, maker_user)
        quoted = await session.scalar(
            select(MatchingOrder.id)
            .where(MatchingOrder.venue == FUTURES_VENUE, MatchingOrder.account_id == maker)
            .limit(1)
        )
        if quoted is not None:
            return
        for user_id, amount in ((maker_user, MAKER_FUTURES_USDT), (demo_user, FUTURES_USDT)):
            key = derived_id("binance-demo", "futures-funding", user_id)
            await futures.transfer(platform, session, user_id, amount, True, key)
        venue = futures.futures_venue(platform)
        contracts = [(c, await venue.instrument(session, c.spec.symbol)) for c in futures.CONTRACTS]
    for contract, instrument in contracts:
        index = futures.index_price(platform, contract)
        lots = max(1, LEVEL_NOTIONAL // (instrument.npl * index))
        for level in range(1, LEVELS + 1):
            step = max(1, index * SPREAD_BPS * level // 10_000)
            for side, price in ((Side.BUY, index - step), (Side.SELL, index + step)):
                await futures.place_order(
                    platform, maker, instrument, side, lots * level, price, "limit"
                )


async def _user_id(session: AsyncSession, platform: Platform, password: str) -> int:
    email, name = STAFF
    found = await session.scalar(select(User.id).where(User.email == email))
    if found is not None:
        return int(found)
    user = await register_user(session, email, password, name, settings=platform.settings)
    return user.id


async def _launchpad(platform: Platform, demo_user: int, password: str) -> None:
    async with platform.db.session(write=True) as session:
        taken = await session.scalar(
            select(LaunchpadProject.id).where(LaunchpadProject.symbol == SALE_SYMBOL)
        )
        if taken is not None:
            return
        staff_user = await _user_id(session, platform, password)
        await staff.grant(session, staff_user)
        now = utcnow()
        ends = now + timedelta(days=SALE_DAYS)
        project = await launchpad.create_project(
            session,
            staff_user,
            launchpad.ProjectSpec(
                symbol=SALE_SYMBOL,
                name="Casebook Token",
                description="The demo sale: commit USDT now, receive CASE after the window.",
                quote_asset="USDT",
                price=_units("0.1"),
                tokens_for_sale=_units("1000000"),
                per_user_cap=_units("1000"),
                starts_at=now,
                ends_at=ends,
                distributes_at=ends + timedelta(days=1),
                list_pair=True,
            ),
            now=now,
        )
        await launchpad.commit(session, project.id, demo_user, COMMIT_USDT, now=now)


async def _margin(platform: Platform, demo_user: int) -> None:
    venue = spot.exchange(platform)
    async with platform.db.session(write=True) as session:
        opened = await session.scalar(
            select(BinanceMarginAccount.id).where(BinanceMarginAccount.user_id == demo_user)
        )
        if opened is not None:
            return
        await margin.transfer(session, venue, demo_user, "USDT", MARGIN_USDT, to_margin=True)
        await margin.borrow(session, venue, demo_user, "BTC", LOAN_BTC)
