"""`/api/binance`: the Binance system's HTTP surface.

- the seed's own endpoints: `/users`, `/login`, `/trading/pairs`, `/trading/orders`,
  `/account/balance`, `/account/trades` (seed_api.py);
- `/api/v3/*` — the Binance-compatible spot REST subset with HMAC-signed API keys (rest.py);
- `/api-keys` — a signed-in user creates (secret shown once), lists and revokes those keys;
- `/venue/*` — the matching engine's generic trading REST for the caller's own spot account
  (ticks and lots; Idempotency-Key on placement) and public market data
  (`/venue/instruments/{symbol}/quote|depth|trades|candles|ticker`);
- `/wallet/*` — deposit addresses, deposits, balances and withdrawals (wallets.py), on the same
  venue accounts the spot API trades;
- `/chain/*` and `/dex/*` — the simulated chain's explorer and the non-custodial DEX.

Credentials for everything but `/api/v3` and the public reads: the platform's identity (a
session, or an API key with the `binance:trade` scope to manage keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from casebook.engines.matching import mount
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import Forbidden
from casebook.platform.ids import IdStr
from casebook.systems.binance import apikeys, margin_api, rest, seed_api
from casebook.systems.binance.chain import chain_router
from casebook.systems.binance.dex import dex_router
from casebook.systems.binance.futures_api import router as futures_router
from casebook.systems.binance.launchpad_api import router as launchpad_router
from casebook.systems.binance.runtime import CHAIN, WALLETS
from casebook.systems.binance.spot import ASSET_SCALES, VENUE, principal_account
from casebook.systems.binance.staff import is_staff
from casebook.systems.binance.wallets import wallets_router


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=64)
    can_trade: bool = True


class ApiKeyOut(BaseModel):
    id: IdStr
    label: str
    api_key: str = Field(serialization_alias="apiKey")
    can_trade: bool
    created_at: datetime


class NewApiKeyOut(ApiKeyOut):
    secret_key: str = Field(serialization_alias="secretKey")


def _require_trade(principal: CurrentPrincipal) -> int:
    if not principal.has_scope("binance:trade"):
        raise Forbidden("This credential lacks the binance:trade scope.")
    return principal.user_id


router = APIRouter()
router.include_router(rest.router())
router.include_router(seed_api.router)


@router.post(
    "/api-keys", status_code=201, response_model=NewApiKeyOut, response_model_by_alias=True
)
async def create_api_key(
    body: ApiKeyIn,
    principal: CurrentPrincipal,
    session: WriteSession,
    platform: Annotated[Platform, Depends(get_platform)],
) -> NewApiKeyOut:
    """A new Binance API key pair; the secretKey is shown only in this answer."""
    user_id = _require_trade(principal)
    row, secret = await apikeys.create(
        session, platform.settings.signing_key, user_id, body.label, body.can_trade
    )
    return NewApiKeyOut(
        id=row.id,
        label=row.label,
        api_key=row.api_key,
        can_trade=row.can_trade,
        created_at=row.created_at,
        secret_key=secret,
    )


@router.get("/api-keys", response_model=list[ApiKeyOut], response_model_by_alias=True)
async def list_api_keys(principal: CurrentPrincipal, session: Session) -> list[ApiKeyOut]:
    """The caller's live keys (never their secrets)."""
    return [
        ApiKeyOut.model_validate(row, from_attributes=True)
        for row in await apikeys.list_keys(session, principal.user_id)
    ]


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: int, principal: CurrentPrincipal, session: WriteSession) -> None:
    """Revoke one of the caller's keys; another user's key is a 404."""
    await apikeys.revoke(session, _require_trade(principal), key_id)


router.include_router(
    mount.api_router(VENUE, principal_account, quote_scales=ASSET_SCALES), prefix="/venue"
)
router.include_router(wallets_router(WALLETS, is_staff))
router.include_router(chain_router(CHAIN))
router.include_router(dex_router(CHAIN))
router.include_router(futures_router)
router.include_router(launchpad_router)
router.include_router(margin_api.router)
