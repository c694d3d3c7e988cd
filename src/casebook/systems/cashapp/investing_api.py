"""`/api/cashapp/investments/…`: Cash App Investing — stocks (investing.py: the seed's
`POST /api/investments/stocks/buy` and `/sell`, the portfolio, the orders) and bitcoin
(bitcoin.py: buy, sell, the holding, an order).

Amounts follow the rest of the Cash App API: money in integer cents; shares as a decimal
string to the micro-share (`"0.25"`). Credentials: `cashapp:write` to trade, `cashapp:read` to
read. Buys and sells accept `Idempotency-Key`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from casebook.platform.auth.deps import Principal, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import IdStr
from casebook.systems.cashapp import bitcoin, investing
from casebook.systems.cashapp.investing_models import BitcoinOrder
from casebook.systems.robinhood.books import MICRO
from casebook.systems.robinhood.models import Order

router = APIRouter(prefix="/investments", tags=["cashapp"])

Reader = Annotated[Principal, Depends(require_scope("cashapp:read"))]
Writer = Annotated[Principal, Depends(require_scope("cashapp:write"))]
PlatformDep = Annotated[Platform, Depends(get_platform)]
Symbol = Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[A-Za-z.]+$")]
Shares = Annotated[Decimal, Field(gt=0, le=10_000_000, decimal_places=6)]

_MEANINGS = {
    401: "Missing or invalid credentials",
    403: "The credential lacks the needed scope",
    404: "No such stock or order (or not yours)",
    409: "Not enough cash or shares, or no $cashtag yet",
    422: "Invalid input, or no market to trade at",
    503: "The executing broker is not running",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


class BuyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    amount: int | None = Field(default=None, gt=0, le=10**9, description="Cents to invest")
    shares: Shares | None = None

    @model_validator(mode="after")
    def _one(self) -> BuyIn:
        if (self.amount is None) == (self.shares is None):
            raise ValueError("Give exactly one of amount (cents) or shares.")
        return self


class SellIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    shares: Shares


class InvestmentOrderOut(BaseModel):
    id: IdStr
    symbol: str
    side: str
    shares: str
    """Shares asked for (a dollar buy: what the amount buys at the quote)."""
    amount_requested: int | None
    """A dollar buy's amount in cents."""
    filled_shares: str
    amount: int
    """Cents paid (buy) or received (sell); no commission."""
    status: str
    reason: str | None
    created_at: datetime


class HoldingOut(BaseModel):
    symbol: str
    shares: str
    price: int
    """Last price, cents per share."""
    value: int
    """Cents, rounded half up."""


class StocksOut(BaseModel):
    balance: int
    """The Cash App balance in cents (what buys are paid from)."""
    holdings: list[HoldingOut]
    value: int
    """All holdings, cents."""


class OrdersOut(BaseModel):
    items: list[InvestmentOrderOut]
    next_cursor: str | None


def _shares(micro: int) -> str:
    return str((Decimal(micro) / MICRO).quantize(Decimal("0.000001")))


def _micro(shares: Decimal) -> int:
    return int(shares * MICRO)


def _out(order: Order) -> InvestmentOrderOut:
    return InvestmentOrderOut(
        id=order.id,
        symbol=order.symbol,
        side=order.side,
        shares=_shares(order.micro_shares),
        amount_requested=order.dollars,
        filled_shares=_shares(order.filled_micro),
        amount=order.amount,
        status=order.status,
        reason=order.reason,
        created_at=order.created_at,
    )


@router.post(
    "/stocks/buy",
    status_code=201,
    response_model=InvestmentOrderOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422, 503),
)
async def buy(body: BuyIn, principal: Writer, platform: PlatformDep) -> InvestmentOrderOut:
    """Buy a stock at market from your Cash App balance: `amount` in cents (fractional shares,
    never more than the amount) or `shares`. Commission-free. Accepts `Idempotency-Key`."""
    order = await investing.buy_stock(
        platform,
        principal.user_id,
        body.symbol,
        cents=body.amount,
        micro_shares=_micro(body.shares) if body.shares is not None else None,
    )
    return _out(order)


@router.post(
    "/stocks/sell",
    status_code=201,
    response_model=InvestmentOrderOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422, 503),
)
async def sell(body: SellIn, principal: Writer, platform: PlatformDep) -> InvestmentOrderOut:
    """Sell shares at market into your Cash App balance. Accepts `Idempotency-Key`."""
    order = await investing.sell_stock(
        platform, principal.user_id, body.symbol, _micro(body.shares)
    )
    return _out(order)


@router.get("/stocks", response_model=StocksOut, responses=_problems(401, 403, 503))
async def stocks(principal: Reader, platform: PlatformDep, session: Session) -> StocksOut:
    """Your balance and stock holdings at the last price."""
    current = await investing.stocks(platform, session, principal.user_id)
    return StocksOut(
        balance=current.cash,
        holdings=[
            HoldingOut(
                symbol=p.symbol, shares=_shares(p.micro_shares), price=p.price, value=p.value
            )
            for p in current.positions
        ],
        value=current.equity,
    )


@router.get("/orders", response_model=OrdersOut, responses=_problems(401, 403, 422))
async def orders(
    principal: Reader,
    session: Session,
    cursor: Annotated[int | None, Query(gt=0, lt=2**63)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrdersOut:
    """Your investment orders, newest first (`cursor` from `next_cursor`)."""
    rows, more = await investing.orders(session, principal.user_id, cursor, limit)
    return OrdersOut(items=[_out(o) for o in rows], next_cursor=str(more) if more else None)


@router.get("/orders/{order_id}", response_model=InvestmentOrderOut, responses=_problems(401, 404))
async def order(
    principal: Reader, session: Session, order_id: Annotated[int, Path(gt=0, lt=2**63)]
) -> InvestmentOrderOut:
    """One of your investment orders (404 for anyone else's)."""
    return _out(await investing.order(session, principal.user_id, order_id))


# -- bitcoin (bitcoin.py) ---------------------------------------------------------------------


class BitcoinBuyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, le=10**9, description="Cents to spend")


class BitcoinSellIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    btc: Decimal = Field(gt=0, le=100, decimal_places=5, description="BTC, 0.00001 steps")


class BitcoinOrderOut(BaseModel):
    id: IdStr
    side: str
    btc: str
    """Bitcoin asked for (a buy: what the amount buys at the price sent)."""
    amount_requested: int | None
    filled_btc: str
    amount: int
    """Cents paid (buy) or received (sell)."""
    status: str
    reason: str | None
    created_at: datetime


class BitcoinOut(BaseModel):
    balance: int
    """The Cash App balance, cents."""
    btc: str
    sats: int
    price: int | None
    """What the market pays for 1 BTC now (best bid), cents; None without bids."""
    value: int
    """The holding at that price, cents, rounded half up."""


def _btc(sats: int) -> str:
    return str((Decimal(sats) / bitcoin.SATS).quantize(Decimal("0.00000001")))


def _bitcoin_out(row: BitcoinOrder) -> BitcoinOrderOut:
    return BitcoinOrderOut(
        id=row.id,
        side=row.side,
        btc=_btc(row.sats),
        amount_requested=row.cents,
        filled_btc=_btc(row.filled_sats),
        amount=row.amount,
        status=row.status,
        reason=row.reason,
        created_at=row.created_at,
    )


@router.post(
    "/bitcoin/buy",
    status_code=201,
    response_model=BitcoinOrderOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 409, 422, 503),
)
async def buy_bitcoin(
    body: BitcoinBuyIn, principal: Writer, platform: PlatformDep
) -> BitcoinOrderOut:
    """Buy bitcoin for `amount` cents from your balance (to 0.00001 BTC; never more than the
    amount). Accepts `Idempotency-Key`."""
    return _bitcoin_out(await bitcoin.buy(platform, principal.user_id, body.amount))


@router.post(
    "/bitcoin/sell",
    status_code=201,
    response_model=BitcoinOrderOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 409, 422, 503),
)
async def sell_bitcoin(
    body: BitcoinSellIn, principal: Writer, platform: PlatformDep
) -> BitcoinOrderOut:
    """Sell `btc` at market into your balance. Accepts `Idempotency-Key`."""
    return _bitcoin_out(await bitcoin.sell(platform, principal.user_id, body.btc))


@router.get("/bitcoin", response_model=BitcoinOut, responses=_problems(401, 403, 503))
async def bitcoin_holding(principal: Reader, platform: PlatformDep, session: Session) -> BitcoinOut:
    """Your balance and bitcoin, valued at the best bid."""
    bid = await bitcoin.best_bid(platform, session)
    sats = await bitcoin.holding(session, principal.user_id)
    wallet = await investing.stocks(platform, session, principal.user_id)
    value = (2 * sats * bid + bitcoin.SATS) // (2 * bitcoin.SATS) if bid else 0
    return BitcoinOut(balance=wallet.cash, btc=_btc(sats), sats=sats, price=bid, value=value)


@router.get(
    "/bitcoin/orders/{order_id}", response_model=BitcoinOrderOut, responses=_problems(401, 404)
)
async def bitcoin_order(
    principal: Reader, session: Session, order_id: Annotated[int, Path(gt=0, lt=2**63)]
) -> BitcoinOrderOut:
    """One of your bitcoin orders (404 for anyone else's)."""
    return _bitcoin_out(await bitcoin.order_of(session, principal.user_id, order_id))
