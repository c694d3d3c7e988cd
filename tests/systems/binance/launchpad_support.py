"""Helpers of the Launchpad tests: sales with windows around a chosen instant, funded buyers,
and a snapshot of every ledger balance a sale touches (to prove a re-run changes nothing)."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from casebook.engines.ledger import Ledger
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.binance import launchpad, spot
from casebook.systems.binance.launchpad_models import LaunchpadProject

SCALE = spot.SCALE


def token_symbol() -> str:
    return "LP" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(6))


@dataclass
class Buyer:
    user_id: int
    account_id: int


async def buyer(platform: Platform, usdt: int = 0, asset: str = "USDT") -> Buyer:
    """A user with a venue account holding `usdt` minor units of `asset`."""
    user_id = new_id()
    async with platform.db.session(write=True) as session:
        account_id = await spot.account_of(session, user_id)
    if usdt:
        async with platform.db.session(write=True) as session:
            await spot.exchange(platform).credit(
                session, account_id, asset, usdt, new_id(), "test:launchpad"
            )
    return Buyer(user_id, account_id)


async def new_sale(
    platform: Platform,
    *,
    now: datetime | None = None,
    tokens: int = 1_000 * SCALE,
    price: int = SCALE // 10,
    per_user_cap: int = 1_000 * SCALE,
    quote: str = "USDT",
    list_pair: bool = False,
) -> LaunchpadProject:
    """A sale open from `now` - 1 min to `now` + 1 h, distributing at `now` + 2 h."""
    now = now or utcnow()
    spec = launchpad.ProjectSpec(
        symbol=token_symbol(),
        name="Test token",
        quote_asset=quote,
        price=price,
        tokens_for_sale=tokens,
        per_user_cap=per_user_cap,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        distributes_at=now + timedelta(hours=2),
        list_pair=list_pair,
    )
    async with platform.db.session(write=True) as session:
        return await launchpad.create_project(session, new_id(), spec, now=now)


async def balance(platform: Platform, account_id: int, asset: str) -> int:
    async with platform.db.session(write=True) as session:
        ledger = Ledger(session)
        return (
            await ledger.account(await launchpad.venue_wallet(ledger, account_id, asset))
        ).posted


async def sale_balances(platform: Platform, project: LaunchpadProject) -> dict[str, int]:
    async with platform.db.session(write=True) as session:
        ledger = Ledger(session)
        accounts = await launchpad.sale_accounts(ledger, project)
        return {
            name: (await ledger.account(getattr(accounts, name))).posted
            for name in ("escrow", "proceeds", "issuance", "sale", "treasury")
        }


async def snapshot(
    platform: Platform, project: LaunchpadProject, buyers: list[Buyer]
) -> dict[str, object]:
    """Every balance the sale touches plus every commitment row."""
    state: dict[str, object] = {"sale": await sale_balances(platform, project)}
    for b in buyers:
        state[f"{b.user_id}:quote"] = await balance(platform, b.account_id, project.quote_asset)
        state[f"{b.user_id}:token"] = await balance(platform, b.account_id, project.symbol)
        async with platform.db.session() as session:
            row = await launchpad.my_commitment(session, project.id, b.user_id)
            if row is not None:
                state[f"{b.user_id}:row"] = (
                    row.committed,
                    row.allocation,
                    row.tokens,
                    row.payment,
                    row.refund,
                    row.distributed_at is not None,
                )
    return state
