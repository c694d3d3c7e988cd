"""The venue: what a trading system (Stock Exchange, a broker, Binance) uses of the matching engine.

A `Venue` lists instruments, opens accounts, moves deposits and withdrawals through the ledger,
and takes orders: `place` validates, reserves funds (risk.py) and inserts the order in one
transaction, then hands the command to the venue's single writer (writer.py), which journals it,
applies it to the in-memory book, settles its fills in the ledger and commits, all in one
transaction; `place` returns the order as that commit left it (immediate fills included).

One venue per (process, system slug), started by the system's startup hook (`start`), kept in
`platform.state`, found again with `get`. At start it rebuilds every book from snapshot + journal
and re-submits the orders that were accepted but never reached the writer (recovery.py).

Read paths (`order`, `orders`, `trades`, `balances`) take the caller's session and never see
another account's rows: every query filters by venue and account.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import AccountKind, Ledger, Outcome, Transfer
from casebook.engines.ledger.errors import refusal
from casebook.engines.matching import cluster as clusters
from casebook.engines.matching import md_live, recovery
from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.errors import (
    AccountNotFound,
    DuplicateClientOrderId,
    InstrumentHalted,
    InstrumentNotFound,
    InvalidListing,
    InvalidOrder,
    NoReferencePrice,
    OrderNotFound,
    VenueClosed,
)
from casebook.engines.matching.marketdata import MarketData, MarketDataDiverged
from casebook.engines.matching.models import (
    MatchingAccount,
    MatchingInstrument,
    MatchingOrder,
    MatchingTrade,
)
from casebook.engines.matching.risk import (
    LedgerDirectory,
    hold_transfer,
    place_hold,
    wallet_owner,
)
from casebook.engines.matching.settlement import CLEARING, EXTERNAL, OrderState, Settlement
from casebook.engines.matching.types import (
    CANCEL,
    EXPIRE_DAY,
    PLACE,
    REPLACE,
    TRADE,
    Flag,
    SelfTrade,
    Side,
    TimeInForce,
)
from casebook.engines.matching.views import (
    AccountTrade,
    Balance,
    Instrument,
    InstrumentSpec,
    NewOrder,
    OrderView,
)
from casebook.engines.matching.writer import VenueWriter
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import Problem
from casebook.platform.groupcommit import GroupCommit
from casebook.platform.ids import new_id

__all__ = [
    "AccountTrade",
    "Balance",
    "Instrument",
    "InstrumentSpec",
    "Listener",
    "NewOrder",
    "OrderView",
    "Venue",
    "VenueConfig",
    "get",
    "start",
    "stop",
]

log = structlog.get_logger("casebook.matching.venue")

SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")
ASSET = re.compile(r"^[A-Z0-9]{1,10}$")
MAX_UNITS = 10**12
"""Upper bound of tick_size, lot_size, base_scale, a price in ticks and a quantity in lots: keeps
price * qty * npl far inside a 64-bit counter (the ledger caps one amount at 10**15)."""
TAPE_SIZE = 1000

Listener = Callable[
    [Instrument, Sequence[tuple[Any, ...]], Mapping[int, OrderView]], Awaitable[None]
]


ACCEPT_MAX_BATCH = 256
"""Orders accepted in one transaction at most (the ledger takes up to 8,190 holds a batch)."""


@dataclass(frozen=True)
class Acceptance:
    """An order validated and numbered, waiting for its acceptance transaction."""

    order: NewOrder
    instrument: Instrument
    command: tuple[Any, ...]
    """The PLACE command with its order id."""
    hold_id: int


@dataclass(frozen=True)
class VenueConfig:
    venue: str
    can_trade: Callable[[AsyncSession, int], Awaitable[None]] | None = None
    """(session, account_id) → None, or raises a Problem (a KYC gate): checked on every order."""
    market_protection_bps: int = 500
    """A market BUY holds and executes up to reference * (1 + this)."""
    default_stp: SelfTrade = SelfTrade.EXPIRE_TAKER
    snapshot_every: int = 1000
    writer_max_batch: int = 256
    cluster: clusters.ClusterConfig | None = None
    """Cluster mode (cluster.py): several processes, each book owned by one through a lease.
    None: embedded (this process owns every book) unless CASEBOOK_MATCHING_CLUSTER=1."""
    settlement: type[Settlement] = Settlement
    """How fills settle and what orders hold (settlement.py, "Pluggable settlement"): spot by
    default; a perpetual-futures venue passes its positions-and-margin subclass."""


def _state_key(venue: str) -> str:
    return f"matching:venue:{venue}"


async def start(platform: Platform, config: VenueConfig) -> Venue:
    """Start the venue of `config.venue` in this process (rebuild books, start the writer,
    re-submit unjournaled orders) and keep it in `platform.state`."""
    venue = Venue(platform, config)
    platform.state[_state_key(config.venue)] = venue
    await venue.open()
    return venue


def get(platform: Platform, venue: str) -> Venue:
    """The running venue `venue` of this process; KeyError if it was not started."""
    found: Venue = platform.state[_state_key(venue)]
    return found


async def stop(platform: Platform, venue: str) -> None:
    """Drain the venue's writer and forget it."""
    found = platform.state.pop(_state_key(venue), None)
    if found is not None:
        await found.close()


@dataclass
class Venue:
    """A trading venue (see the module docstring)."""

    platform: Platform
    config: VenueConfig
    listed: dict[int, Instrument] = field(default_factory=dict)
    """Instrument id → instrument, every listing of the venue."""
    books: dict[int, OrderBook] = field(default_factory=dict)
    last_seq: dict[int, int] = field(default_factory=dict)
    """Instrument id → seq of its last journaled command (owned by the writer)."""
    last_price: dict[int, int] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.config.venue
        self.directory = LedgerDirectory(self.name)
        self.writer = VenueWriter(self, self.config.writer_max_batch)
        self.acceptor: GroupCommit[Acceptance, None] = GroupCommit(
            f"matching-acceptor-{self.name}",
            self._accept_batch,
            closed=lambda: VenueClosed("The venue is not accepting orders now; retry shortly."),
            max_batch=ACCEPT_MAX_BATCH,
        )
        self._symbols: dict[str, int] = {}
        self._marketdata: dict[int, MarketData] = {}
        self._listing = asyncio.Lock()
        # Cluster hook: None in embedded mode (this process owns every book).
        self.cluster = clusters.for_venue(self)

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        self.acceptor.start()
        if self.cluster is not None:  # cluster hook: leases decide which books this process serves
            await self.cluster.open()
            return
        async with self.platform.db.session() as session:
            rows = await session.scalars(
                select(MatchingInstrument).where(MatchingInstrument.venue == self.name)
            )
            for row in rows:
                await self._load_instrument(session, Instrument.of(row))
            pending = await recovery.unjournaled_orders(session, self.name)
        self.writer.start()
        for order in pending:
            try:
                await self.writer.submit(order.instrument_id, _place_command(order))
            except Problem as problem:
                log.warning("recovered order refused", order_id=order.id, problem=problem.detail)

    async def close(self) -> None:
        await self.acceptor.stop()  # accepted orders go to the writer before it stops
        if self.cluster is not None:  # cluster hook: drain, then give the leases up
            await self.cluster.close()
        await self.writer.stop()

    async def _load_instrument(
        self, session: AsyncSession, instrument: Instrument, *, publish: bool = True
    ) -> None:
        """(Re)build the instrument's book from snapshot + journal and reset its market data;
        `publish=False` (cluster hook: a replica of a book another process owns) keeps the reset
        off the bus, where only the owner publishes."""
        book, seq = await recovery.rebuild_book(session, self.name, instrument.id)
        trades = await recovery.recent_trades(session, self.name, instrument.id, TAPE_SIZE)
        self.listed[instrument.id] = instrument
        self._symbols[instrument.symbol] = instrument.id
        self.books[instrument.id] = book
        self.last_seq[instrument.id] = seq
        if trades:
            self.last_price[instrument.id] = trades[-1][7]
        md = self._marketdata.get(instrument.id)
        if md is None:
            md = self._marketdata[instrument.id] = MarketData(
                self.name, instrument.id, tape_size=TAPE_SIZE
            )
        update = md.reset_from_book(book, trades)
        if publish:
            await md_live.publish(self.platform, md, update, npl=instrument.npl)

    async def rebuild(self, instrument_ids: set[int]) -> None:
        """Rebuild these books from snapshot + journal (after a failed batch)."""
        async with self.platform.db.session() as session:
            for instrument_id in instrument_ids:
                await self._load_instrument(session, self.listed[instrument_id])

    async def committed(
        self,
        instrument: Instrument,
        events: Sequence[tuple[Any, ...]],
        orders: Mapping[int, OrderView],
    ) -> None:
        """After a COMMIT: the last price, market data (applied, then published on the bus by
        md_live), then every listener (errors logged)."""
        for event in events:
            if event[0] == TRADE:
                self.last_price[instrument.id] = event[7]
        md = self._marketdata[instrument.id]
        try:
            update = md.apply(events)
        except MarketDataDiverged:
            log.exception("market data diverged from the book", venue=self.name)
            update = md.reset_from_book(self.books[instrument.id])
        await md_live.publish(self.platform, md, update, npl=instrument.npl)
        for listener in list(self.listeners):
            try:
                await listener(instrument, events, orders)
            except Exception:
                log.exception("venue listener failed", venue=self.name, listener=repr(listener))

    # -- instruments ------------------------------------------------------------------------------

    async def list_instrument(self, session: AsyncSession, spec: InstrumentSpec) -> Instrument:
        """List an instrument, or return the one listed under `spec.symbol` (idempotent). Commits
        the listing in its own transaction (the book must exist only if the row does). Raises
        InvalidListing (422) naming the fields that break the units rule."""
        _check_spec(spec)
        existing = self._symbols.get(spec.symbol)
        if existing is not None:
            return self.listed[existing]
        async with self._listing:
            async with self.platform.db.session(write=True) as own:
                row = await own.scalar(
                    select(MatchingInstrument).where(
                        MatchingInstrument.venue == self.name,
                        MatchingInstrument.symbol == spec.symbol,
                    )
                )
                if row is None:
                    row = MatchingInstrument(
                        id=new_id(),
                        venue=self.name,
                        status="trading",
                        created_at=utcnow(),
                        **{k: getattr(spec, k) for k in _SPEC_FIELDS},
                    )
                    own.add(row)
                    await own.flush()
                instrument = Instrument.of(row)
            if instrument.id not in self.listed:
                async with self.platform.db.session() as reader:
                    # Cluster hook: only the book's owner publishes its market data.
                    await self._load_instrument(reader, instrument, publish=self.cluster is None)
        return self.listed[instrument.id]

    async def instrument(self, session: AsyncSession, symbol: str) -> Instrument:
        """The instrument listed as `symbol`; InstrumentNotFound (404)."""
        instrument_id = self._symbols.get(symbol)
        if instrument_id is None:
            raise InstrumentNotFound(f"{symbol!r} is not listed on {self.name}.")
        return self.listed[instrument_id]

    async def instruments(self, session: AsyncSession) -> list[Instrument]:
        """Every listed instrument, by symbol."""
        return sorted(self.listed.values(), key=lambda i: i.symbol)

    def book(self, instrument_id: int) -> OrderBook:
        """The live book of `instrument_id` in this process."""
        return self.books[instrument_id]

    def marketdata(self, instrument_id: int) -> MarketData:
        return self._marketdata[instrument_id]

    # -- accounts and money ---------------------------------------------------------------------

    async def open_account(self, session: AsyncSession, owner: str, user_id: int | None) -> int:
        """The account of `owner` at this venue, created on first use (idempotent)."""
        if not owner or len(owner) > 100:
            raise InvalidOrder("An account owner is 1-100 characters.")
        found = await session.scalar(
            select(MatchingAccount.id).where(
                MatchingAccount.venue == self.name, MatchingAccount.owner == owner
            )
        )
        if found is not None:
            return int(found)
        account_id = new_id()
        try:
            async with session.begin_nested():
                session.add(
                    MatchingAccount(
                        id=account_id,
                        venue=self.name,
                        owner=owner,
                        user_id=user_id,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            found = await session.scalar(
                select(MatchingAccount.id).where(
                    MatchingAccount.venue == self.name, MatchingAccount.owner == owner
                )
            )
            assert found is not None
            return int(found)
        return account_id

    async def _account_exists(self, session: AsyncSession, account_id: int) -> None:
        found = await session.scalar(
            select(MatchingAccount.id).where(
                MatchingAccount.venue == self.name, MatchingAccount.id == account_id
            )
        )
        if found is None:
            raise AccountNotFound(f"There is no account {account_id} at {self.name}.")

    async def credit(
        self,
        session: AsyncSession,
        account_id: int,
        asset: str,
        amount: int,
        transfer_id: int,
        reference: str,
    ) -> None:
        """Move `amount` of `asset` from the outside world into the account (a deposit).
        Idempotent by `transfer_id`. Raises TransferRefused for bad amounts."""
        await self._move(session, account_id, asset, amount, transfer_id, reference, deposit=True)

    async def debit(
        self,
        session: AsyncSession,
        account_id: int,
        asset: str,
        amount: int,
        transfer_id: int,
        reference: str,
    ) -> None:
        """Move `amount` of `asset` out of the account (a withdrawal); InsufficientFunds (409)
        when its available balance (held funds excluded) does not cover it."""
        await self._move(session, account_id, asset, amount, transfer_id, reference, deposit=False)

    async def _move(
        self,
        session: AsyncSession,
        account_id: int,
        asset: str,
        amount: int,
        transfer_id: int,
        reference: str,
        *,
        deposit: bool,
    ) -> None:
        if not ASSET.match(asset):
            raise InvalidOrder(f"{asset!r} is not an asset code (1-10 upper-case letters/digits).")
        await self._account_exists(session, account_id)
        ledger = Ledger(session)
        wallet = await self.directory.wallet(ledger, account_id, asset)
        external = await self.directory.venue_account(ledger, EXTERNAL, asset)
        debit_id, credit_id = (external, wallet) if deposit else (wallet, external)
        await ledger.transfer(
            Transfer(
                id=transfer_id,
                debit_account_id=debit_id,
                credit_account_id=credit_id,
                amount=amount,
                code="deposit" if deposit else "withdrawal",
                reference=reference[:64],
            )
        )

    async def balances(self, session: AsyncSession, account_id: int) -> list[Balance]:
        """The account's holdings per asset, by asset."""
        accounts = await Ledger(session).accounts_of(wallet_owner(self.name, account_id))
        return sorted(
            (
                Balance(asset=a.currency, total=a.posted, locked=a.held, available=a.available)
                for a in accounts
                if a.kind is AccountKind.LIABILITY
            ),
            key=lambda b: b.asset,
        )

    # -- orders -----------------------------------------------------------------------------------

    def _protection_price(self, instrument: Instrument) -> int:
        reference = (
            self.last_price.get(instrument.id)
            or self.books[instrument.id].best_ask()
            or instrument.reference_price
        )
        if not reference:
            raise NoReferencePrice(
                f"{instrument.symbol} has no last trade, no ask and no reference price; "
                "place a limit order."
            )
        return reference * (10_000 + self.config.market_protection_bps) // 10_000

    def _validate(self, order: NewOrder) -> tuple[Instrument, tuple[Any, ...]]:
        """Check the order against its instrument; the PLACE command (order id 0, ts 0)."""
        instrument = self.listed.get(order.instrument_id)
        if instrument is None:
            raise InstrumentNotFound(f"There is no instrument {order.instrument_id}.")
        if instrument.status != "trading":
            raise InstrumentHalted(f"{instrument.symbol} is {instrument.status}.")
        if not instrument.min_qty <= order.qty <= instrument.max_qty:
            raise InvalidOrder(
                f"qty must be between {instrument.min_qty} and {instrument.max_qty} lots.",
                field="qty",
            )
        if order.client_order_id is not None and not 1 <= len(order.client_order_id) <= 64:
            raise InvalidOrder("client_order_id is 1-64 characters.", field="client_order_id")
        stp = order.stp if order.stp is not None else self.config.default_stp
        side = Side(order.side)
        tif = TimeInForce(order.tif)
        if order.type == "limit":
            if order.price is None or not 1 <= order.price <= MAX_UNITS:
                raise InvalidOrder("A limit order needs a price of at least 1 tick.", field="price")
            flags = Flag.POST_ONLY if order.post_only else 0
            return instrument, (
                PLACE,
                0,
                order.account_id,
                side,
                order.price,
                order.qty,
                tif,
                flags,
                stp,
                0,
            )
        if order.type != "market":
            raise InvalidOrder("type is limit or market.", field="type")
        if order.post_only:
            raise InvalidOrder("A market order cannot be post-only.", field="post_only")
        if side is Side.BUY:
            # A market buy is a limit IOC at the protection price: its hold is bounded.
            price = self._protection_price(instrument)
            return instrument, (
                PLACE,
                0,
                order.account_id,
                side,
                price,
                order.qty,
                TimeInForce.IOC,
                0,
                stp,
                0,
            )
        return instrument, (
            PLACE,
            0,
            order.account_id,
            side,
            0,
            order.qty,
            TimeInForce.IOC,
            Flag.MARKET,
            stp,
            0,
        )

    async def place(self, order: NewOrder) -> OrderView:
        """Accept, hold and submit an order; returns it after the writer's commit.

        Raises InstrumentNotFound, InstrumentHalted, InvalidOrder, NoReferencePrice (422),
        DuplicateClientOrderId (409), AccountNotFound, the `can_trade` gate's Problem, and
        InsufficientFunds (409), VenueClosed (503) — in every case nothing was written."""
        if not self.writer.running:
            raise VenueClosed("The venue is not accepting orders now; retry shortly.")
        # Shielded: a caller that goes away (a client disconnects) must not strand an order
        # that was accepted, its funds held, between the acceptance and the book.
        task = asyncio.ensure_future(self._place(order))
        task.add_done_callback(_consume_outcome)
        return await asyncio.shield(task)

    async def _place(self, order: NewOrder) -> OrderView:
        instrument_id, command = await self.accept(order)
        view = await self._submit(instrument_id, command)
        assert view is not None
        return view

    async def _submit(
        self, instrument_id: int, command: tuple[Any, ...], keep: tuple[bool, bool] | None = None
    ) -> OrderView | None:
        """Hand a command to the writer that owns its book. Cluster hook: another process's
        book gets it over the bus (cluster.py; `keep` = keep the REPLACE's (price, qty) as the
        owner's book has them)."""
        if self.cluster is not None:
            return await self.cluster.submit(instrument_id, command, keep)
        return await self.writer.submit(instrument_id, command)

    async def accept(self, order: NewOrder) -> tuple[int, tuple[Any, ...]]:
        """The first half of `place`: validate, then insert the order (pending) with its hold,
        committed; returns (instrument id, PLACE command) for the writer. An order accepted but
        never submitted (a crash in between) is submitted by recovery.

        Orders of a spot venue are accepted in groups (`_accept_batch`): everything queued
        while one acceptance transaction runs goes into the next, so concurrent orders share
        one transaction, one batch of holds and one insert instead of one of each. Raises as
        `place` does for a refused order; the other orders of its group are unaffected."""
        instrument, command = self._validate(order)
        order_id = new_id()
        command = (PLACE, order_id, *command[2:])
        acceptance = Acceptance(order, instrument, command, hold_id=new_id())
        if self.config.settlement is Settlement and self.acceptor.running:
            await self.acceptor.submit(acceptance)
        else:
            await self._accept_alone(acceptance)
        return instrument.id, command

    def _order_row(self, acceptance: Acceptance, now: datetime) -> MatchingOrder:
        order, instrument = acceptance.order, acceptance.instrument
        _, order_id, account_id, side, price, qty, _, _, stp, _ = acceptance.command
        return MatchingOrder(
            id=order_id,
            venue=self.name,
            instrument_id=instrument.id,
            account_id=account_id,
            client_order_id=order.client_order_id,
            side="buy" if side == Side.BUY else "sell",
            type=order.type,
            tif=TimeInForce(order.tif).name.lower(),
            post_only=order.post_only,
            stp=int(stp),
            price=price,
            qty=qty,
            filled_qty=0,
            open_qty=qty,
            notional_filled=0,
            fees_paid=0,
            status="pending",
            reason=None,
            hold_transfer_id=acceptance.hold_id,
            journaled=False,
            created_at=now,
            updated_at=now,
        )

    async def _accept_alone(self, acceptance: Acceptance) -> None:
        """One order in a transaction of its own: the checks, the row, the hold. O(1)
        statements."""
        order, instrument = acceptance.order, acceptance.instrument
        _, order_id, account_id, side, price, qty, _, _, _, _ = acceptance.command
        hold_id = acceptance.hold_id
        async with self.platform.db.session(write=True) as session:
            await self._account_exists(session, account_id)
            if self.config.can_trade is not None:
                await self.config.can_trade(session, account_id)
            if order.client_order_id is not None:
                taken = await session.scalar(
                    select(MatchingOrder.id).where(
                        MatchingOrder.account_id == account_id,
                        MatchingOrder.client_order_id == order.client_order_id,
                    )
                )
                if taken is not None:
                    raise DuplicateClientOrderId(
                        f"client_order_id {order.client_order_id!r} is already used.",
                        order_id=str(taken),
                    )
            session.add(self._order_row(acceptance, utcnow()))
            await session.flush()
            if self.config.settlement is Settlement:
                await place_hold(
                    Ledger(session),
                    self.directory,
                    instrument.market,
                    order_id=order_id,
                    account_id=account_id,
                    side=Side(side),
                    price=price,
                    qty=qty,
                    hold_id=hold_id,
                )
            else:
                await self._custom_hold(
                    session, instrument, order_id, account_id, side, price, qty, hold_id
                )

    async def _accept_batch(self, batch: Sequence[Acceptance]) -> list[BaseException | None]:
        """Accept a group of spot orders: per order None (accepted, committed) or the Problem
        refusing it. If the group's transaction fails as a whole (a client order id another
        process took in between trips the unique key), each order is tried alone."""
        try:
            return await self._accept_together(batch)
        except Exception as error:
            if len(batch) == 1:
                return [error]
            log.warning("order acceptance batch failed; one by one", error=repr(error))
            outcomes: list[BaseException | None] = []
            for acceptance in batch:
                try:
                    await self._accept_alone(acceptance)
                    outcomes.append(None)
                except Exception as alone:
                    outcomes.append(alone)
            return outcomes

    async def _open_clearing(self, assets: set[str]) -> None:
        """Open (and commit) the venue's clearing accounts a group's holds credit, each in a
        transaction of its own, before the group's transaction: a group opening two of them in
        one transaction can deadlock with another process's group opening them in the other
        order (PostgreSQL waits on each other's unique-key inserts). Once per asset a process."""
        for asset in sorted(assets):
            if self.directory.knows_venue_account(CLEARING, asset):
                continue
            async with self.platform.db.session(write=True) as session:
                await self.directory.venue_account(Ledger(session), CLEARING, asset)

    async def _accept_together(self, batch: Sequence[Acceptance]) -> list[BaseException | None]:
        """One transaction for the group, in the single path's order of checks: the account
        exists (one query for all), the venue's gate (once per account), the client order id is
        unused (one query; a second use within the group is refused too), then every hold in
        one `create_transfers` (a wallet that cannot cover its order refuses that order only)
        and the accepted rows in one insert. O(accounts) statements for the gate, a constant
        number besides."""
        refused: dict[int, BaseException] = {}
        accounts = {a.order.account_id for a in batch}
        await self._open_clearing(
            {a.instrument.market.hold_asset(Side(a.command[3])) for a in batch}
        )
        async with self.platform.db.session(write=True) as session:
            known = set(
                await session.scalars(
                    select(MatchingAccount.id).where(
                        MatchingAccount.venue == self.name, MatchingAccount.id.in_(accounts)
                    )
                )
            )
            gated: dict[int, Problem] = {}
            if self.config.can_trade is not None:
                for account_id in sorted(known):
                    try:
                        await self.config.can_trade(session, account_id)
                    except Problem as problem:
                        gated[account_id] = problem
            wanted = {
                (a.order.account_id, a.order.client_order_id)
                for a in batch
                if a.order.client_order_id is not None
            }
            taken: dict[tuple[int, str | None], int] = {}
            if wanted:
                rows = await session.execute(
                    select(
                        MatchingOrder.account_id, MatchingOrder.client_order_id, MatchingOrder.id
                    ).where(
                        MatchingOrder.account_id.in_({account for account, _ in wanted}),
                        MatchingOrder.client_order_id.in_({client for _, client in wanted}),
                    )
                )
                taken = {(account, client): order_id for account, client, order_id in rows}
            ledger = Ledger(session)
            holds: list[Transfer] = []
            holders: list[int] = []
            for index, acceptance in enumerate(batch):
                order = acceptance.order
                _, order_id, account_id, side, price, qty, _, _, _, _ = acceptance.command
                if account_id not in known:
                    refused[index] = AccountNotFound(
                        f"There is no account {account_id} at {self.name}."
                    )
                    continue
                if account_id in gated:
                    refused[index] = gated[account_id]
                    continue
                if order.client_order_id is not None:
                    key = (account_id, order.client_order_id)
                    if key in taken:
                        refused[index] = DuplicateClientOrderId(
                            f"client_order_id {order.client_order_id!r} is already used.",
                            order_id=str(taken[key]),
                        )
                        continue
                    taken[key] = order_id
                market = acceptance.instrument.market
                asset = market.hold_asset(Side(side))
                if await self.directory.find_wallet(ledger, account_id, asset) is None:
                    # Never funded in that asset: refused without opening a wallet for it (a
                    # refused order writes nothing).
                    refused[index] = refusal(Outcome.EXCEEDS_CREDITS)
                    continue
                holds.append(
                    await hold_transfer(
                        ledger,
                        self.directory,
                        acceptance.instrument.market,
                        order_id=order_id,
                        account_id=account_id,
                        side=Side(side),
                        price=price,
                        qty=qty,
                        hold_id=acceptance.hold_id,
                    )
                )
                holders.append(index)
            outcomes = await ledger.create_transfers(holds) if holds else []
            now = utcnow()
            rows_to_add = []
            for index, outcome in zip(holders, outcomes, strict=True):
                if outcome.succeeded:
                    rows_to_add.append(self._order_row(batch[index], now))
                else:
                    refused[index] = refusal(outcome)
            session.add_all(rows_to_add)
        return [refused.get(index) for index in range(len(batch))]

    async def _custom_hold(
        self,
        session: AsyncSession,
        instrument: Instrument,
        order_id: int,
        account_id: int,
        side: Side,
        price: int,
        qty: int,
        hold_id: int,
    ) -> None:
        """The acceptance hold of a venue with its own settlement class: the amount and asset
        its `hold_amount`/`hold_asset` decide, after its `prepare` (InsufficientFunds, 409)."""
        ledger = Ledger(session)
        rules = self.config.settlement
        market = instrument.market
        accounts = await self.directory.for_settlement(ledger, market, ())
        wallets = {
            (account_id, asset): await self.directory.wallet(ledger, account_id, asset)
            for asset in rules.wallet_assets(market)
        }
        settlement = rules(market, replace(accounts, wallets=wallets))
        state = OrderState(
            id=order_id,
            account_id=account_id,
            side=Side(side),
            price=price,
            qty=qty,
            open_qty=qty,
            hold_id=hold_id,
        )
        await settlement.prepare(session, ledger, [state])
        await ledger.transfer(
            settlement.hold(state, hold_id, settlement.hold_amount(state, price, qty))
        )

    async def _resting(self, account_id: int, order_id: int) -> int:
        """The instrument of the account's order, from its row; OrderNotFound otherwise."""
        async with self.platform.db.session() as session:
            row = await session.scalar(
                select(MatchingOrder.instrument_id).where(
                    MatchingOrder.venue == self.name,
                    MatchingOrder.id == order_id,
                    MatchingOrder.account_id == account_id,
                )
            )
        if row is None:
            raise OrderNotFound(f"There is no order {order_id} of this account.")
        return int(row)

    async def cancel(self, account_id: int, order_id: int) -> OrderView:
        """Cancel the account's open order; its hold is released. OrderNotFound (404) for an
        order of another account; OrderNotOpen (409) when it is no longer open."""
        instrument_id = await self._resting(account_id, order_id)
        view = await self._submit(instrument_id, (CANCEL, order_id, account_id, 0))
        assert view is not None
        return view

    async def replace(
        self, account_id: int, order_id: int, price: int | None, qty: int | None
    ) -> OrderView:
        """Change an open order's price and/or open quantity (types.py REPLACE semantics: a
        smaller quantity at the same price keeps time priority). The hold is re-sized; if the new
        one does not fit the wallet, InsufficientFunds (409) and nothing changes."""
        instrument_id = await self._resting(account_id, order_id)
        resting = self.books[instrument_id].open_order(order_id)
        new_price = price if price is not None else (resting[2] if resting else 0)
        new_qty = qty if qty is not None else (resting[3] if resting else 0)
        instrument = self.listed[instrument_id]
        if price is not None and not 1 <= price <= MAX_UNITS:
            raise InvalidOrder("price must be at least 1 tick.", field="price")
        if qty is not None and not instrument.min_qty <= qty <= instrument.max_qty:
            raise InvalidOrder(
                f"qty must be between {instrument.min_qty} and {instrument.max_qty} lots.",
                field="qty",
            )
        view = await self._submit(
            instrument_id,
            (REPLACE, order_id, account_id, new_price, new_qty, 0),
            (price is None, qty is None),
        )
        assert view is not None
        return view

    async def end_of_day(self) -> None:
        """End the trading day: every resting DAY order expires (holds released)."""
        for instrument_id in list(self.books):
            await self._submit(instrument_id, (EXPIRE_DAY, 0))

    async def reject_unplaced(self, order_id: int, reason: str) -> None:
        """Mark an order that could not be applied rejected and release its hold (after its
        PLACE failed alone in the writer)."""
        async with self.platform.db.session(write=True) as session:
            row = await session.scalar(
                select(MatchingOrder).where(
                    MatchingOrder.venue == self.name,
                    MatchingOrder.id == order_id,
                    MatchingOrder.journaled.is_(False),
                    MatchingOrder.status == "pending",
                )
            )
            if row is None or row.hold_transfer_id is None:
                return
            instrument = self.listed[row.instrument_id]
            ledger = Ledger(session)
            accounts = await self.directory.for_settlement(ledger, instrument.market, ())
            state = OrderState(
                id=row.id,
                account_id=row.account_id,
                side=Side.BUY if row.side == "buy" else Side.SELL,
                price=row.price,
                qty=row.qty,
                open_qty=row.open_qty,
                hold_id=row.hold_transfer_id,
            )
            # The hold may be gone already (voided or expired by hand): nothing left to release.
            await ledger.create_transfers(Settlement(instrument.market, accounts).release(state))
            row.status, row.reason, row.open_qty = "rejected", reason, 0
            row.hold_transfer_id, row.updated_at = None, utcnow()

    # -- reads ------------------------------------------------------------------------------------

    async def order(self, session: AsyncSession, account_id: int, order_id: int) -> OrderView:
        """The account's order; OrderNotFound (404) for another account's or an unknown id."""
        row = await session.scalar(
            select(MatchingOrder).where(
                MatchingOrder.venue == self.name,
                MatchingOrder.id == order_id,
                MatchingOrder.account_id == account_id,
            )
        )
        if row is None:
            raise OrderNotFound(f"There is no order {order_id} of this account.")
        return OrderView.of(row)

    async def orders(
        self,
        session: AsyncSession,
        account_id: int,
        *,
        open_only: bool = False,
        instrument_id: int | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> tuple[list[OrderView], int | None]:
        """The account's orders, newest first, one page: (orders, cursor of the next page or
        None). O(log n + limit) on (venue, account_id, id)."""
        limit = max(1, min(limit, 500))
        query = select(MatchingOrder).where(
            MatchingOrder.venue == self.name, MatchingOrder.account_id == account_id
        )
        if open_only:
            query = query.where(MatchingOrder.status.in_(("pending", "open", "partially_filled")))
        if instrument_id is not None:
            query = query.where(MatchingOrder.instrument_id == instrument_id)
        if cursor is not None:
            query = query.where(MatchingOrder.id < cursor)
        rows = list(await session.scalars(query.order_by(MatchingOrder.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return [OrderView.of(r) for r in rows], (rows[-1].id if more else None)

    async def trades(
        self,
        session: AsyncSession,
        account_id: int,
        *,
        instrument_id: int | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> tuple[list[AccountTrade], int | None]:
        """The account's fills, newest first, one page: (trades, next cursor or None)."""
        limit = max(1, min(limit, 500))
        query = select(MatchingTrade).where(
            MatchingTrade.venue == self.name,
            or_(
                MatchingTrade.maker_account_id == account_id,
                MatchingTrade.taker_account_id == account_id,
            ),
        )
        if instrument_id is not None:
            query = query.where(MatchingTrade.instrument_id == instrument_id)
        if cursor is not None:
            query = query.where(MatchingTrade.id < cursor)
        rows = list(await session.scalars(query.order_by(MatchingTrade.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return [AccountTrade.of(r, account_id) for r in rows], (rows[-1].id if more else None)


_SPEC_FIELDS = (
    "symbol",
    "base_asset",
    "quote_asset",
    "tick_size",
    "lot_size",
    "base_scale",
    "min_qty",
    "max_qty",
    "maker_fee_bps",
    "taker_fee_bps",
    "reference_price",
)


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    """Retrieve a shielded placement's exception when its caller went away (else asyncio
    reports it as never retrieved); the refusal itself needs nothing more."""
    if not task.cancelled():
        task.exception()


def _check_spec(spec: InstrumentSpec) -> None:
    """Refuse a listing whose units or filters make no sense (InvalidListing names the fields)."""
    bad: list[str] = []
    if not SYMBOL.match(spec.symbol):
        bad.append("symbol")
    for name in ("base_asset", "quote_asset"):
        if not ASSET.match(getattr(spec, name)):
            bad.append(name)
    if spec.base_asset == spec.quote_asset:
        bad.append("quote_asset")
    for name in ("tick_size", "lot_size", "base_scale", "min_qty", "max_qty"):
        if not 1 <= getattr(spec, name) <= MAX_UNITS:
            bad.append(name)
    if spec.min_qty > spec.max_qty:
        bad.append("max_qty")
    for name in ("maker_fee_bps", "taker_fee_bps"):
        if not 0 <= getattr(spec, name) <= 1000:
            bad.append(name)
    if spec.reference_price is not None and not 1 <= spec.reference_price <= MAX_UNITS:
        bad.append("reference_price")
    if not bad and (spec.tick_size * spec.lot_size) % spec.base_scale:
        bad += ["tick_size", "lot_size", "base_scale"]
    if bad:
        raise InvalidListing(
            "These fields are out of range or break the units rule "
            "(tick_size * lot_size must be a positive multiple of base_scale): "
            + ", ".join(sorted(set(bad))),
            fields=sorted(set(bad)),
        )


def _place_command(row: MatchingOrder) -> tuple[Any, ...]:
    """The PLACE command of an accepted order row (re-submitted by recovery)."""
    side = Side.BUY if row.side == "buy" else Side.SELL
    tif = TimeInForce[row.tif.upper()]
    flags = Flag.POST_ONLY if row.post_only else 0
    if row.type == "market" and side is Side.SELL:
        flags |= Flag.MARKET
    return (PLACE, row.id, row.account_id, side, row.price, row.qty, tif, flags, row.stp, 0)
