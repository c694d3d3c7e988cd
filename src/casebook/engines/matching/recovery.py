"""Rebuilding a venue's books after a restart or a failed batch.

A book is `OrderBook.restore(latest snapshot)` (or an empty book) plus every journaled command
after the snapshot's seq, applied in order: the book is deterministic, so this is exactly the
book that committed (the journal and the settlement of each command commit in one transaction).
Orders that were accepted and held but never reached the writer (the process died between the
placement's COMMIT and the batch's) are still `pending` and not `journaled`; the venue submits
them again at start, in id order.

Costs: O(commands after the snapshot) to replay; one query for the snapshot, one for the journal.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import journal
from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.models import MatchingOrder, MatchingTrade
from casebook.engines.matching.types import TRADE, Side


async def rebuild_book(
    session: AsyncSession, venue: str, instrument_id: int
) -> tuple[OrderBook, int]:
    """The book of `instrument_id` as of its last journaled command, and that command's seq."""
    snapshot = await journal.latest_snapshot(session, venue, instrument_id)
    if snapshot is None:
        book, seq = OrderBook(instrument_id), 0
    else:
        seq, data = snapshot
        book = OrderBook.restore(data)
    discard: list[tuple[int, ...]] = []
    for entry_seq, command in await journal.entries_after(session, venue, instrument_id, seq):
        book.apply(command, discard)
        discard.clear()
        seq = entry_seq
    return book, seq


async def unjournaled_orders(session: AsyncSession, venue: str) -> list[MatchingOrder]:
    """Orders accepted (held) but never applied to a book, oldest first."""
    rows = await session.scalars(
        select(MatchingOrder)
        .where(
            MatchingOrder.venue == venue,
            MatchingOrder.journaled.is_(False),
            MatchingOrder.status == "pending",
        )
        .order_by(MatchingOrder.id)
    )
    return list(rows)


async def recent_trades(
    session: AsyncSession, venue: str, instrument_id: int, limit: int
) -> list[tuple[int, ...]]:
    """The last `limit` trades of the instrument as TRADE tuples, oldest first (for the market
    data tape and the last price after a restart). One index range scan."""
    rows = (
        await session.scalars(
            select(MatchingTrade)
            .where(MatchingTrade.venue == venue, MatchingTrade.instrument_id == instrument_id)
            .order_by(MatchingTrade.trade_seq.desc())
            .limit(limit)
        )
    ).all()
    return [
        (
            TRADE,
            t.trade_seq,
            t.maker_order_id,
            t.maker_account_id,
            t.taker_order_id,
            t.taker_account_id,
            int(Side.BUY if t.taker_side == "buy" else Side.SELL),
            t.price,
            t.qty,
            0,
            0,
            t.ts,
        )
        for t in reversed(rows)
    ]
