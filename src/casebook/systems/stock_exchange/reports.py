"""Reports for traders, members and regulators, as queries over the venue's trades.

Settlement is T+0: each trade is settled in the ledger inside the matching engine's commit
(engines/matching/settlement.py), so the settlement report is a statement of what already moved,
per UTC day, member and instrument: securities in and out (base-asset minor units), cash paid and
received (quote-asset minor units, fees included). The daily summary gives each instrument's OHLC,
VWAP, volume and trade count; member activity counts a member's orders and trades.

Every query is one or two grouped SQL statements over `matching_trades` / `matching_orders` of the
day (the `ts` range of the day in ns, indexed by (venue, instrument_id, trade_seq) and the account
indexes): O(trades of the day) in the database, O(groups) in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.models import MatchingInstrument, MatchingOrder, MatchingTrade
from casebook.systems.stock_exchange.models import ExchangeAccount, Member

VENUE = "stock-exchange"


def day_bounds_ns(day: date) -> tuple[int, int]:
    """[start, end) of the UTC day in integer nanoseconds since the epoch."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    start_ns = int(start.timestamp()) * 1_000_000_000
    return start_ns, start_ns + 86_400 * 1_000_000_000


def _npl(instrument: MatchingInstrument) -> int:
    return instrument.tick_size * instrument.lot_size // instrument.base_scale


@dataclass(frozen=True)
class SettlementLine:
    member_id: int
    member_name: str
    symbol: str
    base_asset: str
    quote_asset: str
    securities_in: int
    securities_out: int
    cash_paid: int
    """Bought notional plus fees on the buys."""
    cash_received: int
    """Sold notional minus fees on the sells."""
    fees: int
    trades: int

    @property
    def net_securities(self) -> int:
        return self.securities_in - self.securities_out

    @property
    def net_cash(self) -> int:
        return self.cash_received - self.cash_paid


async def _member_names(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(Member.id, Member.name))
    return {member_id: name for member_id, name in rows}


async def _instruments(session: AsyncSession) -> dict[int, MatchingInstrument]:
    rows = await session.scalars(
        select(MatchingInstrument).where(MatchingInstrument.venue == VENUE)
    )
    return {i.id: i for i in rows}


async def settlement(
    session: AsyncSession, day: date, member_id: int | None = None
) -> list[SettlementLine]:
    """What each member's accounts settled on `day`, per instrument (only `member_id`'s if given),
    ordered by member name and symbol."""
    start, end = day_bounds_ns(day)
    t = MatchingTrade
    in_day = (t.venue == VENUE, t.ts >= start, t.ts < end)
    maker_side = case((t.taker_side == "buy", "sell"), else_="buy")
    legs = union_all(
        select(
            t.instrument_id.label("instrument_id"),
            t.maker_account_id.label("account_id"),
            maker_side.label("side"),
            t.qty.label("qty"),
            (t.price * t.qty).label("ticks"),
            t.maker_fee.label("fee"),
        ).where(*in_day),
        select(
            t.instrument_id,
            t.taker_account_id,
            t.taker_side,
            t.qty,
            t.price * t.qty,
            t.taker_fee,
        ).where(*in_day),
    ).subquery()
    buy = legs.c.side == literal("buy")
    stmt = (
        select(
            ExchangeAccount.member_id,
            legs.c.instrument_id,
            func.sum(case((buy, legs.c.qty), else_=0)),
            func.sum(case((buy, 0), else_=legs.c.qty)),
            func.sum(case((buy, legs.c.ticks), else_=0)),
            func.sum(case((buy, 0), else_=legs.c.ticks)),
            func.sum(case((buy, legs.c.fee), else_=0)),
            func.sum(case((buy, 0), else_=legs.c.fee)),
            func.count(),
        )
        .join(ExchangeAccount, ExchangeAccount.account_id == legs.c.account_id)
        .group_by(ExchangeAccount.member_id, legs.c.instrument_id)
    )
    if member_id is not None:
        stmt = stmt.where(ExchangeAccount.member_id == member_id)
    rows = (await session.execute(stmt)).all()
    instruments = await _instruments(session)
    names = await _member_names(session)
    lines = []
    for mid, iid, bought, sold, buy_ticks, sell_ticks, buy_fees, sell_fees, count in rows:
        inst = instruments[iid]
        npl = _npl(inst)
        lines.append(
            SettlementLine(
                member_id=mid,
                member_name=names.get(mid, ""),
                symbol=inst.symbol,
                base_asset=inst.base_asset,
                quote_asset=inst.quote_asset,
                securities_in=int(bought) * inst.lot_size,
                securities_out=int(sold) * inst.lot_size,
                cash_paid=int(buy_ticks) * npl + int(buy_fees),
                cash_received=int(sell_ticks) * npl - int(sell_fees),
                fees=int(buy_fees) + int(sell_fees),
                trades=int(count),
            )
        )
    return sorted(lines, key=lambda line: (line.member_name, line.symbol))


@dataclass(frozen=True)
class DailySummary:
    symbol: str
    open: int
    high: int
    low: int
    close: int
    vwap_ticks_x100: int
    """Volume-weighted average price in hundredths of a tick (floor), so it stays an integer."""
    volume: int
    quote_volume: int
    trades: int


async def daily_summary(session: AsyncSession, day: date) -> list[DailySummary]:
    """Per instrument that traded on `day`: OHLC (ticks), VWAP, volume (lots), quote volume
    (minor units), trade count; ordered by symbol."""
    start, end = day_bounds_ns(day)
    t = MatchingTrade
    rows = (
        await session.execute(
            select(
                t.instrument_id,
                func.min(t.trade_seq),
                func.max(t.trade_seq),
                func.max(t.price),
                func.min(t.price),
                func.sum(t.qty),
                func.sum(t.price * t.qty),
                func.count(),
            )
            .where(t.venue == VENUE, t.ts >= start, t.ts < end)
            .group_by(t.instrument_id)
        )
    ).all()
    instruments = await _instruments(session)
    out = []
    for iid, first_seq, last_seq, high, low, volume, ticks, count in rows:
        ends: dict[int, int] = {
            seq: price
            for seq, price in (
                await session.execute(
                    select(t.trade_seq, t.price).where(
                        t.venue == VENUE,
                        t.instrument_id == iid,
                        t.trade_seq.in_((first_seq, last_seq)),
                    )
                )
            )
        }
        out.append(
            DailySummary(
                symbol=instruments[iid].symbol,
                open=ends[first_seq],
                high=high,
                low=low,
                close=ends[last_seq],
                vwap_ticks_x100=int(ticks) * 100 // int(volume),
                volume=int(volume),
                quote_volume=int(ticks) * _npl(instruments[iid]),
                trades=int(count),
            )
        )
    return sorted(out, key=lambda s: s.symbol)


@dataclass(frozen=True)
class MemberActivity:
    member_id: int
    member_name: str
    orders: int
    orders_by_status: dict[str, int]
    trades: int
    volume: int


async def member_activity(session: AsyncSession, day: date) -> list[MemberActivity]:
    """Per member: orders entered on `day` (by status now) and trade legs and lots traded."""
    start_ns, end_ns = day_bounds_ns(day)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    o = MatchingOrder
    order_rows = (
        await session.execute(
            select(ExchangeAccount.member_id, o.status, func.count())
            .join(ExchangeAccount, ExchangeAccount.account_id == o.account_id)
            .where(o.venue == VENUE, o.created_at >= start, o.created_at < start + timedelta(1))
            .group_by(ExchangeAccount.member_id, o.status)
        )
    ).all()
    t = MatchingTrade
    in_day = (t.venue == VENUE, t.ts >= start_ns, t.ts < end_ns)
    legs = union_all(
        select(t.maker_account_id.label("account_id"), t.qty.label("qty")).where(*in_day),
        select(t.taker_account_id, t.qty).where(*in_day),
    ).subquery()
    trade_rows = (
        await session.execute(
            select(ExchangeAccount.member_id, func.count(), func.sum(legs.c.qty))
            .join(ExchangeAccount, ExchangeAccount.account_id == legs.c.account_id)
            .group_by(ExchangeAccount.member_id)
        )
    ).all()
    statuses: dict[int, dict[str, int]] = {}
    for mid, status, count in order_rows:
        statuses.setdefault(mid, {})[status] = int(count)
    traded = {mid: (int(count), int(qty)) for mid, count, qty in trade_rows}
    names = await _member_names(session)
    out = [
        MemberActivity(
            member_id=mid,
            member_name=names.get(mid, ""),
            orders=sum(statuses.get(mid, {}).values()),
            orders_by_status=statuses.get(mid, {}),
            trades=traded.get(mid, (0, 0))[0],
            volume=traded.get(mid, (0, 0))[1],
        )
        for mid in set(statuses) | set(traded)
    ]
    return sorted(out, key=lambda a: a.member_name)
