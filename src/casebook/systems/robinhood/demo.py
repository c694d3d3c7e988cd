"""Demo data: the demo user as an approved Robinhood customer with cash, a few holdings (one
fractional, one bought by dollar amount), a watchlist, filled orders and two open limit orders,
so /robinhood/ shows a portfolio at once.

Sign in at /login as `demo@example.com` / `casebook-demo` (the shared demo identity) and open
/robinhood/. The orders trade against the Stock Exchange's demo market makers, so this loads
that demo first (idempotent). Loading is idempotent: it does nothing once the demo user has a
Robinhood order.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.robinhood import brokerage, onboarding, portfolio, watchlist
from casebook.systems.robinhood.books import MICRO
from casebook.systems.robinhood.brokerage import OrderRequest
from casebook.systems.robinhood.house import exchange
from casebook.systems.robinhood.models import Customer, Order
from casebook.systems.stock_exchange import demo as exchange_demo

DEMO_EMAIL = "demo@example.com"
DEPOSIT_CENTS = 10_000_00
DEPOSIT_TRANSFER_ID = 0x5B0B1_0000_0D01
"""The demo deposit's fixed transfer id: made once whatever reloads."""
APPLICATION = onboarding.Application("Demo Person", date(1990, 1, 1), "US", "123456789")
ORDERS = (
    OrderRequest("AAPL", "buy", micro_shares=2_500_000),  # 2.5 shares: a fractional holding
    OrderRequest("MSFT", "buy", dollars=50_00),  # $50 of Microsoft
    OrderRequest("F", "buy", micro_shares=10 * MICRO),
    OrderRequest("AAPL", "buy", type="limit", micro_shares=MICRO, limit_price=180_00),
    OrderRequest("F", "sell", type="limit", micro_shares=4 * MICRO, limit_price=15_00),
)
"""Three market orders that fill at once, then two limit orders that rest (open)."""
WATCHLIST = ("AAPL", "MSFT", "F")


async def load_demo(platform: Platform) -> None:
    """`System.demo`: see the module docstring."""
    await exchange_demo.load_demo(platform)
    async with platform.db.session(write=True) as session:
        user_id = await session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
        if user_id is None:
            return  # the exchange's demo made it; it is missing only if that demo changed
        user_id = int(user_id)
        placed = await session.scalar(
            select(func.count()).select_from(Order).where(Order.user_id == user_id)
        )
        if placed:
            return
        if await session.get(Customer, user_id) is None:
            await onboarding.apply(session, user_id, APPLICATION, utcnow().date())
        await portfolio.move_cash(session, user_id, "deposit", DEPOSIT_CENTS, DEPOSIT_TRANSFER_ID)
        for symbol in WATCHLIST:
            await watchlist.add(session, user_id, symbol)
    for request in ORDERS:
        await brokerage.place(platform, user_id, request)
    async with platform.db.session(write=True) as session:
        reserved = await session.scalar(
            select(func.coalesce(func.sum(Order.reserved_cash - Order.amount), 0)).where(
                Order.user_id == user_id, Order.closed.is_(False), Order.side == "buy"
            )
        )
        current = await portfolio.summary(session, exchange(platform), user_id, int(reserved or 0))
        await portfolio.record_point(session, user_id, current)
