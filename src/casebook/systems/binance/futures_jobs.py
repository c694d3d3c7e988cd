"""Background work of USDT-M futures: funding every 8 hours and the liquidation sweep.

Funding (`run_funding`), per contract and funding time T (00:00, 08:00, 16:00 UTC): rate =
clamp(premium + 0.01 %, ±0.75 %) from the books when the step runs; each lot of an open position
moves u = floor(mark · npl · |rate|) quote minor units (rounded down per lot), longs paying
shorts when the rate is positive and the reverse when negative. Since every trade creates equal
long and short lots, the payers' total equals the receivers' total exactly: zero-sum. A payer
pays from its wallet (cross) or position margin (isolated), then the other, then the insurance
fund covers what it cannot (recorded as `insurance_covered`), so no balance goes negative.
Exactly once: the step first inserts the (contract, T) run row; a second run (another process,
a retry) hits the key and does nothing, and everything commits in one transaction.

Liquidation (`sweep`): an isolated position whose margin + uPnL at mark is below its maintenance
(0.5 % of the notional at mark), or a cross account whose wallet + cross margins + cross uPnL is
below the cross positions' maintenance, is taken over by the insurance fund: its open orders on
those contracts are cancelled (holds released), then in ONE transaction, under the position
rows' locks and with the condition checked again, all its collateral (the margins, and in cross
mode the wallet's available funds) goes to the fund, the PnL at mark is settled between the fund
and the pnl pool (the fund pays a loss beyond the collateral), and the positions move to the
fund's account at the mark price. The fund then closes what it holds with IOC orders at mark
± 5 % against the book; what it cannot close stays its position until the next sweep.
If the fund cannot pay, the ledger refuses the takeover and nothing changes
(`InsuranceFundExhausted`, logged): auto-deleveraging is not built.

Both are jobs keyed by their time slot (one per slot across a cluster) that call these
functions; tests call them directly with an injected time.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import AccountKind, Ledger, Transfer
from casebook.engines.matching import mount
from casebook.engines.matching import venue as venues
from casebook.engines.matching.errors import OrderNotFound, OrderNotOpen
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.settlement import transfer_id
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.views import Instrument
from casebook.platform.context import Platform
from casebook.platform.errors import Conflict, Problem
from casebook.platform.ids import new_id
from casebook.systems.binance import futures
from casebook.systems.binance.futures_models import (
    FuturesFunding,
    FuturesFundingRun,
    FuturesLiquidation,
    FuturesPosition,
)
from casebook.systems.binance.futures_settlement import (
    FUTURES_VENUE,
    FuturesSettlement,
    close_part,
    insurance_account_id,
    lock_positions,
    margin_account,
    pool_account,
)

log = structlog.get_logger("casebook.binance.futures")

FUNDING_JOB = "binance.futures-funding"
LIQUIDATION_JOB = "binance.futures-liquidation"
LIQUIDATION_INTERVAL = 2.0


class InsuranceFundExhausted(Conflict):
    type_ = "binance/insurance-fund-exhausted"
    title = "The insurance fund cannot cover this loss"


async def _funding_clearing(ledger: Ledger) -> int:
    opened = await ledger.open_account(
        owner=FUTURES_VENUE, name="funding", currency="USDT", kind=AccountKind.LIABILITY
    )
    return opened.id


async def run_funding(
    platform: Platform, instrument: Instrument, funding_time: int
) -> FuturesFundingRun | None:
    """Settle funding of one contract at `funding_time` exactly once (module docstring);
    returns the run, or None when it had run already. O(positions) rows and transfers."""
    quote = futures.prices(platform, instrument)
    npl = instrument.npl
    per_lot = quote.mark * npl * abs(quote.funding_rate_e8) // 10**8
    async with platform.db.session(write=True) as session:
        run = FuturesFundingRun(
            instrument_id=instrument.id,
            funding_time=funding_time,
            rate_e8=quote.funding_rate_e8,
            mark=quote.mark,
            index_price=quote.index,
        )
        try:
            async with session.begin_nested():
                session.add(run)
        except IntegrityError:
            return None
        ids = list(
            await session.scalars(
                select(FuturesPosition.account_id).where(
                    FuturesPosition.instrument_id == instrument.id, FuturesPosition.qty != 0
                )
            )
        )
        positions = await lock_positions(session, instrument.id, ids)
        if per_lot == 0 or not positions:
            return run
        ledger = Ledger(session)
        clearing = await _funding_clearing(ledger)
        insurance = await _insurance_wallet(session, ledger)
        longs_pay = quote.funding_rate_e8 > 0
        payers = [p for p in positions.values() if p.qty != 0 and (p.qty > 0) == longs_pay]
        receivers = [p for p in positions.values() if p.qty != 0 and (p.qty > 0) != longs_pay]
        paid = sum(abs(p.qty) for p in payers) * per_lot
        received = sum(abs(p.qty) for p in receivers) * per_lot
        if paid != received:
            raise RuntimeError(f"open interest is not balanced: {paid} paid, {received} received")
        transfers: list[Transfer] = []

        def key(account_id: int, leg: int) -> int:
            return transfer_id(
                FUTURES_VENUE, instrument.id, "funding", funding_time, account_id, leg
            )

        for position in payers:
            owed = abs(position.qty) * per_lot
            wallet = await futures.futures_wallet(ledger, position.account_id)
            margin = await margin_account(ledger, FUTURES_VENUE, position.account_id, instrument.id)
            sources = [wallet, margin] if position.mode == "cross" else [margin, wallet]
            left = owed
            for leg, source in enumerate(sources, start=1):
                can = min(left, max(0, (await ledger.account(source)).available))
                if can:
                    transfers.append(
                        Transfer(
                            id=key(position.account_id, leg),
                            debit_account_id=source,
                            credit_account_id=clearing,
                            amount=can,
                            code="futures-funding",
                            reference=f"{FUTURES_VENUE}:funding:{funding_time}",
                        )
                    )
                    left -= can
            if left:
                transfers.append(
                    Transfer(
                        id=key(position.account_id, 3),
                        debit_account_id=insurance,
                        credit_account_id=clearing,
                        amount=left,
                        code="futures-funding-insurance",
                        reference=f"{FUTURES_VENUE}:funding:{funding_time}",
                    )
                )
            session.add(_payment(position, funding_time, quote, -owed, left))
        for position in receivers:
            amount = abs(position.qty) * per_lot
            target = (
                await futures.futures_wallet(ledger, position.account_id)
                if position.mode == "cross"
                else await margin_account(ledger, FUTURES_VENUE, position.account_id, instrument.id)
            )
            transfers.append(
                Transfer(
                    id=key(position.account_id, 4),
                    debit_account_id=clearing,
                    credit_account_id=target,
                    amount=amount,
                    code="futures-funding",
                    reference=f"{FUTURES_VENUE}:funding:{funding_time}",
                )
            )
            session.add(_payment(position, funding_time, quote, amount, 0))
        outcomes = await ledger.create_transfers(transfers)
        refused = [o for o in outcomes if not o.succeeded]
        if refused:
            raise InsuranceFundExhausted(f"funding at {funding_time} refused: {refused[0].value}")
    return run


def _payment(
    position: FuturesPosition, funding_time: int, quote: futures.Prices, amount: int, covered: int
) -> FuturesFunding:
    return FuturesFunding(
        id=new_id(),
        account_id=position.account_id,
        instrument_id=position.instrument_id,
        funding_time=funding_time,
        qty=position.qty,
        rate_e8=quote.funding_rate_e8,
        mark=quote.mark,
        amount=amount,
        insurance_covered=covered,
    )


async def _insurance_wallet(session: AsyncSession, ledger: Ledger) -> int:
    insurance = await insurance_account_id(session, FUTURES_VENUE)
    if insurance is None:
        raise InsuranceFundExhausted("The insurance fund is not open.")
    return await futures.futures_wallet(ledger, insurance)


# -- liquidation --------------------------------------------------------------------------------


async def sweep(platform: Platform) -> list[FuturesLiquidation]:
    """Liquidate every position below maintenance at mark, then let the fund close what it
    holds. Returns the takeovers made. O(open positions) rows and ledger reads."""
    venue = futures.futures_venue(platform)
    marks = {i.id: futures.prices(platform, i).mark for i in venue.listed.values()}
    async with platform.db.session() as session:
        insurance = await insurance_account_id(session, FUTURES_VENUE)
        rows = list(
            await session.scalars(
                select(FuturesPosition).where(
                    FuturesPosition.qty != 0, FuturesPosition.account_id != (insurance or 0)
                )
            )
        )
    by_account: dict[int, list[FuturesPosition]] = defaultdict(list)
    for row in rows:
        by_account[row.account_id].append(row)
    done: list[FuturesLiquidation] = []
    for account_id, positions in by_account.items():
        isolated = [p.instrument_id for p in positions if p.mode == "isolated"]
        cross = [p.instrument_id for p in positions if p.mode == "cross"]
        groups = [[i] for i in isolated] + ([cross] if cross else [])
        for group in groups:
            try:
                done += await liquidate(platform, account_id, group, marks)
            except Problem as problem:
                log.warning("liquidation refused", account_id=account_id, problem=problem.detail)
    await close_insurance_positions(platform, marks)
    return done


async def _shortfall(
    session: AsyncSession,
    ledger: Ledger,
    account_id: int,
    positions: list[FuturesPosition],
    marks: dict[int, int],
    venue_listed: dict[int, Instrument],
    cross: bool,
) -> tuple[bool, dict[int, int], int]:
    """(below maintenance?, margin account id → balance, wallet available taken in cross)."""
    margins: dict[int, int] = {}
    equity = 0
    required = 0
    for position in positions:
        instrument = venue_listed[position.instrument_id]
        margin_id = await margin_account(ledger, FUTURES_VENUE, account_id, instrument.id)
        margins[margin_id] = (await ledger.account(margin_id)).posted
        equity += margins[margin_id] + futures.unrealised(
            position, marks[instrument.id], instrument.npl
        )
        required += futures.maintenance(position.qty, marks[instrument.id], instrument.npl)
    wallet_taken = 0
    if cross:
        wallet = await ledger.account(await futures.futures_wallet(ledger, account_id))
        equity += wallet.posted
        wallet_taken = wallet.available
    return equity < required, margins, wallet_taken


async def liquidate(
    platform: Platform, account_id: int, instrument_ids: list[int], marks: dict[int, int]
) -> list[FuturesLiquidation]:
    """Take the account's positions in `instrument_ids` over if they are still below
    maintenance (all of them together for cross mode). Raises InsuranceFundExhausted (nothing
    changed) when the fund cannot pay the loss beyond the collateral."""
    venue = futures.futures_venue(platform)
    async with platform.db.session() as session:
        probe = [
            p
            for p in await session.scalars(
                select(FuturesPosition).where(
                    FuturesPosition.account_id == account_id,
                    FuturesPosition.instrument_id.in_(instrument_ids),
                    FuturesPosition.qty != 0,
                )
            )
        ]
        if not probe:
            return []
        cross = probe[0].mode == "cross"
        below, _, _ = await _shortfall(
            session, Ledger(session), account_id, probe, marks, venue.listed, cross
        )
        if not below:
            return []
        order_query = select(MatchingOrder.id).where(
            MatchingOrder.venue == FUTURES_VENUE,
            MatchingOrder.account_id == account_id,
            MatchingOrder.status.in_(futures.OPEN),
        )
        if not cross:
            order_query = order_query.where(MatchingOrder.instrument_id.in_(instrument_ids))
        order_ids = list(await session.scalars(order_query))
    for order_id in order_ids:
        with contextlib.suppress(OrderNotFound, OrderNotOpen):  # filled or cancelled meanwhile
            await venue.cancel(account_id, order_id)
    async with platform.db.session(write=True) as session:
        ledger = Ledger(session)
        insurance = await insurance_account_id(session, FUTURES_VENUE)
        if insurance is None:
            raise InsuranceFundExhausted("The insurance fund is not open.")
        fund = await futures.futures_wallet(ledger, insurance)
        pool = await pool_account(ledger, FUTURES_VENUE, "USDT")
        taken: list[FuturesLiquidation] = []
        positions: list[FuturesPosition] = []
        funds: dict[int, FuturesPosition] = {}
        for instrument_id in sorted(instrument_ids):
            locked = await lock_positions(session, instrument_id, [account_id, insurance])
            if locked[account_id].qty != 0:
                positions.append(locked[account_id])
                funds[instrument_id] = locked[insurance]
        if not positions:
            return []
        below, margins, wallet_taken = await _shortfall(
            session, ledger, account_id, positions, marks, venue.listed, cross
        )
        if not below:
            return []
        key = new_id()
        transfers: list[Transfer] = []
        leg = 0

        def move(debit: int, credit: int, amount: int, code: str) -> None:
            nonlocal leg
            leg += 1
            transfers.append(
                Transfer(
                    id=transfer_id(FUTURES_VENUE, 0, "liquidation", key, leg),
                    debit_account_id=debit,
                    credit_account_id=credit,
                    amount=amount,
                    linked=True,
                    code=code,
                    reference=f"{FUTURES_VENUE}:liquidation:{key}",
                )
            )

        for margin_id, balance in margins.items():
            if balance:
                move(margin_id, fund, balance, "futures-liquidation")
        if wallet_taken:
            move(
                await futures.futures_wallet(ledger, account_id),
                fund,
                wallet_taken,
                "futures-liquidation",
            )
        collateral = sum(margins.values()) + wallet_taken
        total_pnl = 0
        for position in positions:
            instrument = venue.listed[position.instrument_id]
            mark = marks[instrument.id]
            pnl = futures.unrealised(position, mark, instrument.npl)
            total_pnl += pnl
            fund_pnl = _take_over(funds[instrument.id], position, mark, instrument.npl)
            total_pnl += fund_pnl
            taken.append(
                FuturesLiquidation(
                    id=new_id(),
                    account_id=account_id,
                    instrument_id=instrument.id,
                    qty=position.qty,
                    mark=mark,
                    collateral=collateral if position is positions[0] else 0,
                    pnl=pnl,
                    insurance_delta=0,
                )
            )
            position.realised_pnl += pnl
            position.qty, position.cost = 0, 0
        if total_pnl > 0:
            move(pool, fund, total_pnl, "futures-liquidation-pnl")
        elif total_pnl < 0:
            move(fund, pool, -total_pnl, "futures-liquidation-loss")
        if transfers:
            transfers[-1] = replace(transfers[-1], linked=False)
            outcomes = await ledger.create_transfers(transfers)
            if not all(o.succeeded for o in outcomes):
                raise InsuranceFundExhausted(
                    f"Liquidating account {account_id} needs more than the insurance fund holds; "
                    "nothing was changed (auto-deleveraging is not built)."
                )
        taken[0].insurance_delta = collateral + total_pnl
        session.add_all(taken)
    return taken


def _take_over(fund: FuturesPosition, position: FuturesPosition, mark: int, npl: int) -> int:
    """Move `position` into the fund's position at `mark`; returns the PnL the fund realises
    when that nets against an opposite position it already held (settled by the caller)."""
    qty = position.qty
    realised = 0
    if fund.qty and (fund.qty > 0) != (qty > 0):
        closing = min(abs(qty), abs(fund.qty))
        closed = close_part(fund.qty, fund.cost, 0, closing, mark, npl)
        realised = closed.pnl
        fund.realised_pnl += realised
        fund.qty += closing if fund.qty < 0 else -closing
        fund.cost -= closed.cost_share
        rest = abs(qty) - closing
    else:
        rest = abs(qty)
    if rest:
        fund.qty += rest if qty > 0 else -rest
        fund.cost += mark * rest
    return realised


async def close_insurance_positions(platform: Platform, marks: dict[int, int]) -> None:
    """The fund's IOC orders closing what it holds, at mark ± 5 % against the book."""
    venue = futures.futures_venue(platform)
    async with platform.db.session() as session:
        insurance = await insurance_account_id(session, FUTURES_VENUE)
        if insurance is None:
            return
        held = list(
            await session.scalars(
                select(FuturesPosition).where(
                    FuturesPosition.account_id == insurance, FuturesPosition.qty != 0
                )
            )
        )
    for position in held:
        instrument = venue.listed[position.instrument_id]
        side = Side.SELL if position.qty > 0 else Side.BUY
        band = (
            -futures.MARKET_PROTECTION_BPS if side is Side.SELL else futures.MARKET_PROTECTION_BPS
        )
        price = max(1, marks[instrument.id] * (10_000 + band) // 10_000)
        try:
            await futures.place_order(
                platform,
                insurance,
                instrument,
                side,
                abs(position.qty),
                price,
                "limit",
                tif=TimeInForce.IOC,
            )
        except Problem as problem:
            log.warning("insurance close refused", problem=problem.detail)


# -- jobs ---------------------------------------------------------------------------------------


async def _funding_job(platform: Platform, payload: dict[str, Any]) -> None:
    funding_time = int(payload["funding_time"])
    try:
        for instrument in list(futures.futures_venue(platform).listed.values()):
            await run_funding(platform, instrument, funding_time)
    finally:
        await schedule_funding(platform, funding_time)


async def schedule_funding(platform: Platform, now: float | None = None) -> str:
    """Enqueue the funding step of the next funding time, keyed by it (once per slot)."""
    now = time.time() if now is None else now
    funding_time = futures.next_funding_time(now)
    return await platform.jobs.enqueue(
        FUNDING_JOB,
        {"funding_time": funding_time},
        key=str(funding_time),
        delay=max(0.0, funding_time - time.time()),
    )


async def _liquidation_job(platform: Platform, payload: dict[str, Any]) -> None:
    try:
        await sweep(platform)
    finally:
        await schedule_sweep(platform)


async def schedule_sweep(platform: Platform, now: float | None = None) -> str:
    now = time.time() if now is None else now
    slot = int(now // LIQUIDATION_INTERVAL) + 1
    return await platform.jobs.enqueue(
        LIQUIDATION_JOB, {}, key=str(slot), delay=max(0.0, slot * LIQUIDATION_INTERVAL - now)
    )


async def start_futures(platform: Platform) -> None:
    """Open the futures venue (`open_futures`), then register and schedule the funding and
    liquidation jobs."""
    await open_futures(platform)
    platform.jobs.register(FUNDING_JOB, _funding_job, retries=5)
    platform.jobs.register(LIQUIDATION_JOB, _liquidation_job, retries=3)
    await schedule_funding(platform)
    await schedule_sweep(platform)


async def open_futures(platform: Platform) -> None:
    """Start the futures venue (after spot: the index reads its books), list the contracts,
    open and seed the insurance fund."""
    await mount.startup(
        platform,
        venues.VenueConfig(
            venue=FUTURES_VENUE,
            settlement=FuturesSettlement,
            market_protection_bps=futures.MARKET_PROTECTION_BPS,
        ),
    )
    await futures.list_contracts(platform)
    await futures.open_insurance_fund(platform)


async def stop_futures(platform: Platform) -> None:
    await mount.shutdown(platform, FUTURES_VENUE)
