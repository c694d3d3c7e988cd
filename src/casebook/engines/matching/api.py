"""The venue's generic trading REST for a signed-in user; a system mounts it under its prefix.

`router(venue, account_for)`: `account_for(session, principal) -> account id` is the system's rule
for which venue account a user trades through (a member's trader account, a user's own). Routes:

- `POST /orders` (Idempotency-Key) — place; 201 with the order after the writer's commit
  (immediate fills included); 409 ledger/exceeds-credits when the wallet cannot cover it;
- `GET /orders/{id}`, `DELETE /orders/{id}` (cancel), `PATCH /orders/{id}` (replace price/qty);
- `GET /orders?open=&symbol=&cursor=&limit=`, `GET /trades?symbol=&cursor=&limit=` — newest first,
  cursor paging;
- `GET /balances` — per asset total/locked/available (minor units);
- `GET /instruments` — the listings (public).

Every order route looks the order up under the caller's account: another user's order is a 404,
exactly like a missing one. Write routes resolve the account in a short transaction of their own
before calling the venue, which opens its own (a request-long write session would hold SQLite's
write lock while the venue waits for it).

No `from __future__ import annotations`: the routes' parameter types name dependencies made inside
`router()`, which FastAPI resolves at definition time.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import venue as venues
from casebook.engines.matching.errors import InvalidOrder
from casebook.engines.matching.types import SelfTrade, Side, TimeInForce
from casebook.engines.matching.venue import NewOrder, Venue
from casebook.platform.auth.deps import CurrentPrincipal, Principal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent

AccountFor = Callable[[AsyncSession, Principal], Awaitable[int]]
MAX_PRICE = 10**12


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=20)
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = "limit"
    qty: int = Field(ge=1, le=MAX_PRICE, description="Lots.")
    price: int | None = Field(default=None, ge=1, le=MAX_PRICE, description="Ticks; limit only.")
    tif: Literal["gtc", "ioc", "fok", "day"] = "gtc"
    post_only: bool = False
    stp: Literal["none", "expire_taker", "expire_maker", "expire_both"] | None = None
    client_order_id: str | None = Field(default=None, min_length=1, max_length=64)


class ReplaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: int | None = Field(default=None, ge=1, le=MAX_PRICE)
    qty: int | None = Field(default=None, ge=1, le=MAX_PRICE, description="New open quantity.")


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


def router(venue: str, account_for: AccountFor) -> APIRouter:
    """The trading routes of `venue` (see the module docstring)."""
    api = APIRouter(tags=[venue])

    def running(platform: Annotated[Platform, Depends(get_platform)]) -> Venue:
        return venues.get(platform, venue)

    VenueDep = Annotated[Venue, Depends(running)]

    async def own_account(principal: CurrentPrincipal, found: VenueDep) -> int:
        async with found.platform.db.session(write=True) as session:
            return await account_for(session, principal)

    AccountDep = Annotated[int, Depends(own_account)]

    async def read_account(principal: CurrentPrincipal, session: Session) -> int:
        return await account_for(session, principal)

    ReadAccountDep = Annotated[int, Depends(read_account)]

    @api.post(
        "/orders",
        status_code=201,
        dependencies=[Idempotent],
        responses=_problems(401, 404, 409, 422, 503),
    )
    async def place_order(body: OrderIn, found: VenueDep, account: AccountDep) -> dict[str, Any]:
        """Place an order. Prices in ticks, quantities in lots of the instrument."""
        async with found.platform.db.session() as session:
            instrument = await found.instrument(session, body.symbol.upper())
        if body.type == "market" and body.price is not None:
            raise InvalidOrder("A market order takes no price.", field="price")
        view = await found.place(
            NewOrder(
                account_id=account,
                instrument_id=instrument.id,
                side=Side.BUY if body.side == "buy" else Side.SELL,
                qty=body.qty,
                price=body.price,
                type=body.type,
                tif=TimeInForce[body.tif.upper()],
                post_only=body.post_only,
                stp=SelfTrade[body.stp.upper()] if body.stp else None,
                client_order_id=body.client_order_id,
            )
        )
        return view.as_dict()

    @api.get("/orders/{order_id}", responses=_problems(401, 404))
    async def get_order(
        order_id: int, found: VenueDep, account: ReadAccountDep, session: Session
    ) -> dict[str, Any]:
        """One of the caller's orders."""
        return (await found.order(session, account, order_id)).as_dict()

    @api.delete("/orders/{order_id}", responses=_problems(401, 404, 409, 503))
    async def cancel_order(order_id: int, found: VenueDep, account: AccountDep) -> dict[str, Any]:
        """Cancel an open order; its hold is released."""
        return (await found.cancel(account, order_id)).as_dict()

    @api.patch("/orders/{order_id}", responses=_problems(401, 404, 409, 422, 503))
    async def replace_order(
        order_id: int, body: ReplaceIn, found: VenueDep, account: AccountDep
    ) -> dict[str, Any]:
        """Change an open order's price and/or open quantity (a smaller quantity at the same
        price keeps its time priority); the hold is re-sized or the change refused (409)."""
        if body.price is None and body.qty is None:
            raise InvalidOrder("Give a new price, a new qty, or both.")
        return (await found.replace(account, order_id, body.price, body.qty)).as_dict()

    @api.get("/orders", responses=_problems(401, 404, 422))
    async def list_orders(
        found: VenueDep,
        account: ReadAccountDep,
        session: Session,
        open: bool = False,
        symbol: Annotated[str | None, Query(max_length=20)] = None,
        cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """The caller's orders, newest first."""
        instrument_id = (await found.instrument(session, symbol.upper())).id if symbol else None
        orders, following = await found.orders(
            session,
            account,
            open_only=open,
            instrument_id=instrument_id,
            cursor=int(cursor) if cursor else None,
            limit=limit,
        )
        return {
            "items": [o.as_dict() for o in orders],
            "next_cursor": str(following) if following else None,
        }

    @api.get("/trades", responses=_problems(401, 404, 422))
    async def list_trades(
        found: VenueDep,
        account: ReadAccountDep,
        session: Session,
        symbol: Annotated[str | None, Query(max_length=20)] = None,
        cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """The caller's fills, newest first."""
        instrument_id = (await found.instrument(session, symbol.upper())).id if symbol else None
        trades, following = await found.trades(
            session,
            account,
            instrument_id=instrument_id,
            cursor=int(cursor) if cursor else None,
            limit=limit,
        )
        return {
            "items": [t.as_dict() for t in trades],
            "next_cursor": str(following) if following else None,
        }

    @api.get("/balances", responses=_problems(401))
    async def list_balances(
        found: VenueDep, account: ReadAccountDep, session: Session
    ) -> dict[str, Any]:
        """The caller's holdings per asset (minor units): total, locked by open orders, free."""
        return {"items": [b.as_dict() for b in await found.balances(session, account)]}

    @api.get("/instruments")
    async def list_instruments(found: VenueDep, session: Session) -> dict[str, Any]:
        """Every listed instrument with its units and fees."""
        return {"items": [i.as_dict() for i in await found.instruments(session)]}

    return api
