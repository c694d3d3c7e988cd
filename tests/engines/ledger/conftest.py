from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from casebook.engines.ledger import Account, AccountKind, Ledger
from casebook.platform.db import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def open_wallets(db: Database, *owners: str, currency: str = "USD") -> list[Account]:
    async with db.session(write=True) as session:
        ledger = Ledger(session)
        return [
            await ledger.open_account(
                owner=owner, name="wallet", currency=currency, kind=AccountKind.LIABILITY
            )
            for owner in owners
        ]


async def open_mint(db: Database, currency: str = "USD") -> Account:
    """A source of money: an equity account that may go negative (the bank's side of top-ups)."""
    async with db.session(write=True) as session:
        return await Ledger(session).open_account(
            owner="test:bank",
            name="funding",
            currency=currency,
            kind=AccountKind.EQUITY,
            allow_negative=True,
        )
