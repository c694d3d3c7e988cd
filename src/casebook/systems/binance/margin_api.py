"""`/api/binance/margin/*`: cross margin for a signed-in user (session or API key).

- `GET /margin/account` — assets (free, locked, borrowed, interest, net, index price, max
  borrowable), total asset and debt value in USDT, the margin level, status and margin-call flag,
  and the newest margin events;
- `POST /margin/transfer` {asset, amount, direction: to_margin | to_spot} — spot ⇄ margin;
- `POST /margin/borrow` {asset, amount} — from the house pool, refused below level 2.0;
- `POST /margin/repay` {asset, amount} — interest first;
- `/margin/orders`, `/margin/trades`, `/margin/balances` — the engine's generic order REST
  (engines/matching/api.py) with the margin account as the caller's account: the same books,
  holds and settlement as spot; `/margin/instruments` and market data as under `/venue`.

Amounts are decimal strings with at most 8 decimals. Money-moving POSTs take Idempotency-Key.
Errors: 404 binance/no-margin-account, 409 binance/margin-level-too-low, 409
ledger/exceeds-credits (wallet or pool), 422 binance/unknown-asset, binance/repay-exceeds-debt,
invalid-input.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import venue as venues
from casebook.engines.matching.api import router as order_router
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent
from casebook.systems.binance import margin
from casebook.systems.binance.spot import ASSETS, SCALE, VENUE

AMOUNT = r"^\d{1,8}(\.\d{1,8})?$"


class AmountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset: str = Field(pattern=r"^[A-Z0-9]{1,10}$", description="BTC, ETH, BNB or USDT.")
    amount: str = Field(pattern=AMOUNT, description="Decimal string, at most 8 decimals.")


class TransferIn(AmountIn):
    direction: Literal["to_margin", "to_spot"]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


def _venue(platform: Annotated[Platform, Depends(get_platform)]) -> venues.Venue:
    return venues.get(platform, VENUE)


VenueDep = Annotated[venues.Venue, Depends(_venue)]
router = APIRouter(prefix="/margin", tags=["binance"])


async def _account_view(session: AsyncSession, venue: venues.Venue, user_id: int) -> dict[str, Any]:
    try:
        state = await margin.account_state(session, venue, user_id)
    except margin.NoMarginAccount:
        return {
            "account_id": None,
            "status": "none",
            "margin_call": False,
            "level": None,
            "total_asset_value": "0.00000000",
            "total_debt_value": "0.00000000",
            "assets": [],
            "max_borrowable": {},
            "events": [],
        }
    view = state.as_dict()
    view["max_borrowable"] = {}
    for asset in ASSETS:
        try:
            price = margin.index_price(venue, asset)
        except margin.NoIndexPrice:
            continue
        most = margin.max_borrow(state, asset, price)
        view["max_borrowable"][asset] = margin.decimal_text(Fraction(most, SCALE), 8)
    view["events"] = [
        {
            "id": str(e.id),
            "kind": e.kind,
            "level": e.level,
            "detail": e.detail,
            "created_at": e.created_at.isoformat(),
        }
        for e in await margin.events(session, user_id)
    ]
    return view


@router.get("/account", responses=_problems(401))
async def get_account(
    principal: CurrentPrincipal, session: Session, venue: VenueDep
) -> dict[str, Any]:
    """The caller's margin account (status "none" before the first transfer in)."""
    return await _account_view(session, venue, principal.user_id)


@router.post("/transfer", dependencies=[Idempotent], responses=_problems(401, 404, 409, 422))
async def post_transfer(
    body: TransferIn, principal: CurrentPrincipal, session: WriteSession, venue: VenueDep
) -> dict[str, Any]:
    """Move an asset between the caller's spot and margin wallets; out of margin only while
    the level stays at 2.0 or more."""
    await margin.transfer(
        session,
        venue,
        principal.user_id,
        body.asset,
        margin.parse_amount(body.amount),
        to_margin=body.direction == "to_margin",
    )
    return await _account_view(session, venue, principal.user_id)


@router.post("/borrow", dependencies=[Idempotent], responses=_problems(401, 404, 409, 422))
async def post_borrow(
    body: AmountIn, principal: CurrentPrincipal, session: WriteSession, venue: VenueDep
) -> dict[str, Any]:
    """Borrow from the house pool into the margin wallet (refused below level 2.0)."""
    await margin.borrow(
        session, venue, principal.user_id, body.asset, margin.parse_amount(body.amount)
    )
    return await _account_view(session, venue, principal.user_id)


@router.post("/repay", dependencies=[Idempotent], responses=_problems(401, 404, 409, 422))
async def post_repay(
    body: AmountIn, principal: CurrentPrincipal, session: WriteSession, venue: VenueDep
) -> dict[str, Any]:
    """Repay a loan from the margin wallet, interest first."""
    interest, principal_paid = await margin.repay(
        session, venue, principal.user_id, body.asset, margin.parse_amount(body.amount)
    )
    view = await _account_view(session, venue, principal.user_id)
    view["repaid"] = {
        "interest": margin.decimal_text(Fraction(interest, SCALE), 8),
        "principal": margin.decimal_text(Fraction(principal_paid, SCALE), 8),
    }
    return view


router.include_router(order_router(VENUE, margin.principal_margin_account))
