"""CashApp's accounts in the ledger.

Every user's balance is one LIABILITY account (money CashApp owes the user; the ledger keeps it
non-negative). The outside world is three house accounts:

- `bank-clearing` (ASSET, may go negative): money arriving from and leaving to linked banks;
- `card-settlement` (ASSET, may go negative): what CashApp owes the card network for captured
  card purchases, and where card holds point while pending;
- `boost-funding` (EXPENSE): CashApp's share of Cash Boost discounts, paid to the merchant so the
  merchant still receives the full purchase price while the user pays less.

Opening an account is idempotent (the ledger's get-or-create), so these are looked up by name.
"""

from __future__ import annotations

from casebook.engines.ledger import Account, AccountKind, Ledger

CURRENCY = "USD"
HOUSE = "cashapp"


def wallet_owner(user_id: int) -> str:
    return f"cashapp:user:{user_id}"


async def open_wallet(ledger: Ledger, user_id: int) -> Account:
    """The user's wallet, created on first use. O(log n)."""
    return await ledger.open_account(
        owner=wallet_owner(user_id), name="wallet", currency=CURRENCY, kind=AccountKind.LIABILITY
    )


async def bank_clearing(ledger: Ledger) -> Account:
    return await ledger.open_account(
        owner=HOUSE,
        name="bank-clearing",
        currency=CURRENCY,
        kind=AccountKind.ASSET,
        allow_negative=True,
    )


async def card_settlement(ledger: Ledger) -> Account:
    return await ledger.open_account(
        owner=HOUSE,
        name="card-settlement",
        currency=CURRENCY,
        kind=AccountKind.ASSET,
        allow_negative=True,
    )


async def boost_funding(ledger: Ledger) -> Account:
    return await ledger.open_account(
        owner=HOUSE, name="boost-funding", currency=CURRENCY, kind=AccountKind.EXPENSE
    )
