"""Alipay's ledger accounts: who owns which account, and how it is named.

- a user's wallet: `alipay:user:<id>` / `wallet`, LIABILITY (we owe the user its balance; it can
  never go negative);
- a user's money-market holding: `alipay:user:<id>` / `fund`, LIABILITY (units at a fixed net
  asset value of 1 yuan, so one unit is one yuan and holdings are counted in fen);
- a merchant's takings: `alipay:merchant:<id>` / `settlement`, LIABILITY;
- `alipay` / `bank-settlement`, ASSET: our money at the bank, debited by top-ups and credited by
  withdrawals (allowed negative: it is an external clearing account);
- `alipay` / `fund-portfolio`, ASSET: the fund's investments, whose income pays the daily yield.
"""

from __future__ import annotations

from casebook.engines.ledger import Account, AccountKind, Ledger
from casebook.systems.alipay.config import CURRENCY

SYSTEM_OWNER = "alipay"
BANK_SETTLEMENT = "bank-settlement"
FUND_PORTFOLIO = "fund-portfolio"
WALLET = "wallet"
FUND = "fund"
MERCHANT_SETTLEMENT = "settlement"


def user_owner(user_id: int) -> str:
    return f"alipay:user:{user_id}"


def merchant_owner(merchant_id: int) -> str:
    return f"alipay:merchant:{merchant_id}"


async def wallet(ledger: Ledger, user_id: int) -> Account:
    """The user's wallet, opened on first use."""
    return await ledger.open_account(
        owner=user_owner(user_id), name=WALLET, currency=CURRENCY, kind=AccountKind.LIABILITY
    )


async def fund_holding(ledger: Ledger, user_id: int) -> Account:
    return await ledger.open_account(
        owner=user_owner(user_id), name=FUND, currency=CURRENCY, kind=AccountKind.LIABILITY
    )


async def merchant_account(ledger: Ledger, merchant_id: int) -> Account:
    return await ledger.open_account(
        owner=merchant_owner(merchant_id),
        name=MERCHANT_SETTLEMENT,
        currency=CURRENCY,
        kind=AccountKind.LIABILITY,
    )


async def bank_settlement(ledger: Ledger) -> Account:
    return await ledger.open_account(
        owner=SYSTEM_OWNER,
        name=BANK_SETTLEMENT,
        currency=CURRENCY,
        kind=AccountKind.ASSET,
        allow_negative=True,
    )


async def fund_portfolio(ledger: Ledger) -> Account:
    return await ledger.open_account(
        owner=SYSTEM_OWNER,
        name=FUND_PORTFOLIO,
        currency=CURRENCY,
        kind=AccountKind.ASSET,
        allow_negative=True,
    )


async def existing(ledger: Ledger, owner: str, name: str) -> Account | None:
    """The account if it was ever opened; reads only (for GET endpoints)."""
    for account in await ledger.accounts_of(owner):
        if account.name == name and account.currency == CURRENCY:
            return account
    return None
