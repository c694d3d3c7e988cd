"""Demo data: a Zerodha client with cash and shares, a Zerodha market maker quoting every INR
listing, and a delivery buy done, so /zerodha/ shows depth, a chart, holdings and a contract note.

Sign in at /login as `kite@example.com` / `casebook-demo` and open /zerodha/. (The exchange's
`demo@example.com` is a self-directed member of the exchange, so it cannot also be a Zerodha
client: an exchange trader belongs to one member.) Idempotent: nothing happens once the demo
client exists.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select

from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.zerodha import broker, oms, runtime
from casebook.systems.zerodha.models import ZerodhaClient

DEMO_PASSWORD = "casebook-demo"
CLIENT = ("kite@example.com", "Kite Demo", "KITED0001A")
MAKER = ("kite-mm@example.com", "Kite Market Maker", "KITEM0001M")
LEVELS = 5
SPREAD_TICKS = 10  # ₹0.10 between levels (tick = 1 paisa)


async def _client(platform: Platform, email: str, name: str, pan: str) -> ZerodhaClient:
    venue = runtime.exchange(platform)
    async with platform.db.session(write=True) as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        if user_id is None:
            user_id = (
                await register_user(session, email, DEMO_PASSWORD, name, settings=platform.settings)
            ).id
        client = await session.get(ZerodhaClient, user_id)
        if client is None:
            client = await broker.onboard(
                session, venue, runtime.house(platform), int(user_id), name, pan
            )
        return client


async def load_demo(platform: Platform) -> None:
    """Load the demo (module docstring); does nothing when the demo client exists."""
    async with platform.db.session() as session:
        exists = await session.scalar(
            select(ZerodhaClient.user_id)
            .join(User, User.id == ZerodhaClient.user_id)
            .where(User.email == CLIENT[0])
        )
    if exists is not None:
        return
    venue = runtime.exchange(platform)
    maker = await _client(platform, *MAKER)
    me = await _client(platform, *CLIENT)
    listings = sorted(
        (i for i in venue.listed.values() if i.quote_asset == broker.CASH), key=lambda i: i.symbol
    )
    async with platform.db.session(write=True) as session:
        await broker.add_funds(session, venue, maker, 100_000_000_00, new_id())
        await broker.add_funds(session, venue, me, 5_00_000_00, new_id())
        for instrument in listings:
            await venue.credit(
                session, maker.account_id, instrument.symbol, 10_000, new_id(), "demo"
            )
        await venue.credit(session, me.account_id, "INFY", 10, new_id(), "demo")
    for instrument in listings:
        mid = venue.last_price.get(instrument.id) or instrument.reference_price or 100_00
        for level in range(1, LEVELS + 1):
            quotes: tuple[tuple[Literal["buy", "sell"], int], ...] = (
                ("buy", mid - level * SPREAD_TICKS),
                ("sell", mid + level * SPREAD_TICKS),
            )
            for side, price in quotes:
                await oms.place(
                    platform,
                    venue,
                    maker,
                    oms.OrderRequest(
                        symbol=instrument.symbol,
                        side=side,
                        quantity=10 * level,
                        product="CNC",
                        order_type="LIMIT",
                        price=price * instrument.tick_size,
                    ),
                )
    await oms.place(
        platform,
        venue,
        me,
        oms.OrderRequest(
            symbol="TCS", side="buy", quantity=5, product="CNC", order_type="MARKET", price=None
        ),
    )
