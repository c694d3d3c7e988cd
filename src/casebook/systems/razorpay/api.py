"""`/api/razorpay`: merchant accounts (signed in with a Casebook session or API key) and, under
`/v1`, the Razorpay-compatible merchant API authenticated by key id + secret (`compat`).

Merchants sign up and sign in through `/api/auth` (register, login), then open their merchant
account here, which answers their first key pair, and see their payments as a history.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from casebook.engines.ledger import Ledger
from casebook.platform.auth.deps import Principal, require_scope
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON
from casebook.systems.razorpay import merchants, payments, publicids, settlements
from casebook.systems.razorpay.checkout import router as checkout_router
from casebook.systems.razorpay.compat import router as compat_router
from casebook.systems.razorpay.entities import payment_entity, unix
from casebook.systems.razorpay.errors import EntityNotFound

READ = "razorpay:read"
WRITE = "razorpay:write"
Reader = Annotated[Principal, Depends(require_scope(READ))]
Writer = Annotated[Principal, Depends(require_scope(WRITE))]

router = APIRouter()
router.include_router(compat_router, prefix="/v1")
router.include_router(checkout_router, prefix="/pay")

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": meaning, "content": {PROBLEM_JSON: {}}}
    for status, meaning in {
        401: "Missing or invalid credentials",
        403: "The credential lacks the needed scope",
        404: "No merchant account (or no such key)",
        409: "Already exists",
        422: "Invalid input",
    }.items()
}


class MerchantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)


def _merchant_out(merchant_id: int, name: str, created_at: Any) -> dict[str, Any]:
    return {
        "id": publicids.encode("acc", merchant_id),
        "entity": "account",
        "name": name,
        "created_at": unix(created_at),
    }


@router.post("/merchants", status_code=201, responses=_PROBLEMS)
async def open_merchant(body: MerchantCreate, principal: Writer, session: Session) -> Any:
    """Open your merchant account. Answers it with your first key pair: `key_id` and
    `key_secret` (shown only now) for HTTP Basic authentication on `/api/razorpay/v1`."""
    merchant = await merchants.open_merchant(session, principal.user_id, body.name)
    key, secret = await merchants.create_key(session, merchant.id)
    return {
        **_merchant_out(merchant.id, merchant.name, merchant.created_at),
        "key_id": key.key_id,
        "key_secret": secret,
    }


@router.get("/merchants/me", responses=_PROBLEMS)
async def my_merchant(principal: Reader, session: Session) -> Any:
    """Your merchant account, its balance per currency (captured, less fees and refunds) and
    its live key ids."""
    merchant = await merchants.merchant_of_user(session, principal.user_id)
    accounts = await Ledger(session).accounts_of(merchants.merchant_owner(merchant.id))
    keys = await merchants.live_key_ids(session, merchant.id)
    return {
        **_merchant_out(merchant.id, merchant.name, merchant.created_at),
        "balances": [
            {"currency": a.currency, "balance": a.posted, "on_hold": a.incoming}
            for a in accounts
            if a.name == "balance"
        ],
        "key_ids": keys,
    }


@router.post("/merchants/me/keys", status_code=201, responses=_PROBLEMS)
async def new_key(principal: Writer, session: Session) -> Any:
    """A further key pair (at most 10 live); the secret is shown only now."""
    merchant = await merchants.merchant_of_user(session, principal.user_id)
    key, secret = await merchants.create_key(session, merchant.id)
    return {"key_id": key.key_id, "key_secret": secret}


@router.delete("/merchants/me/keys/{key_id}", status_code=204, responses=_PROBLEMS)
async def revoke_key(key_id: str, principal: Writer, session: Session) -> Response:
    """Revoke one of your keys: it stops authenticating at once."""
    merchant = await merchants.merchant_of_user(session, principal.user_id)
    if not await merchants.revoke_key(session, merchant.id, key_id[:40]):
        raise EntityNotFound("You have no live key with this id.")
    return Response(status_code=204)


@router.get("/merchants/me/transactions", responses=_PROBLEMS)
async def my_transactions(
    principal: Reader,
    session: Session,
    count: Annotated[int, Query(ge=1, le=100)] = 20,
    skip: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Any:
    """Your transaction history (the seed's `GET /users/{id}/transactions`): payments newest
    first, each with its status and refunds."""
    merchant = await merchants.merchant_of_user(session, principal.user_id)
    rows = await payments.list_payments(session, merchant.id, count, skip)
    return {"entity": "collection", "count": len(rows), "items": [payment_entity(p) for p in rows]}


@router.get("/merchants/me/reconciliation", responses=_PROBLEMS)
async def my_reconciliation(
    principal: Reader,
    session: Session,
    start: Annotated[date, Query(alias="from", description="First day (UTC), YYYY-MM-DD.")],
    end: Annotated[date, Query(alias="to", description="Last day (UTC), inclusive.")],
) -> Any:
    """Your reconciliation report for a date range (the same as `GET /v1/reconciliation`)."""
    merchant = await merchants.merchant_of_user(session, principal.user_id)
    return await settlements.reconciliation(session, merchant.id, start, end)
