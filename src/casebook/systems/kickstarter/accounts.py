"""Kickstarter's ledger accounts, all in USD cents.

- each user's `wallet` (LIABILITY: money we hold for them): funded by card top-ups, held from by
  pledges, credited with a successful project's payout;
- each project's `escrow` (LIABILITY): receives the pledge holds; at settlement the captured total
  leaves it for the creator's wallet and the platform's fee account, so it ends at zero;
- the platform's `fees` (REVENUE): the platform fee of successful projects;
- the platform's `card-network` (ASSET): money the card network owes us for approved top-ups;
  its balance is the sum of all top-ups, so it needs no permission to go negative.
"""

from __future__ import annotations

from casebook.engines.ledger import Account, AccountKind, Ledger
from casebook.systems.kickstarter.models import CURRENCY

PLATFORM = "kickstarter"


async def wallet(ledger: Ledger, user_id: int) -> Account:
    return await ledger.open_account(
        owner=f"kickstarter:user:{user_id}",
        name="wallet",
        currency=CURRENCY,
        kind=AccountKind.LIABILITY,
    )


async def escrow(ledger: Ledger, project_id: int) -> Account:
    return await ledger.open_account(
        owner=f"kickstarter:project:{project_id}",
        name="escrow",
        currency=CURRENCY,
        kind=AccountKind.LIABILITY,
    )


async def fees(ledger: Ledger) -> Account:
    return await ledger.open_account(
        owner=PLATFORM, name="fees", currency=CURRENCY, kind=AccountKind.REVENUE
    )


async def card_network(ledger: Ledger) -> Account:
    return await ledger.open_account(
        owner=PLATFORM,
        name="card-network",
        currency=CURRENCY,
        kind=AccountKind.ASSET,
    )
