"""How a perpetual-futures fill settles: positions, initial margin and realised PnL in USDT.

`FuturesSettlement` is the `VenueConfig.settlement` of the venue "binance-futures" (the engine's
pluggable settlement, engines/matching/settlement.py). A fill moves no base asset: it opens,
increases, reduces or flips each side's signed position and moves USDT only.

Ledger accounts (USDT, minor units at 8 decimals):
- the account's futures wallet (`binance-futures:account:<id>`/"wallet"): transfers from spot,
  order holds, realised PnL, released margin;
- the position's margin (`binance-futures:account:<id>`/"margin:<contract id>", non-negative): the
  initial margin of the open position;
- the venue's clearing (holds wait there) and fees, as on spot;
- the venue's "pnl" pool (EQUITY, may go negative): realised profits are paid from it, realised
  losses paid into it; its balance is minus the traders' net realised PnL, which equals the
  unrealised PnL of the open positions (they are zero-sum), owed by the losing side;
- the insurance fund: the wallet of the venue account `binance-futures:insurance`.

Holds. An order of `open` lots at limit `p` and leverage `L` holds
h = floor(p·open·npl / L) + floor(p·open·npl · max(maker, taker) bps / 10 000): its initial
margin and the largest fee, for every order (even one that will only reduce a position; Binance
nets reduce orders against the position, this build does not, so it may over-hold, never under).

A fill of q lots at price P for an order of limit `p`: the side is charged at c = P for a buy and
c = min(P, p) = p for a sell (a sell filled above its limit keeps the better entry but is charged
margin and fee at its limit, so the hold always covers it). Of q, `closing` = the part that
reduces the position, `opening` the rest. The chain (one linked chain for both sides):

1. POST the order's hold for floor(c·opening·npl / L) + fee(c·q·npl) (VOID when that is 0), and
   re-hold the order's rest; h is superadditive (floor), so this always fits, as on spot;
2. clearing → the position's margin account: the opening margin; clearing → fees: the fee;
3. closing c lots realises PnL = ±(P·c - cost share)·npl with the cost share and the released
   margin r taken pro rata (all of it when the position closes). A profit: margin → wallet r,
   pool → wallet PnL. A loss: from the position's margin (r first, then the rest of it), then
   (cross mode) the wallet's available funds, then the insurance fund — never a negative balance;
   if even the fund cannot pay, the ledger refuses the chain and the command is refused.

Transfer ids derive from (venue, contract, trade seq, side, leg), so a replay posts nothing twice.
Position rows are read `FOR UPDATE` (PostgreSQL) in `prepare`, in the writer's transaction, so a
liquidation's takeover and a fill never interleave. Cost: O(1) per fill, at most 2 x 9 transfers;
`prepare` O(1) statements per account not yet loaded in the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import AccountKind, Ledger, Transfer, TransferKind
from casebook.engines.matching.errors import InvalidOrder, SettlementFailed
from casebook.engines.matching.models import MatchingAccount
from casebook.engines.matching.risk import wallet_owner
from casebook.engines.matching.settlement import (
    WALLET,
    Fill,
    LedgerAccounts,
    Market,
    OrderState,
    Settlement,
    fee,
)
from casebook.engines.matching.types import Side
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.binance.futures_models import FuturesPosition

FUTURES_VENUE = "binance-futures"
INSURANCE_OWNER = "binance-futures:insurance"
POOL = "pnl"
DEFAULT_LEVERAGE = 20
MAX_LEVERAGE = 20


def margin_name(instrument_id: int) -> str:
    """The ledger account name of a position's isolated margin."""
    return f"margin:{instrument_id}"


async def margin_account(ledger: Ledger, venue: str, account_id: int, instrument_id: int) -> int:
    """The ledger id of the position margin of (account, contract), opened on first use."""
    opened = await ledger.open_account(
        owner=wallet_owner(venue, account_id),
        name=margin_name(instrument_id),
        currency="USDT",
        kind=AccountKind.LIABILITY,
    )
    return opened.id


async def pool_account(ledger: Ledger, venue: str, asset: str) -> int:
    """The venue's realised-PnL pool (may go negative; see the module docstring)."""
    opened = await ledger.open_account(
        owner=venue, name=POOL, currency=asset, kind=AccountKind.EQUITY, allow_negative=True
    )
    return opened.id


async def insurance_account_id(session: AsyncSession, venue: str) -> int | None:
    """The venue account of the insurance fund, if opened (runtime opens it at start)."""
    found = await session.scalar(
        select(MatchingAccount.id).where(
            MatchingAccount.venue == venue, MatchingAccount.owner == INSURANCE_OWNER
        )
    )
    return None if found is None else int(found)


async def lock_positions(
    session: AsyncSession, instrument_id: int, account_ids: Iterable[int]
) -> dict[int, FuturesPosition]:
    """The position rows of these accounts in one contract, created flat (leverage 20, cross)
    when missing, read `FOR UPDATE` (PostgreSQL; SQLite's write transaction already excludes
    every other writer). Locks in account id order. O(accounts) rows, two statements."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    now = utcnow()
    await session.execute(
        insert(FuturesPosition)
        .values(
            [
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "instrument_id": instrument_id,
                    "qty": 0,
                    "cost": 0,
                    "leverage": DEFAULT_LEVERAGE,
                    "mode": "cross",
                    "realised_pnl": 0,
                    "updated_at": now,
                }
                for account_id in wanted
            ]
        )
        .on_conflict_do_nothing(index_elements=["account_id", "instrument_id"])
    )
    rows = await session.scalars(
        select(FuturesPosition)
        .where(
            FuturesPosition.instrument_id == instrument_id,
            FuturesPosition.account_id.in_(wanted),
        )
        .order_by(FuturesPosition.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.account_id: row for row in rows}


def initial_margin(notional: int, leverage: int) -> int:
    """Initial margin of a notional, rounded down (superadditive, like the fee)."""
    return notional // leverage


@dataclass(frozen=True, slots=True)
class Closed:
    """What closing `qty` lots of a position at `price` realises (pure arithmetic)."""

    cost_share: int
    margin_share: int
    pnl: int


def close_part(qty: int, cost: int, margin: int, closing: int, price: int, npl: int) -> Closed:
    """Close `closing` of the |qty| lots of a position with entry cost `cost` and margin
    `margin` at `price`: the cost and margin shares (pro rata, floored; all when it closes) and
    the realised PnL in quote minor units (long: (price·closing - share)·npl; short: reverse)."""
    size = abs(qty)
    if closing >= size:
        share, released = cost, margin
    else:
        share, released = cost * closing // size, margin * closing // size
    pnl = (price * closing - share) * npl
    return Closed(share, released, pnl if qty > 0 else -pnl)


class FuturesSettlement(Settlement):
    """The futures `Settlement` (see the module docstring)."""

    def __init__(self, market: Market, accounts: LedgerAccounts) -> None:
        super().__init__(market, accounts)
        self.positions: dict[int, FuturesPosition] = {}
        self.margin_ids: dict[int, int] = {}
        self.margin: dict[int, int] = {}
        """Account id → its position margin's balance as planned so far in this batch."""
        self.available: dict[int, int] = {}
        """Ledger account id → what it may still pay (wallets, the insurance fund)."""
        self.pool_id: int | None = None
        self.insurance_wallet: int | None = None

    @classmethod
    def wallet_assets(cls, market: Market) -> tuple[str, ...]:
        return (market.quote_asset,)

    def hold_asset(self, side: Side) -> str:
        return self.market.quote_asset

    def leverage(self, account_id: int) -> int:
        position = self.positions.get(account_id)
        if position is None:
            raise SettlementFailed(f"no futures position loaded for account {account_id}")
        return position.leverage

    def hold_amount(self, order: OrderState, price: int, qty: int) -> int:
        if price < 1:  # a priceless (market) sell: its margin could not be bounded
            raise InvalidOrder("A futures order needs a limit price.", field="price")
        notional = price * qty * self.market.npl
        return initial_margin(notional, self.leverage(order.account_id)) + fee(
            notional, self.market.hold_fee_bps
        )

    async def prepare(
        self, session: AsyncSession, ledger: Ledger, orders: Iterable[OrderState]
    ) -> None:
        market = self.market
        wanted = {order.account_id for order in orders} - self.positions.keys()
        if self.pool_id is None:
            self.pool_id = await pool_account(ledger, market.venue, market.quote_asset)
            insurance = await insurance_account_id(session, market.venue)
            if insurance is not None:
                self.insurance_wallet = (
                    await ledger.open_account(
                        owner=wallet_owner(market.venue, insurance),
                        name=WALLET,
                        currency=market.quote_asset,
                        kind=AccountKind.LIABILITY,
                    )
                ).id
                self.available[self.insurance_wallet] = (
                    await ledger.account(self.insurance_wallet)
                ).available
        if not wanted:
            return
        self.positions.update(await lock_positions(session, market.instrument_id, wanted))
        for account_id in sorted(wanted):
            margin_id = await margin_account(ledger, market.venue, account_id, market.instrument_id)
            self.margin_ids[account_id] = margin_id
            self.margin[account_id] = (await ledger.account(margin_id)).posted
            wallet = self.accounts.wallets.get((account_id, market.quote_asset))
            if wallet is not None and wallet not in self.available:
                self.available[wallet] = (await ledger.account(wallet)).available

    async def persist(self, session: AsyncSession) -> None:
        await session.flush()

    def trade(
        self, event: tuple[int, ...], maker: OrderState, taker: OrderState
    ) -> tuple[list[Transfer], Fill]:
        (_, trade_seq, _, _, _, _, taker_side, price, qty, maker_left, taker_left, _) = event
        market = self.market
        if taker_side == Side.BUY:
            buyer, seller, buyer_left, seller_left = taker, maker, taker_left, maker_left
            buyer_bps, seller_bps = market.taker_fee_bps, market.maker_fee_bps
        else:
            buyer, seller, buyer_left, seller_left = maker, taker, maker_left, taker_left
            buyer_bps, seller_bps = market.maker_fee_bps, market.taker_fee_bps
        chain: list[Transfer] = []
        buyer_fee = self._side(chain, trade_seq, buyer, Side.BUY, buyer_left, buyer_bps, price, qty)
        seller_fee = self._side(
            chain, trade_seq, seller, Side.SELL, seller_left, seller_bps, price, qty
        )
        for i in range(len(chain) - 1):
            chain[i] = _linked(chain[i])
        notional = price * qty * market.npl
        for order, left, own_fee in (
            (buyer, buyer_left, buyer_fee),
            (seller, seller_left, seller_fee),
        ):
            order.open_qty = left
            order.filled_qty += qty
            order.notional_filled += notional
            order.fees_paid += own_fee
            order.status = "filled" if left == 0 else "partially_filled"
        maker_fee, taker_fee = (
            (seller_fee, buyer_fee) if taker_side == Side.BUY else (buyer_fee, seller_fee)
        )
        return chain, Fill(notional, maker_fee, taker_fee)

    def _side(
        self,
        chain: list[Transfer],
        trade_seq: int,
        order: OrderState,
        side: Side,
        left: int,
        fee_bps: int,
        price: int,
        qty: int,
    ) -> int:
        """Append one side's legs of a fill to `chain` and move its position; returns its fee."""
        market, quote = self.market, self.market.quote_asset
        account_id = order.account_id
        position = self.positions.get(account_id)
        if position is None or order.hold_id is None:
            raise SettlementFailed(f"trade {trade_seq}: order {order.id} has no position or hold")
        tag = "b" if side is Side.BUY else "s"
        reference = self._reference(market.instrument_id, trade_seq)
        leverage = position.leverage
        charge = price if side is Side.BUY else min(price, order.price)
        signed = qty if side is Side.BUY else -qty
        closing = min(qty, abs(position.qty)) if position.qty * signed < 0 else 0
        opening = qty - closing
        own_fee = fee(charge * qty * market.npl, fee_bps)
        opening_margin = initial_margin(charge * opening * market.npl, leverage)
        wallet = self.accounts.wallet(account_id, quote)
        margin_id = self.margin_ids[account_id]
        clearing = self.accounts.clearing[quote]

        def move(leg: int, debit: int, credit: int, amount: int, code: str) -> None:
            chain.append(
                Transfer(
                    id=self._id("trade", trade_seq, tag, leg),
                    debit_account_id=debit,
                    credit_account_id=credit,
                    amount=amount,
                    code=code,
                    reference=reference,
                )
            )

        charged = opening_margin + own_fee
        chain.append(
            Transfer(
                id=self._id("trade", trade_seq, tag, 1),
                kind=TransferKind.POST if charged else TransferKind.VOID,
                pending_id=order.hold_id,
                amount=charged if charged else None,
                code="futures-fill" if charged else "order-release",
                reference=reference,
            )
        )
        order.hold_id = None
        if left > 0:
            order.hold_id = self._id("trade", trade_seq, tag, 2)
            chain.append(
                self.hold(order, order.hold_id, self.hold_amount(order, order.price, left))
            )
        if opening_margin:
            move(3, clearing, margin_id, opening_margin, "futures-margin")
        if own_fee:
            move(4, clearing, self.accounts.fees[quote], own_fee, "trade-fees")
        if closing:
            self._realise(move, position, account_id, wallet, margin_id, closing, price)
        if opening:
            position.qty += opening if signed > 0 else -opening
            position.cost += price * opening
            self.margin[account_id] += opening_margin
        position.updated_at = utcnow()
        return own_fee

    def _realise(
        self,
        move: Callable[[int, int, int, int, str], None],
        position: FuturesPosition,
        account_id: int,
        wallet: int,
        margin_id: int,
        closing: int,
        price: int,
    ) -> None:
        """The closing part's legs (5-9): released margin, then PnL with the pool, the loss taken
        from margin, wallet (cross) and insurance in that order."""
        assert self.pool_id is not None
        margin = self.margin[account_id]
        closed = close_part(position.qty, position.cost, margin, closing, price, self.market.npl)
        pnl = closed.pnl
        if pnl >= 0:
            if closed.margin_share:
                move(5, margin_id, wallet, closed.margin_share, "futures-margin-release")
            if pnl:
                move(6, self.pool_id, wallet, pnl, "futures-pnl")
            self.margin[account_id] = margin - closed.margin_share
        else:
            loss = -pnl
            from_margin = min(loss, margin)
            release = max(0, closed.margin_share - loss)
            if from_margin:
                move(5, margin_id, self.pool_id, from_margin, "futures-loss")
            if release:
                move(6, margin_id, wallet, release, "futures-margin-release")
            self.margin[account_id] = margin - from_margin - release
            short = loss - from_margin
            if short and position.mode == "cross":
                from_wallet = min(short, max(0, self.available.get(wallet, 0)))
                if from_wallet:
                    move(7, wallet, self.pool_id, from_wallet, "futures-loss")
                    self.available[wallet] -= from_wallet
                    short -= from_wallet
            if short:
                if self.insurance_wallet is None:
                    raise SettlementFailed("no insurance fund to cover a bankrupt close")
                move(8, self.insurance_wallet, self.pool_id, short, "futures-insurance")
                self.available[self.insurance_wallet] = (
                    self.available.get(self.insurance_wallet, 0) - short
                )
        position.realised_pnl += pnl
        sign = 1 if position.qty > 0 else -1
        position.qty -= sign * closing
        position.cost -= closed.cost_share


def _linked(transfer: Transfer) -> Transfer:
    return replace(transfer, linked=True)


__all__ = [
    "FUTURES_VENUE",
    "FuturesSettlement",
    "close_part",
    "initial_margin",
    "lock_positions",
    "margin_account",
    "pool_account",
]
