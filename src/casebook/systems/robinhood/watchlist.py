"""Watchlists: the symbols a customer follows (at most `MAX_ITEMS`), each added once."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.errors import Conflict
from casebook.platform.ids import new_id
from casebook.systems.robinhood.models import WatchlistItem

MAX_ITEMS = 100


async def symbols(session: AsyncSession, user_id: int) -> list[str]:
    """The customer's symbols in the order added. O(items)."""
    rows = await session.scalars(
        select(WatchlistItem.symbol)
        .where(WatchlistItem.user_id == user_id)
        .order_by(WatchlistItem.id)
    )
    return list(rows)


async def add(session: AsyncSession, user_id: int, symbol: str) -> None:
    """Follow `symbol` (idempotent); Conflict (409) past MAX_ITEMS."""
    if symbol in await symbols(session, user_id):
        return
    count = await session.scalar(
        select(func.count()).select_from(WatchlistItem).where(WatchlistItem.user_id == user_id)
    )
    if (count or 0) >= MAX_ITEMS:
        raise Conflict(f"A watchlist holds at most {MAX_ITEMS} symbols.")
    try:
        async with session.begin_nested():
            session.add(WatchlistItem(id=new_id(), user_id=user_id, symbol=symbol))
    except IntegrityError:
        return  # a concurrent add of the same symbol won


async def remove(session: AsyncSession, user_id: int, symbol: str) -> None:
    await session.execute(
        delete(WatchlistItem).where(
            WatchlistItem.user_id == user_id, WatchlistItem.symbol == symbol
        )
    )
