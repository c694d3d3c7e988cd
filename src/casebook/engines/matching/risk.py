"""Pre-trade risk: the ledger accounts of a venue and the hold an order takes when it is accepted.

An order reserves what it could spend before it reaches the book: a buy holds limit * qty * npl
plus the largest fee (quote asset), a sell holds qty * lot_size (base asset). The hold is a PENDING
ledger transfer from the account's wallet to the venue's clearing account of that asset, made in
the placement transaction together with the order row, so an order either exists with its hold or
not at all; the ledger refuses a hold the wallet cannot cover (InsufficientFunds, 409), and since
its non-negative rule is enforced under the account's lock, concurrent orders can never reserve
more than the wallet holds.

Ledger accounts of a venue (owner, name, kind):
- `f"{venue}:account:{id}"`, "wallet", LIABILITY (non-negative): one per asset a trading
  account uses, opened on first use;
- `venue`, "clearing", LIABILITY (non-negative): where holds wait and fills pass through;
- `venue`, "fees", REVENUE: the venue's fee income;
- `venue`, "external", EQUITY (may go negative): the world outside (deposits, withdrawals).
"""

from __future__ import annotations

from collections.abc import Iterable

from casebook.engines.ledger import AccountKind, Ledger, Transfer, TransferKind
from casebook.engines.matching.settlement import (
    CLEARING,
    EXTERNAL,
    FEES,
    WALLET,
    LedgerAccounts,
    Market,
)
from casebook.engines.matching.types import Side

_VENUE_ACCOUNTS = {
    CLEARING: (AccountKind.LIABILITY, False),
    FEES: (AccountKind.REVENUE, False),
    EXTERNAL: (AccountKind.EQUITY, True),
}


def wallet_owner(venue: str, account_id: int) -> str:
    return f"{venue}:account:{account_id}"


class LedgerDirectory:
    """The ledger account ids of one venue, opened on first use and remembered per process.

    An id is remembered only once it was found already committed (an account opened inside a
    transaction that then rolls back must not be remembered); O(1) after the first lookup."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self._known: dict[tuple[str, str, str], int] = {}

    async def _account(
        self, ledger: Ledger, owner: str, name: str, asset: str, kind: AccountKind, negative: bool
    ) -> int:
        key = (owner, name, asset)
        known = self._known.get(key)
        if known is not None:
            return known
        found = await ledger.find_account(owner=owner, name=name, currency=asset)
        if found is not None:
            self._known[key] = found.id
            return found.id
        opened = await ledger.open_account(
            owner=owner, name=name, currency=asset, kind=kind, allow_negative=negative
        )
        return opened.id

    def knows_venue_account(self, name: str, asset: str) -> bool:
        """Whether the venue's own account `name` in `asset` is known committed here."""
        return (self.venue, name, asset) in self._known

    async def find_wallet(self, ledger: Ledger, account_id: int, asset: str) -> int | None:
        """The ledger wallet of venue account `account_id` in `asset`, None if never opened (it
        holds nothing then). Opens nothing; O(1) once known."""
        key = (wallet_owner(self.venue, account_id), WALLET, asset)
        known = self._known.get(key)
        if known is not None:
            return known
        found = await ledger.find_account(owner=key[0], name=WALLET, currency=asset)
        if found is None:
            return None
        self._known[key] = found.id
        return found.id

    async def wallet(self, ledger: Ledger, account_id: int, asset: str) -> int:
        """The ledger wallet of venue account `account_id` in `asset`."""
        return await self._account(
            ledger,
            wallet_owner(self.venue, account_id),
            WALLET,
            asset,
            AccountKind.LIABILITY,
            False,
        )

    async def venue_account(self, ledger: Ledger, name: str, asset: str) -> int:
        """The venue's own account `name` (clearing, fees, external) in `asset`."""
        kind, negative = _VENUE_ACCOUNTS[name]
        return await self._account(ledger, self.venue, name, asset, kind, negative)

    async def for_settlement(
        self, ledger: Ledger, market: Market, account_ids: Iterable[int]
    ) -> LedgerAccounts:
        """Every account a batch of `market`'s fills may touch. O(accounts) lookups, each O(1)
        once known."""
        assets = (market.quote_asset, market.base_asset)
        wallets = {
            (account_id, asset): await self.wallet(ledger, account_id, asset)
            for account_id in sorted(set(account_ids))
            for asset in assets
        }
        clearing = {asset: await self.venue_account(ledger, CLEARING, asset) for asset in assets}
        fees = {market.quote_asset: await self.venue_account(ledger, FEES, market.quote_asset)}
        return LedgerAccounts(wallets=wallets, clearing=clearing, fees=fees)


async def place_hold(
    ledger: Ledger,
    directory: LedgerDirectory,
    market: Market,
    *,
    order_id: int,
    account_id: int,
    side: Side,
    price: int,
    qty: int,
    hold_id: int,
) -> int:
    """Reserve what a new order could spend; returns the amount held.

    Raises InsufficientFunds (409 ledger/exceeds-credits) when the wallet cannot cover it; the
    caller's transaction then rolls back with nothing written. O(1) statements."""
    transfer = await hold_transfer(
        ledger,
        directory,
        market,
        order_id=order_id,
        account_id=account_id,
        side=side,
        price=price,
        qty=qty,
        hold_id=hold_id,
    )
    await ledger.transfer(transfer)
    assert transfer.amount is not None  # a hold always states its amount
    return transfer.amount


async def hold_transfer(
    ledger: Ledger,
    directory: LedgerDirectory,
    market: Market,
    *,
    order_id: int,
    account_id: int,
    side: Side,
    price: int,
    qty: int,
    hold_id: int,
) -> Transfer:
    """The pending transfer that reserves what a new order could spend, for a batch of holds
    (`Ledger.create_transfers`); `place_hold` makes one alone. Opens the wallet's ledger
    account on first use; O(1) once the directory knows it."""
    asset = market.hold_asset(side)
    return Transfer(
        id=hold_id,
        debit_account_id=await directory.wallet(ledger, account_id, asset),
        credit_account_id=await directory.venue_account(ledger, CLEARING, asset),
        amount=market.hold_amount(side, price, qty),
        kind=TransferKind.PENDING,
        code="order-hold",
        reference=f"{market.venue}:order:{order_id}"[:64],
    )
