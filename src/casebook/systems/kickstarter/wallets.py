"""Backers' wallets: funded by card payments through the card network, read with their holds.

A top-up charges the card at the (simulated) card network and, once approved, credits the
wallet from the platform's `card-network` clearing account in the same database transaction as
the top-up's own row. The network's charge key is the top-up id, so the network never charges
twice for one top-up; retries of the HTTP request are made safe by `Idempotency-Key`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.kickstarter import accounts
from casebook.systems.kickstarter.cardnetwork import Card, CardNetwork
from casebook.systems.kickstarter.models import TopUp

STATE_KEY = "kickstarter.card-network"
MIN_TOP_UP = 100
MAX_TOP_UP = 100_000_000


def card_network(platform: Platform) -> CardNetwork:
    """This process's card network (created by the startup hook)."""
    network: CardNetwork = platform.state[STATE_KEY]
    return network


@dataclass(frozen=True)
class WalletView:
    account_id: int
    balance: int
    """Posted cents in the wallet."""
    held: int
    """Cents reserved by open pledges."""
    available: int


async def wallet_view(session: AsyncSession, user_id: int) -> WalletView:
    account = await accounts.wallet(Ledger(session), user_id)
    return WalletView(account.id, account.posted, account.held, account.available)


async def top_up(
    session: AsyncSession, network: CardNetwork, user_id: int, card: Card, amount: int
) -> TopUp:
    """Charge `amount` cents to `card` and credit the user's wallet with it.

    Raises CardDeclined (402, with the network's decline code) or CardNetworkUnavailable (503);
    either way nothing is recorded. O(1).
    """
    top_up_id = new_id()
    charge = await network.charge(f"kickstarter:top-up:{top_up_id}", card, amount)
    ledger = Ledger(session)
    wallet = await accounts.wallet(ledger, user_id)
    clearing = await accounts.card_network(ledger)
    record = TopUp(
        id=top_up_id,
        user_id=user_id,
        amount=amount,
        card_last4=charge.card_last4,
        authorization_code=charge.authorization_code,
        transfer_id=new_id(),
        created_at=utcnow(),
    )
    await ledger.transfer(
        Transfer(
            id=record.transfer_id,
            debit_account_id=clearing.id,
            credit_account_id=wallet.id,
            amount=amount,
            code="top-up",
            reference=f"kickstarter:top-up:{top_up_id}",
        )
    )
    session.add(record)
    await session.flush()
    return record
