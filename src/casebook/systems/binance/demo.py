"""Demo data: a market maker quoting both sides of every pair around its reference price, and
the demo user (`demo@example.com` / `casebook-demo`, shared across systems) with a funded spot
wallet, one trade done and a Binance API key labelled "demo".

Loading is idempotent: it does nothing once the market maker has orders on the venue. Funds
come from the venue's external source (what a deposit from outside is); chain deposits work too
(`/api/binance/wallet/deposit-address`).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import NewOrder
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.binance import apikeys, demo_more, spot

DEMO_PASSWORD = "casebook-demo"
DEMO = ("demo@example.com", "Demo user")
MAKER = ("binance-mm@example.com", "Binance market maker")
LEVELS = 5
SPREAD_BPS = 10
"""Each quote level sits this many basis points further from the reference price."""


async def _user_id(session: AsyncSession, platform: Platform, email: str, name: str) -> int:
    found = await session.scalar(select(User.id).where(User.email == email))
    if found is not None:
        return int(found)
    user = await register_user(session, email, DEMO_PASSWORD, name, settings=platform.settings)
    return user.id


async def load_demo(platform: Platform) -> None:
    """Quote every pair with the market maker, fund the demo user and trade once."""
    venue = spot.exchange(platform)
    async with platform.db.session(write=True) as session:
        maker_user = await _user_id(session, platform, *MAKER)
        maker = await spot.account_of(session, maker_user)
        quoted = await session.scalar(
            select(MatchingOrder.id).where(MatchingOrder.account_id == maker).limit(1)
        )
        if quoted is not None:
            return
        demo_user = await _user_id(session, platform, *DEMO)
        demo = await spot.account_of(session, demo_user)
        for asset, amount in (("BTC", "50"), ("ETH", "1000"), ("BNB", "5000"), ("USDT", "5000000")):
            await venue.credit(session, maker, asset, int(Decimal(amount) * spot.SCALE), new_id(),
                               "demo:market-maker")  # fmt: skip
        for asset, amount in (("USDT", "10000"), ("BTC", "0.1")):
            await venue.credit(session, demo, asset, int(Decimal(amount) * spot.SCALE), new_id(),
                               "demo:user")  # fmt: skip
        await apikeys.create(session, platform.settings.signing_key, demo_user, "demo", True)
    listed = {i.symbol: i for i in venue.listed.values()}
    for pair in spot.PAIRS:
        instrument = listed[pair.spec.symbol]
        reference = instrument.reference_price or 1
        lot_value = instrument.npl * reference
        lots = max(1, pair.min_notional * 4 // lot_value)
        for level in range(1, LEVELS + 1):
            step = max(1, reference * SPREAD_BPS * level // 10_000)
            for side, price in ((Side.BUY, reference - step), (Side.SELL, reference + step)):
                await venue.place(NewOrder(maker, instrument.id, side, lots * level, price=price))
    await venue.place(NewOrder(demo, listed["BTCUSDT"].id, Side.BUY, 100, type="market"))
    await demo_more.load_more(platform, maker_user, demo_user, DEMO_PASSWORD)
