"""Settlement in the ledger: the linked transfer chain of each fill, and the release of holds.

Pure planning: `Settlement` turns book events into ledger `Transfer`s and keeps each order's
current hold in an `OrderState`; it does no I/O (the writer submits the transfers inside its batch
transaction). One fill (a TRADE event) settles as ONE linked chain, all or nothing:

1. POST the buyer's current hold for notional + buyer fee (the rest of the hold is released);
2. if the buy order stays open, a new PENDING hold for its rest: limit * open * npl + fee;
3. POST the seller's hold of base asset for qty * lot_size;
4. if the sell order stays open, a new PENDING hold for open * lot_size;
5. quote clearing → seller's quote wallet: notional - seller fee;
6. base clearing → buyer's base wallet: qty * lot_size;
7. quote clearing → the venue's fee revenue: both fees.

Holds are PENDING transfers from a wallet to the venue's clearing account of that asset, so the
clearing account nets to zero after each chain and never goes negative (it is a non-negative
account: a chain that pays out more than it collected is refused by the ledger).

Why a fill can never fail: fees are floored, and a buy order's hold is
h(limit * open) with h(n) = n + floor(n * bps / 10 000) where bps is the larger of the maker and
taker rates. A fill of q lots at p ≤ limit costs at most h(limit * q) and h is superadditive
(floor(a) + floor(b) ≤ floor(a + b)), so h(limit * open) ≥ cost + h(limit * (open - q)): the POST
fits the hold and the re-hold of the rest fits what the POST released.

Transfer ids are deterministic (63-bit blake2b of venue, instrument and the event's key and leg),
so a replayed settlement can never post twice: the ledger answers EXISTS instead.

Complexity: O(1) per event, at most 7 transfers per fill.

Pluggable settlement (`VenueConfig.settlement`). A venue whose fills do not move the base asset
(perpetual futures: positions and margin) passes a subclass of `Settlement`. The engine calls only
these methods, in the writer's batch transaction (and `hold_asset`/`hold_amount`/`hold` in the
placement transaction): `wallet_assets` (which wallets an order's account needs), `prepare`
(async: read whatever the subclass plans with, for the orders a command touches, before their
events are planned), `hold_asset`/`hold_amount` (what an order's open lots reserve), `trade`,
`release`, `resize`, and `persist` (async: write the subclass's own rows before the commit).
The spot defaults below do no I/O (`prepare`/`persist` do nothing), so this class is still pure.
A subclass must keep the two rules the writer relies on: transfer ids derived from the event (a
replay posts nothing twice) and holds that always cover the fills they settle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from casebook.engines.ledger import Transfer, TransferKind
from casebook.engines.matching.errors import SettlementFailed
from casebook.engines.matching.types import Side

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from casebook.engines.ledger import Ledger

BPS = 10_000
CLEARING = "clearing"
FEES = "fees"
EXTERNAL = "external"
WALLET = "wallet"


def transfer_id(venue: str, instrument_id: int, *key: object) -> int:
    """A positive 63-bit id derived from (venue, instrument, key…); equal inputs, equal ids."""
    text = ":".join([venue, str(instrument_id), *map(str, key)]).encode()
    value = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") & ((1 << 63) - 1)
    return value or 1


def fee(notional: int, bps: int) -> int:
    """A fee in quote minor units, rounded down (in the customer's favour)."""
    return notional * bps // BPS


@dataclass(frozen=True, slots=True)
class Market:
    """What settlement needs of an instrument."""

    venue: str
    instrument_id: int
    base_asset: str
    quote_asset: str
    lot_size: int
    npl: int
    """Quote minor units per (tick * lot): notional = price * qty * npl."""
    maker_fee_bps: int
    taker_fee_bps: int

    @property
    def hold_fee_bps(self) -> int:
        """The fee rate a buy order's hold covers: whichever side it ends up on."""
        return max(self.maker_fee_bps, self.taker_fee_bps)

    def hold_amount(self, side: Side, price: int, qty: int) -> int:
        """What an order of `qty` open lots at limit `price` holds: quote (notional + the
        largest fee, floored) for a buy, base (qty * lot_size) for a sell."""
        if side is Side.BUY:
            notional = price * qty * self.npl
            return notional + fee(notional, self.hold_fee_bps)
        return qty * self.lot_size

    def hold_asset(self, side: Side) -> str:
        return self.quote_asset if side is Side.BUY else self.base_asset


@dataclass(frozen=True, slots=True)
class LedgerAccounts:
    """The ledger account ids a batch's settlement moves money between.

    `wallets` maps (venue account id, asset) → that account's wallet; `clearing` and `fees` map an
    asset to the venue's clearing account and its fee revenue account."""

    wallets: Mapping[tuple[int, str], int]
    clearing: Mapping[str, int]
    fees: Mapping[str, int]

    def wallet(self, account_id: int, asset: str) -> int:
        try:
            return self.wallets[(account_id, asset)]
        except KeyError:
            raise SettlementFailed(f"no {asset} wallet loaded for account {account_id}") from None


@dataclass(slots=True)
class OrderState:
    """An order as settlement sees it during a batch (loaded from its row, written back)."""

    id: int
    account_id: int
    side: Side
    price: int
    """The limit the hold was sized at (0 for a market sell)."""
    qty: int
    open_qty: int
    hold_id: int | None
    filled_qty: int = 0
    notional_filled: int = 0
    fees_paid: int = 0
    status: str = "pending"
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """The fees of one fill, in quote minor units."""

    notional: int
    maker_fee: int
    taker_fee: int


class Settlement:
    """Plans the ledger transfers of one instrument's events (see the module docstring)."""

    def __init__(self, market: Market, accounts: LedgerAccounts) -> None:
        self.market = market
        self.accounts = accounts

    @classmethod
    def wallet_assets(cls, market: Market) -> tuple[str, ...]:
        """The assets an account trading `market` needs a wallet in (spot: base and quote)."""
        return (market.base_asset, market.quote_asset)

    async def prepare(
        self, session: AsyncSession, ledger: Ledger, orders: Iterable[OrderState]
    ) -> None:
        """Load what planning these orders' events needs (spot: nothing)."""

    async def persist(self, session: AsyncSession) -> None:
        """Write the rows this batch's planning changed (spot: none; orders are the writer's)."""

    def hold_asset(self, side: Side) -> str:
        """The asset an order of `side` reserves."""
        return self.market.hold_asset(side)

    def hold_amount(self, order: OrderState, price: int, qty: int) -> int:
        """What `qty` open lots of `order` at limit `price` reserve (spot: `Market.hold_amount`)."""
        return self.market.hold_amount(order.side, price, qty)

    def _id(self, *key: object) -> int:
        return transfer_id(self.market.venue, self.market.instrument_id, *key)

    def _reference(self, *key: object) -> str:
        return ":".join([self.market.venue, *map(str, key)])[:64]

    def hold(self, order: OrderState, transfer_id: int, amount: int) -> Transfer:
        """A PENDING hold of `amount` from the order's wallet to the clearing account."""
        asset = self.hold_asset(order.side)
        return Transfer(
            id=transfer_id,
            debit_account_id=self.accounts.wallet(order.account_id, asset),
            credit_account_id=self.accounts.clearing[asset],
            amount=amount,
            kind=TransferKind.PENDING,
            code="order-hold",
            reference=self._reference("order", order.id),
        )

    def trade(
        self, event: tuple[int, ...], maker: OrderState, taker: OrderState
    ) -> tuple[list[Transfer], Fill]:
        """The linked chain that settles one TRADE event; updates both orders' states.

        Raises SettlementFailed if an order has no hold (a bug upstream)."""
        (_, trade_seq, _, _, _, _, taker_side, price, qty, maker_left, taker_left, _) = event
        market = self.market
        notional = price * qty * market.npl
        maker_fee = fee(notional, market.maker_fee_bps)
        taker_fee = fee(notional, market.taker_fee_bps)
        if taker_side == Side.BUY:
            buyer, seller, buyer_fee, seller_fee = taker, maker, taker_fee, maker_fee
            buyer_left, seller_left = taker_left, maker_left
        else:
            buyer, seller, buyer_fee, seller_fee = maker, taker, maker_fee, taker_fee
            buyer_left, seller_left = maker_left, taker_left
        if buyer.hold_id is None or seller.hold_id is None:
            raise SettlementFailed(f"trade {trade_seq}: an order has no hold")
        quote, base = market.quote_asset, market.base_asset
        reference = self._reference(market.instrument_id, trade_seq)
        base_amount = qty * market.lot_size
        chain: list[Transfer] = [
            Transfer(
                id=self._id("trade", trade_seq, 1),
                kind=TransferKind.POST,
                pending_id=buyer.hold_id,
                amount=notional + buyer_fee,
                code="trade-buy",
                reference=reference,
            )
        ]
        buyer.hold_id = None
        if buyer_left > 0:
            buyer.hold_id = self._id("trade", trade_seq, 2)
            chain.append(
                self.hold(buyer, buyer.hold_id, self.hold_amount(buyer, buyer.price, buyer_left))
            )
        chain.append(
            Transfer(
                id=self._id("trade", trade_seq, 3),
                kind=TransferKind.POST,
                pending_id=seller.hold_id,
                amount=base_amount,
                code="trade-sell",
                reference=reference,
            )
        )
        seller.hold_id = None
        if seller_left > 0:
            seller.hold_id = self._id("trade", trade_seq, 4)
            chain.append(
                self.hold(seller, seller.hold_id, self.hold_amount(seller, 0, seller_left))
            )
        if notional - seller_fee > 0:
            chain.append(
                Transfer(
                    id=self._id("trade", trade_seq, 5),
                    debit_account_id=self.accounts.clearing[quote],
                    credit_account_id=self.accounts.wallet(seller.account_id, quote),
                    amount=notional - seller_fee,
                    code="trade-proceeds",
                    reference=reference,
                )
            )
        chain.append(
            Transfer(
                id=self._id("trade", trade_seq, 6),
                debit_account_id=self.accounts.clearing[base],
                credit_account_id=self.accounts.wallet(buyer.account_id, base),
                amount=base_amount,
                code="trade-delivery",
                reference=reference,
            )
        )
        if buyer_fee + seller_fee > 0:
            chain.append(
                Transfer(
                    id=self._id("trade", trade_seq, 7),
                    debit_account_id=self.accounts.clearing[quote],
                    credit_account_id=self.accounts.fees[quote],
                    amount=buyer_fee + seller_fee,
                    code="trade-fees",
                    reference=reference,
                )
            )
        _link(chain)
        for order, left, own_fee in (
            (buyer, buyer_left, buyer_fee),
            (seller, seller_left, seller_fee),
        ):
            order.open_qty = left
            order.filled_qty += qty
            order.notional_filled += notional
            order.fees_paid += own_fee
            order.status = "filled" if left == 0 else "partially_filled"
        return chain, Fill(notional, maker_fee, taker_fee)

    def release(self, order: OrderState) -> list[Transfer]:
        """VOID the order's current hold (cancel, expiry, IOC remainder, rejection); [] if it has
        none. The VOID's id derives from the hold's, so releasing twice cannot happen."""
        if order.hold_id is None:
            return []
        void = Transfer(
            id=self._id("void", order.hold_id),
            kind=TransferKind.VOID,
            pending_id=order.hold_id,
            code="order-release",
            reference=self._reference("order", order.id),
        )
        order.hold_id = None
        order.open_qty = 0
        return [void]

    def resize(self, order: OrderState, price: int, qty: int, key: object) -> list[Transfer]:
        """The linked [VOID current hold, PENDING new hold] for `qty` open lots at `price` (a
        replace). `key` (the journal seq of the replace) makes the new hold's id unique; the
        order's state takes the new hold, limit and open quantity. The caller submits the chain
        and, if the ledger refuses it (not enough funds), restores the state it saved."""
        if order.hold_id is None:
            raise SettlementFailed(f"order {order.id} has no hold to resize")
        chain = [
            Transfer(
                id=self._id("void", order.hold_id),
                kind=TransferKind.VOID,
                pending_id=order.hold_id,
                linked=True,
                code="order-release",
                reference=self._reference("order", order.id),
            )
        ]
        new_id = self._id("resize", order.id, key)
        chain.append(self.hold(order, new_id, self.hold_amount(order, price, qty)))
        order.hold_id = new_id
        order.price = price
        order.open_qty = qty
        return chain


def _link(chain: list[Transfer]) -> None:
    """Mark every transfer but the last as linked to the next (in place)."""
    for i in range(len(chain) - 1):
        chain[i] = replace(chain[i], linked=True)
