"""The venue's value types: what systems pass in (InstrumentSpec, NewOrder) and get back
(Instrument, OrderView, Balance, AccountTrade). Plain frozen dataclasses; `as_dict` gives the JSON
shape (ids as strings, prices in ticks, quantities in lots, money in minor units)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casebook.engines.matching.models import MatchingInstrument, MatchingOrder, MatchingTrade
from casebook.engines.matching.settlement import Market
from casebook.engines.matching.types import SelfTrade, Side, TimeInForce


@dataclass(frozen=True)
class InstrumentSpec:
    """A listing request. Units (TRADING.md): tick_size = quote minor units per tick of the price
    of one whole base unit; lot_size = base minor units per lot; base_scale = base minor units per
    whole base unit; tick_size * lot_size must be a multiple of base_scale."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: int = 1
    lot_size: int = 1
    base_scale: int = 1
    min_qty: int = 1
    max_qty: int = 1_000_000_000
    maker_fee_bps: int = 0
    taker_fee_bps: int = 0
    reference_price: int | None = None


@dataclass(frozen=True)
class Instrument:
    id: int
    venue: str
    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: int
    lot_size: int
    base_scale: int
    min_qty: int
    max_qty: int
    maker_fee_bps: int
    taker_fee_bps: int
    reference_price: int | None
    status: str

    @property
    def npl(self) -> int:
        """Quote minor units per tick * lot: notional = price * qty * npl."""
        return self.tick_size * self.lot_size // self.base_scale

    @property
    def market(self) -> Market:
        return Market(
            venue=self.venue,
            instrument_id=self.id,
            base_asset=self.base_asset,
            quote_asset=self.quote_asset,
            lot_size=self.lot_size,
            npl=self.npl,
            maker_fee_bps=self.maker_fee_bps,
            taker_fee_bps=self.taker_fee_bps,
        )

    @classmethod
    def of(cls, row: MatchingInstrument) -> Instrument:
        return cls(
            id=row.id,
            venue=row.venue,
            symbol=row.symbol,
            base_asset=row.base_asset,
            quote_asset=row.quote_asset,
            tick_size=row.tick_size,
            lot_size=row.lot_size,
            base_scale=row.base_scale,
            min_qty=row.min_qty,
            max_qty=row.max_qty,
            maker_fee_bps=row.maker_fee_bps,
            taker_fee_bps=row.taker_fee_bps,
            reference_price=row.reference_price,
            status=row.status,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "symbol": self.symbol,
            "base_asset": self.base_asset,
            "quote_asset": self.quote_asset,
            "tick_size": self.tick_size,
            "lot_size": self.lot_size,
            "base_scale": self.base_scale,
            "min_qty": self.min_qty,
            "max_qty": self.max_qty,
            "maker_fee_bps": self.maker_fee_bps,
            "taker_fee_bps": self.taker_fee_bps,
            "reference_price": self.reference_price,
            "status": self.status,
        }


@dataclass(frozen=True)
class NewOrder:
    """An order to place. `type` "market" ignores `price`; `stp` None takes the venue's default."""

    account_id: int
    instrument_id: int
    side: Side
    qty: int
    price: int | None = None
    type: str = "limit"
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    stp: SelfTrade | None = None
    client_order_id: str | None = None


@dataclass(frozen=True)
class OrderView:
    id: int
    instrument_id: int
    account_id: int
    client_order_id: str | None
    side: str
    type: str
    tif: str
    post_only: bool
    price: int
    qty: int
    filled_qty: int
    open_qty: int
    notional_filled: int
    fees_paid: int
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: MatchingOrder) -> OrderView:
        return cls(
            id=row.id,
            instrument_id=row.instrument_id,
            account_id=row.account_id,
            client_order_id=row.client_order_id,
            side=row.side,
            type=row.type,
            tif=row.tif,
            post_only=row.post_only,
            price=row.price,
            qty=row.qty,
            filled_qty=row.filled_qty,
            open_qty=row.open_qty,
            notional_filled=row.notional_filled,
            fees_paid=row.fees_paid,
            status=row.status,
            reason=row.reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "instrument_id": str(self.instrument_id),
            "account_id": str(self.account_id),
            "client_order_id": self.client_order_id,
            "side": self.side,
            "type": self.type,
            "tif": self.tif,
            "post_only": self.post_only,
            "price": self.price,
            "qty": self.qty,
            "filled_qty": self.filled_qty,
            "open_qty": self.open_qty,
            "notional_filled": self.notional_filled,
            "fees_paid": self.fees_paid,
            "status": self.status,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class Balance:
    """An account's holding of one asset, in minor units: total = locked + available."""

    asset: str
    total: int
    locked: int
    available: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "total": self.total,
            "locked": self.locked,
            "available": self.available,
        }


@dataclass(frozen=True)
class AccountTrade:
    """A fill seen from one account: its side, whether it made or took liquidity, its fee."""

    id: int
    instrument_id: int
    trade_seq: int
    order_id: int
    side: str
    liquidity: str
    price: int
    qty: int
    fee: int
    ts: int

    @classmethod
    def of(cls, row: MatchingTrade, account_id: int) -> AccountTrade:
        # A self-trade (STP none) is listed once, from its maker's side.
        maker = row.maker_account_id == account_id
        taker_side = row.taker_side
        side = taker_side if not maker else ("sell" if taker_side == "buy" else "buy")
        return cls(
            id=row.id,
            instrument_id=row.instrument_id,
            trade_seq=row.trade_seq,
            order_id=row.maker_order_id if maker else row.taker_order_id,
            side=side,
            liquidity="maker" if maker else "taker",
            price=row.price,
            qty=row.qty,
            fee=row.maker_fee if maker else row.taker_fee,
            ts=row.ts,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "instrument_id": str(self.instrument_id),
            "trade_seq": self.trade_seq,
            "order_id": str(self.order_id),
            "side": self.side,
            "liquidity": self.liquidity,
            "price": self.price,
            "qty": self.qty,
            "fee": self.fee,
            "ts": self.ts,
        }
