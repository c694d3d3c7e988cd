"""The ledger engine: double-entry accounts, single- and two-phase transfers, linked batches,
idempotent transfer ids, statements and verification. See docs/engines/ledger.md.

    ledger = Ledger(session)
    wallet = await ledger.open_account(owner="cashapp:user:7", name="wallet", currency="USD",
                                       kind=AccountKind.LIABILITY)
    await ledger.transfer(Transfer(id=new_id(), debit_account_id=a.id, credit_account_id=b.id,
                                   amount=500))
"""

from casebook.engines.ledger.domain import (
    MAX_AMOUNT,
    MAX_BATCH,
    AccountKind,
    Outcome,
    PendingStatus,
    StoredTransfer,
    Transfer,
    TransferKind,
)
from casebook.engines.ledger.errors import (
    AccountNotFound,
    BatchTooLarge,
    InsufficientFunds,
    TransferRefused,
)
from casebook.engines.ledger.ledger import Account, Ledger

__all__ = [
    "MAX_AMOUNT",
    "MAX_BATCH",
    "Account",
    "AccountKind",
    "AccountNotFound",
    "BatchTooLarge",
    "InsufficientFunds",
    "Ledger",
    "Outcome",
    "PendingStatus",
    "StoredTransfer",
    "Transfer",
    "TransferKind",
    "TransferRefused",
]
