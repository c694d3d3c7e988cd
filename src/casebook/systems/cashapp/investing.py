"""Cash App Investing: stocks bought and sold from the Cash App balance, through the brokerage.

Cash App does not run a second brokerage: its customers' orders go through the same brokerage
engine as Robinhood's (`robinhood.brokerage`), which takes its customers' cash source as a
parameter (`Clientele`). Robinhood is Cash App Investing's executing broker here, as
DriveWealth is the real one's: the orders share its house account at the Stock Exchange, its
fractional inventory and its settlement, and cross inside it with Robinhood's own customers'
orders (robinhood/crossing.py). What is Cash App's:

- the cash: a buy is paid from the Cash App wallet (`cashapp:user:<id>` / wallet, the same
  ledger account P2P payments and the Cash Card use); a sale is paid into it;
- the positions: `cashapp:user:<id>` / position / SYM, in micro-shares (1 share = 10^6);
- the gate: a $cashtag (`profiles.require_profile`), like every Cash App money movement.

Orders (the seed's `POST /api/investments/stocks/buy|sell`): buys by dollar amount (Cash App's
way: "buy $25 of AAPL") or by shares to the micro-share; sells by shares. Rounding is the
brokerage's (docs/systems/robinhood.md): a dollar buy gets floor(cents · 10^6 / price)
micro-shares and never pays more than its dollars; the cash value of a fractional trade is
rounded half up to the cent; no commission. A buy escrows its cash from the wallet in the
same transaction that accepts it, so concurrent buys can never spend more than the balance.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform
from casebook.platform.errors import Problem
from casebook.systems.cashapp import profiles
from casebook.systems.robinhood import brokerage, portfolio
from casebook.systems.robinhood.brokerage import Clientele, OrderRequest
from casebook.systems.robinhood.house import exchange
from casebook.systems.robinhood.models import Order
from casebook.systems.robinhood.portfolio import Summary


class InvestingUnavailable(Problem):
    status = 503
    type_ = "cashapp/investing-unavailable"
    title = "Investing is not available right now"


CASHAPP = Clientele(owner_prefix="cashapp:user", cash_name="wallet", gate=profiles.require_profile)
"""Cash App's customers at the brokerage: cash in the Cash App wallet, after a $cashtag."""


def _ready(platform: Platform) -> None:
    """The executing broker runs in this process (Robinhood's house account is open)."""
    if "robinhood:house" not in platform.state:
        raise InvestingUnavailable("The executing broker is not running.")


async def buy_stock(
    platform: Platform,
    user_id: int,
    symbol: str,
    *,
    cents: int | None = None,
    micro_shares: int | None = None,
) -> Order:
    """Buy `symbol` at market for `cents` dollars' worth or `micro_shares`, paid from the
    wallet. Raises InvalidInput (422), UnknownSymbol (404), NoMarket (422), ProfileRequired
    (409), InsufficientFunds (409 ledger/exceeds-credits) or InvestingUnavailable (503); in
    every case nothing was written. O(1) ledger transfers plus one exchange order."""
    _ready(platform)
    request = OrderRequest(symbol, "buy", dollars=cents, micro_shares=micro_shares)
    return await brokerage.place(platform, user_id, request, CASHAPP)


async def sell_stock(platform: Platform, user_id: int, symbol: str, micro_shares: int) -> Order:
    """Sell `micro_shares` of `symbol` at market into the wallet. Raises as `buy_stock`, and
    InsufficientShares (409) when the customer holds fewer."""
    _ready(platform)
    request = OrderRequest(symbol, "sell", micro_shares=micro_shares)
    return await brokerage.place(platform, user_id, request, CASHAPP)


async def stocks(platform: Platform, session: AsyncSession, user_id: int) -> Summary:
    """The wallet balance and the customer's stock positions at the last price."""
    _ready(platform)
    return await portfolio.holdings(session, exchange(platform), CASHAPP.owner(user_id), "wallet")


async def order(session: AsyncSession, user_id: int, order_id: int) -> Order:
    """The customer's Cash App order; OrderNotFound (404) for anyone else's (a Robinhood
    order of the same person included)."""
    return await brokerage.order_of(session, user_id, order_id, CASHAPP)


async def orders(
    session: AsyncSession, user_id: int, cursor: int | None, limit: int
) -> tuple[list[Order], int | None]:
    """The customer's Cash App orders, newest first, one page."""
    return await brokerage.orders_of(session, user_id, cursor, limit, CASHAPP)
