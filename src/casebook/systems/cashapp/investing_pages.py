"""The Investing section of `/cashapp/`: stock holdings and bitcoin, and the forms to buy and
sell them (plain HTML forms over investing.py and bitcoin.py, signed in by the session cookie,
same-origin checked like the rest of the page).

`section` gives the page its context; the two POST routes redirect home on success, or show
the page again with the reason (pages.py renders it).
"""

from __future__ import annotations

import contextlib
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput, Problem
from casebook.systems.cashapp import bitcoin, investing
from casebook.systems.cashapp.investing import InvestingUnavailable
from casebook.systems.robinhood.books import MICRO
from casebook.systems.robinhood.house import STOCKS
from casebook.web.csrf import SameOrigin
from casebook.web.viewer import OptionalViewer

router = APIRouter(prefix="/invest")
HOME = "/cashapp/"
Side = Annotated[str, Form(pattern="^(buy|sell)$")]
Text = Annotated[str, Form(max_length=24)]


def _decimal(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text.strip().removeprefix("$"))
    except InvalidOperation:
        raise InvalidInput(f"{field} is a number, like 1.5.", field=field) from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"{field} must be more than 0.", field=field)
    return value


def _cents(text: str) -> int:
    value = _decimal(text, "amount") * 100
    if value != int(value):
        raise InvalidInput("Amounts are dollars and at most two decimals.", field="amount")
    return int(value)


async def section(platform: Platform, session: AsyncSession, user_id: int) -> dict[str, Any]:
    """The section's context: `investing` = stocks (holdings at the last price), the stocks
    offered, bitcoin (satoshis, value at the best bid) — each None when its market is not
    running in this process. Read-only: the page may render it inside a write transaction."""
    context: dict[str, Any] = {"stocks": None, "offered": [s[0] for s in STOCKS], "btc": None}
    with contextlib.suppress(InvestingUnavailable):
        context["stocks"] = await investing.stocks(platform, session, user_id)
    try:
        bid = await bitcoin.best_bid(platform, session)
    except InvestingUnavailable:
        return {"investing": context}
    sats = await bitcoin.holding(session, user_id)
    context["btc"] = {
        "sats": sats,
        "text": f"{Decimal(sats) / bitcoin.SATS:.8f}",
        "price": bid,
        "value": (2 * sats * bid + bitcoin.SATS) // (2 * bitcoin.SATS) if bid else 0,
    }
    return {"investing": context}


def _login() -> RedirectResponse:
    return RedirectResponse(f"/login?next={HOME}", status_code=303)


async def _again(request: Request, viewer: Any, problem: Problem) -> HTMLResponse:
    # Imported here: pages.py includes this router.
    from casebook.systems.cashapp.pages import _page

    platform: Platform = request.app.state.platform
    async with platform.db.session() as session:
        return await _page(
            request, viewer, session, error=problem.detail, status_code=problem.status
        )


@router.post("/stock", response_class=HTMLResponse)
async def trade_stock(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    side: Side,
    symbol: Annotated[str, Form(max_length=10)],
    amount: Text = "",
    shares: Text = "",
) -> Response:
    """Buy (dollars or shares) or sell (shares) a stock at market."""
    if viewer is None:
        return _login()
    platform: Platform = request.app.state.platform
    try:
        if side == "buy" and amount.strip():
            await investing.buy_stock(platform, viewer.user_id, symbol, cents=_cents(amount))
        else:
            micro = _decimal(shares, "shares") * MICRO
            if micro != int(micro):
                raise InvalidInput("Shares go to 6 decimals.", field="shares")
            if side == "buy":
                await investing.buy_stock(platform, viewer.user_id, symbol, micro_shares=int(micro))
            else:
                await investing.sell_stock(platform, viewer.user_id, symbol, int(micro))
    except Problem as problem:
        return await _again(request, viewer, problem)
    return RedirectResponse(HOME, status_code=303)


@router.post("/bitcoin", response_class=HTMLResponse)
async def trade_bitcoin(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    side: Side,
    amount: Text = "",
    btc: Text = "",
) -> Response:
    """Buy bitcoin for dollars, or sell an amount of bitcoin, at market."""
    if viewer is None:
        return _login()
    platform: Platform = request.app.state.platform
    try:
        if side == "buy":
            await bitcoin.buy(platform, viewer.user_id, _cents(amount))
        else:
            await bitcoin.sell(platform, viewer.user_id, _decimal(btc, "btc"))
    except Problem as problem:
        return await _again(request, viewer, problem)
    return RedirectResponse(HOME, status_code=303)
