"""The venue's single writer: group-committed commands, journal, book and settlement.

One `VenueWriter` task per (process, venue) owns the books of the venue's instruments. Callers
(`Venue.place/cancel/replace/end_of_day`) queue a command and await its future; the task takes
everything queued (up to `max_batch`) and, in ONE write transaction:

1. for each command in queue order: checks what the book alone cannot (a CANCEL/REPLACE of an
   order that is not open or not the caller's is refused without touching anything; a REPLACE
   that needs a larger hold is refused with InsufficientFunds when the wallet's available funds,
   as read in this batch less what earlier replaces of the batch took, do not cover the growth),
   stamps `ts`, takes the instrument's next journal seq, applies it to the in-memory book and
   turns its events into ledger transfers (settlement.py) and order-state changes;
2. appends the batch's commands to `matching_journal`, submits every transfer to the ledger in
   one `create_transfers` call (one ordered lock of all accounts touched: no deadlock with
   placements, which also lock in id order), writes the orders touched, inserts the trades,
   records the candles (`candles.record`), and stores a snapshot of a book every
   `snapshot_every` journaled commands;
3. COMMITs; then resolves the callers' futures; then calls the listeners (market data, systems).

If anything fails (the ledger refuses a chain: a bug, or a race where a concurrent placement took
funds a replace counted on), the transaction rolls back, the touched books are rebuilt from
snapshot + journal (recovery.rebuild), and the batch is retried one command at a time, so only
the failing command is refused. A PLACE that fails alone is marked rejected and its hold released.

Costs per batch: a constant number of statements (journal insert, one query for the batch's
orders plus one per command that trades against makers not yet loaded, the ledger's fixed
statements, trades insert, candle upsert, order updates) and O(1) Python work per event.
No timer: while one batch commits the next accumulates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import structlog
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import MAX_BATCH, InsufficientFunds, Ledger, Outcome, Transfer
from casebook.engines.matching import candles, journal
from casebook.engines.matching.cluster import LeaseLost
from casebook.engines.matching.errors import (
    OrderNotFound,
    OrderNotOpen,
    SettlementFailed,
    VenueClosed,
)
from casebook.engines.matching.models import MatchingOrder, MatchingTrade
from casebook.engines.matching.settlement import LedgerAccounts, OrderState, Settlement
from casebook.engines.matching.types import (
    CANCEL,
    CANCELLED,
    PLACE,
    REJECTED,
    REPLACE,
    REPLACED,
    RESTED,
    TRADE,
    CancelReason,
    RejectReason,
    Side,
)
from casebook.engines.matching.views import Instrument, OrderView
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id

if TYPE_CHECKING:
    from casebook.engines.matching.venue import Venue

log = structlog.get_logger("casebook.matching.writer")

_TRADES = cast(Table, MatchingTrade.__table__)
_EXPIRED_REASONS = {CancelReason.IOC, CancelReason.FOK, CancelReason.DAY}


@dataclass
class _Pending:
    instrument_id: int
    command: tuple[Any, ...]
    """The command with its ts field still 0 (stamped by the writer)."""
    future: asyncio.Future[OrderView | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class _Batch:
    """What one transaction read and decided."""

    session: AsyncSession
    ledger: Ledger
    rows: dict[int, MatchingOrder] = field(default_factory=dict)
    states: dict[int, OrderState] = field(default_factory=dict)
    wallets: dict[tuple[int, str], int] = field(default_factory=dict)
    settlements: dict[int, Settlement] = field(default_factory=dict)
    journal: dict[int, list[tuple[int, tuple[Any, ...]]]] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)
    trades: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)
    trade_rows: list[dict[str, Any]] = field(default_factory=list)
    events: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)
    touched: dict[int, set[int]] = field(default_factory=dict)
    available: dict[int, int] = field(default_factory=dict)
    """Ledger wallet id → what it may still spend, for the replace checks of this batch."""
    snapshots: list[tuple[int, int, bytes]] = field(default_factory=list)


class VenueWriter:
    """The per-process writer of one venue (see the module docstring)."""

    def __init__(self, venue: Venue, max_batch: int = 256) -> None:
        self.venue = venue
        self.max_batch = max_batch
        self.batches = 0
        self.failed_batches = 0
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = True

    @property
    def running(self) -> bool:
        return self._task is not None and not self._closed

    def start(self) -> None:
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"matching-writer-{self.venue.name}"
        )

    async def stop(self) -> None:
        """Refuse new commands, commit every queued one, and end the task."""
        self._closed = True
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def submit(self, instrument_id: int, command: tuple[Any, ...]) -> OrderView | None:
        """Queue `command` for `instrument_id`'s book and wait for its COMMIT; returns the view
        of the command's order after it (None for EXPIRE_DAY). Raises the command's Problem
        (OrderNotFound, OrderNotOpen, InsufficientFunds for a replace) or VenueClosed."""
        if self._closed or self._task is None:
            raise VenueClosed("The venue is shutting down; retry the request.")
        pending = _Pending(instrument_id, command)
        self._queue.put_nowait(pending)
        return await pending.future

    async def _run(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                first = await self._queue.get()
                if first is None:
                    return
                batch = [first]
                stopping = False
                while len(batch) < self.max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                await self._commit(batch)
                batch = []
                if stopping:
                    return
        finally:
            self._closed = True
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    batch.append(item)
            for item in batch:
                _settle(item, VenueClosed("The venue is shutting down; retry the request."))

    async def _commit(self, batch: Sequence[_Pending]) -> None:
        try:
            outcomes, state = await self._write(batch)
        except LeaseLost as lost:
            # Cluster hook: another process owns these books now; nothing was applied or
            # written, and the callers (cluster.submit) route the commands to the new owner.
            for item in batch:
                _settle(item, lost)
            return
        except Exception as error:
            self.failed_batches += 1
            await self.venue.rebuild({item.instrument_id for item in batch})
            if len(batch) == 1:
                log.warning("matching command failed", venue=self.venue.name, error=repr(error))
                item = batch[0]
                if item.command[0] == PLACE:
                    await self.venue.reject_unplaced(item.command[1], "settlement-failed")
                _settle(item, error)
                return
            log.warning("matching batch failed; retrying one by one", size=len(batch))
            for item in batch:
                await self._commit([item])
            return
        self.batches += 1
        views = {order_id: OrderView.of(row) for order_id, row in state.rows.items()}
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _settle(item, outcome)
            else:
                _settle(item, views.get(outcome) if outcome else None)
        for instrument_id, events in state.events.items():
            instrument = self.venue.listed[instrument_id]
            touched = {
                oid: views[oid] for oid in state.touched.get(instrument_id, ()) if oid in views
            }
            await self.venue.committed(instrument, events, touched)

    async def _write(
        self, batch: Sequence[_Pending]
    ) -> tuple[list[int | BaseException | None], _Batch]:
        """One transaction for `batch`; each command's outcome (its order id, None, or the
        Problem refusing it) once COMMITTED."""
        venue = self.venue
        async with venue.platform.db.session(write=True) as session:
            state = _Batch(session=session, ledger=Ledger(session))
            if venue.cluster is not None:  # cluster hook: only the lease holder writes a book
                await venue.cluster.fence(session, {item.instrument_id for item in batch})
            order_ids = {
                item.command[1] for item in batch if item.command[0] in (PLACE, CANCEL, REPLACE)
            }
            await self._load(state, order_ids)
            outcomes: list[int | BaseException | None] = []
            for item in batch:
                try:
                    outcomes.append(await self._apply(state, item))
                except (OrderNotFound, OrderNotOpen, InsufficientFunds) as problem:
                    outcomes.append(problem)
            await self._persist(state)
        return outcomes, state

    async def _load(self, state: _Batch, order_ids: set[int]) -> None:
        """Read the orders not yet loaded (one query) and their accounts' wallets."""
        missing = order_ids - state.rows.keys()
        if not missing:
            return
        rows = await state.session.scalars(
            select(MatchingOrder).where(
                MatchingOrder.venue == self.venue.name, MatchingOrder.id.in_(missing)
            )
        )
        for row in rows:
            state.rows[row.id] = row
            side = Side.BUY if row.side == "buy" else Side.SELL
            state.states[row.id] = OrderState(
                id=row.id,
                account_id=row.account_id,
                side=side,
                price=row.price,
                qty=row.qty,
                open_qty=row.open_qty,
                hold_id=row.hold_transfer_id,
                filled_qty=row.filled_qty,
                notional_filled=row.notional_filled,
                fees_paid=row.fees_paid,
                status=row.status,
                reason=row.reason,
            )
            instrument = self.venue.listed[row.instrument_id]
            for asset in self.venue.config.settlement.wallet_assets(instrument.market):
                key = (row.account_id, asset)
                if key not in state.wallets:
                    state.wallets[key] = await self.venue.directory.wallet(
                        state.ledger, row.account_id, asset
                    )

    async def _settlement(self, state: _Batch, instrument: Instrument) -> Settlement:
        settlement = state.settlements.get(instrument.id)
        if settlement is None:
            directory, ledger = self.venue.directory, state.ledger
            accounts = await directory.for_settlement(ledger, instrument.market, ())
            settlement = self.venue.config.settlement(
                instrument.market,
                LedgerAccounts(
                    wallets=state.wallets, clearing=accounts.clearing, fees=accounts.fees
                ),
            )
            state.settlements[instrument.id] = settlement
        return settlement

    async def _apply(self, state: _Batch, item: _Pending) -> int | None:
        """Decide one command (see the module docstring); returns its order id (None for
        EXPIRE_DAY). Raises the Problem refusing it, having changed nothing."""
        venue = self.venue
        instrument = venue.listed[item.instrument_id]
        book = venue.books[instrument.id]
        settlement = await self._settlement(state, instrument)
        command = item.command
        kind = command[0]
        order_id: int | None = command[1] if kind in (PLACE, CANCEL, REPLACE) else None
        if order_id is not None:
            row = state.rows.get(order_id)
            if row is None or row.instrument_id != instrument.id or row.account_id != command[2]:
                raise OrderNotFound(f"There is no order {order_id} of this account.")
            if kind == PLACE and (row.journaled or row.status != "pending"):
                return order_id  # submitted twice (recovery): it was handled already
            if kind in (CANCEL, REPLACE):
                resting = book.open_order(order_id)
                if resting is None or resting[0] != command[2]:
                    raise OrderNotOpen(f"Order {order_id} is {row.status}; it cannot change.")
                if kind == REPLACE:
                    order = state.states[order_id]
                    await settlement.prepare(state.session, state.ledger, [order])
                    await self._check_resize(state, settlement, order, command)
        seq = venue.last_seq[instrument.id] + 1
        command = (*command[:-1], time.time_ns())
        events: list[tuple[Any, ...]] = []
        book.apply(command, events)
        venue.last_seq[instrument.id] = seq
        state.journal.setdefault(instrument.id, []).append((seq, command))
        if seq % venue.config.snapshot_every == 0:
            state.snapshots.append((instrument.id, seq, book.snapshot()))
        await self._settle_events(state, instrument, settlement, seq, events)
        if kind == PLACE and order_id is not None:
            state.rows[order_id].journaled = True
        state.events.setdefault(instrument.id, []).extend(events)
        return order_id

    async def _check_resize(
        self, state: _Batch, settlement: Settlement, order: OrderState, command: tuple[Any, ...]
    ) -> None:
        """Refuse a replace whose hold would grow beyond what the wallet may still spend."""
        _, _, _, price, qty, _ = command
        if qty < 1 or price < 1 or (order.price == 0):
            return  # the book rejects it (or a market sell, priceless): no hold changes
        growth = settlement.hold_amount(order, price, qty) - settlement.hold_amount(
            order, order.price, order.open_qty
        )
        if growth <= 0:
            return
        asset = settlement.hold_asset(order.side)
        wallet = state.wallets[(order.account_id, asset)]
        if wallet not in state.available:
            account = await state.ledger.account(wallet)
            state.available[wallet] = account.available
        if growth > state.available[wallet]:
            raise InsufficientFunds(
                Outcome.EXCEEDS_CREDITS,
                f"The new order needs {growth} more {asset} than it "
                f"holds; {state.available[wallet]} is available.",
            )
        state.available[wallet] -= growth

    async def _settle_events(
        self,
        state: _Batch,
        instrument: Instrument,
        settlement: Settlement,
        seq: int,
        events: Sequence[tuple[Any, ...]],
    ) -> None:
        """Turn one command's events into transfers, order-state changes and trade rows."""
        referenced: set[int] = set()
        for event in events:
            if event[0] == TRADE:
                referenced.update((event[2], event[4]))
            else:
                referenced.add(event[1])
        await self._load(state, referenced)
        await settlement.prepare(
            state.session, state.ledger, [state.states[i] for i in referenced if i in state.states]
        )
        touched = state.touched.setdefault(instrument.id, set())
        for event in events:
            kind = event[0]
            if kind == TRADE:
                maker, taker = state.states[event[2]], state.states[event[4]]
                chain, fill = settlement.trade(event, maker, taker)
                state.transfers.extend(chain)
                touched.update((maker.id, taker.id))
                state.trades.setdefault(instrument.id, []).append(event)
                state.trade_rows.append(
                    {
                        "id": new_id(),
                        "venue": self.venue.name,
                        "instrument_id": instrument.id,
                        "trade_seq": event[1],
                        "price": event[7],
                        "qty": event[8],
                        "maker_order_id": event[2],
                        "maker_account_id": event[3],
                        "taker_order_id": event[4],
                        "taker_account_id": event[5],
                        "taker_side": "buy" if event[6] == Side.BUY else "sell",
                        "maker_fee": fill.maker_fee,
                        "taker_fee": fill.taker_fee,
                        "ts": event[11],
                    }
                )
            elif kind == RESTED:
                order = state.states[event[1]]
                order.open_qty = event[5]
                order.status = "open" if order.filled_qty == 0 else "partially_filled"
                touched.add(order.id)
            elif kind == CANCELLED:
                order = state.states[event[1]]
                state.transfers.extend(settlement.release(order))
                reason = CancelReason(event[6])
                order.status = "expired" if reason in _EXPIRED_REASONS else "cancelled"
                order.reason = reason.name.lower()
                touched.add(order.id)
            elif kind == REPLACED:
                order = state.states[event[1]]
                new_price, new_qty = event[6], event[7]
                if order.price == 0 or settlement.hold_amount(
                    order, new_price, new_qty
                ) == settlement.hold_amount(order, order.price, order.open_qty):
                    order.price = new_price or order.price
                    order.open_qty = new_qty
                else:
                    state.transfers.extend(settlement.resize(order, new_price, new_qty, seq))
                order.qty = order.filled_qty + new_qty
                touched.add(order.id)
            elif kind == REJECTED:
                rejected = state.states.get(event[1])
                if rejected is not None and rejected.status == "pending":
                    state.transfers.extend(settlement.release(rejected))
                    rejected.status = "rejected"
                    rejected.reason = RejectReason(event[3]).name.lower()
                    touched.add(rejected.id)

    async def _persist(self, state: _Batch) -> None:
        """Write what the batch decided, inside its transaction."""
        venue = self.venue
        session = state.session
        for instrument_id, entries in state.journal.items():
            await journal.append(session, venue.name, instrument_id, entries)
        await self._submit_transfers(state)
        for settlement in state.settlements.values():
            await settlement.persist(session)
        now = utcnow()
        for order_id, order in state.states.items():
            row = state.rows[order_id]
            if (
                row.hold_transfer_id != order.hold_id
                or row.open_qty != order.open_qty
                or row.status != order.status
                or row.filled_qty != order.filled_qty
                or row.price != order.price
                or row.qty != order.qty
            ):
                row.price = order.price
                row.qty = order.qty
                row.open_qty = order.open_qty
                row.filled_qty = order.filled_qty
                row.notional_filled = order.notional_filled
                row.fees_paid = order.fees_paid
                row.status = order.status
                row.reason = order.reason
                row.hold_transfer_id = order.hold_id
                row.updated_at = now
        if state.trade_rows:
            await session.execute(_TRADES.insert(), state.trade_rows)
        for instrument_id, trades in state.trades.items():
            await candles.record(
                session, venue.name, instrument_id, venue.listed[instrument_id].npl, trades
            )
        for instrument_id, seq, data in state.snapshots:
            await journal.save_snapshot(session, venue.name, instrument_id, seq, data)
        await session.flush()

    async def _submit_transfers(self, state: _Batch) -> None:
        """Every transfer of the batch, in order, in as few ledger calls as MAX_BATCH allows
        (cut only between linked chains). Raises SettlementFailed / InsufficientFunds if the
        ledger refuses any."""
        transfers = state.transfers
        start = 0
        while start < len(transfers):
            end = min(start + MAX_BATCH, len(transfers))
            while end < len(transfers) and transfers[end - 1].linked:
                end -= 1
            outcomes = await state.ledger.create_transfers(transfers[start:end])
            for transfer, outcome in zip(transfers[start:end], outcomes, strict=True):
                if not outcome.succeeded:
                    if outcome is Outcome.EXCEEDS_CREDITS and transfer.code == "order-hold":
                        raise InsufficientFunds(outcome, "Not enough funds for the new order size.")
                    raise SettlementFailed(
                        f"ledger refused transfer {transfer.id} ({transfer.code}): {outcome.value}"
                    )
            start = end


def _settle(item: _Pending, outcome: OrderView | BaseException | None) -> None:
    # A caller that stopped waiting has a cancelled future; its command may still have committed.
    with contextlib.suppress(asyncio.InvalidStateError):
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
