"""The ledger's rules as plain Python: what a batch of transfers does to a set of accounts.

`plan_batch` is the whole decision procedure. It takes the transfers a client submitted, the
accounts they touch (read under lock by the persistence layer), the pending transfers they post or
void and the transfers that already exist with the same ids, and returns one result per transfer
plus the rows to insert and the counter increments to apply. It does no I/O, so it is tested on its
own, exhaustively; `casebook.engines.ledger.ledger` runs it inside a database transaction.

The model is TigerBeetle's (docs.tigerbeetle.com): four counters per account, single-phase
transfers, two-phase transfers (pending → post, partially or fully, or void; pending holds expire),
linked chains that succeed or fail together, and client-chosen transfer ids that make every retry
safe. Complexity: O(n) for n transfers, O(1) per transfer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

MAX_AMOUNT = 10**15
"""Largest amount of one transfer, in minor units (10 trillion dollars in cents, 10 million BTC in
satoshi): keeps every counter far inside a signed 64-bit integer."""
MAX_TIMEOUT = 366 * 24 * 3600
"""Longest hold, in seconds."""
MAX_BATCH = 8190
"""Transfers in one `create_transfers` call (TigerBeetle's batch size)."""
CURRENCY = re.compile(r"^[A-Z0-9]{1,10}$")
"""A currency or asset code: ISO 4217 ("USD"), a crypto asset ("BTC", "1INCH") or a security
symbol ("F", "AAPL"), the unit an account counts in minor units of."""


class AccountKind(StrEnum):
    """The accounting class of an account, which fixes its normal side.

    Assets and expenses grow by debits; liabilities (a user's wallet, seen from our books),
    equity and revenue grow by credits.
    """

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def credit_normal(self) -> bool:
        return self in (AccountKind.LIABILITY, AccountKind.EQUITY, AccountKind.REVENUE)


class TransferKind(StrEnum):
    SINGLE = "single"
    """Posts at once."""
    PENDING = "pending"
    """Reserves the amount (the first phase of a two-phase transfer)."""
    POST = "post"
    """Posts a pending transfer, fully or partly; the rest of the hold is released."""
    VOID = "void"
    """Releases a pending transfer."""
    EXPIRE = "expire"
    """Releases a pending transfer whose timeout has passed (written by the expiry job)."""


class PendingStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


_RESOLUTION = {
    TransferKind.POST: PendingStatus.POSTED,
    TransferKind.VOID: PendingStatus.VOIDED,
    TransferKind.EXPIRE: PendingStatus.EXPIRED,
}


class Outcome(StrEnum):
    """The result of one transfer of a batch. `OK` and `EXISTS` succeed; the rest refuse it."""

    OK = "ok"
    EXISTS = "exists"
    """A transfer with this id and the same fields was already made: a safe retry."""
    EXISTS_WITH_DIFFERENT_FIELDS = "exists-with-different-fields"
    LINKED_EVENT_FAILED = "linked-event-failed"
    LINKED_EVENT_CHAIN_OPEN = "linked-event-chain-open"
    ID_MUST_BE_POSITIVE = "id-must-be-positive"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts-must-be-different"
    DEBIT_ACCOUNT_NOT_FOUND = "debit-account-not-found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit-account-not-found"
    CURRENCIES_MUST_MATCH = "currencies-must-match"
    AMOUNT_MUST_BE_POSITIVE = "amount-must-be-positive"
    AMOUNT_TOO_LARGE = "amount-too-large"
    INVALID_TIMEOUT = "invalid-timeout"
    INVALID_TEXT = "invalid-text"
    PENDING_ID_REQUIRED = "pending-id-required"
    PENDING_ID_NOT_ALLOWED = "pending-id-not-allowed"
    PENDING_TRANSFER_NOT_FOUND = "pending-transfer-not-found"
    PENDING_TRANSFER_ALREADY_POSTED = "pending-transfer-already-posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending-transfer-already-voided"
    PENDING_TRANSFER_EXPIRED = "pending-transfer-expired"
    PENDING_TRANSFER_NOT_EXPIRED = "pending-transfer-not-expired"
    ACCOUNTS_MUST_MATCH_PENDING = "accounts-must-match-pending"
    EXCEEDS_PENDING_AMOUNT = "exceeds-pending-amount"
    EXCEEDS_CREDITS = "exceeds-credits"
    """The debit would take a non-negative account's debits above its credits: not enough funds."""
    EXCEEDS_DEBITS = "exceeds-debits"
    """The credit would take a non-negative debit-normal account below zero."""

    @property
    def succeeded(self) -> bool:
        return self in (Outcome.OK, Outcome.EXISTS)


_STATUS_OUTCOME = {
    PendingStatus.POSTED: Outcome.PENDING_TRANSFER_ALREADY_POSTED,
    PendingStatus.VOIDED: Outcome.PENDING_TRANSFER_ALREADY_VOIDED,
    PendingStatus.EXPIRED: Outcome.PENDING_TRANSFER_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as a client submits it.

    - `id`: chosen by the client, positive, unique forever: resubmitting it is a no-op that
      answers `EXISTS` (same fields) or `EXISTS_WITH_DIFFERENT_FIELDS`.
    - `debit_account_id` / `credit_account_id`: required for SINGLE and PENDING; for POST, VOID and
      EXPIRE they may be 0 (taken from the pending transfer) or must equal the pending's.
    - `amount`: minor units, 1..MAX_AMOUNT. POST: None posts the whole hold, a smaller amount posts
      part and releases the rest. VOID/EXPIRE: None or the pending amount.
    - `timeout`: PENDING only; seconds until the hold expires (0 = never).
    - `linked`: this transfer and the next one succeed or fail together; a chain ends at the first
      transfer without `linked`.
    - `code` (≤ 32 chars) and `reference` (≤ 64 chars): what the money moved for, for statements.
    """

    id: int
    debit_account_id: int = 0
    credit_account_id: int = 0
    amount: int | None = None
    kind: TransferKind = TransferKind.SINGLE
    pending_id: int = 0
    timeout: int = 0
    linked: bool = False
    code: str = ""
    reference: str = ""


@dataclass(slots=True)
class AccountState:
    """An account's counters as the batch sees them (a copy; `plan_batch` changes it in place)."""

    id: int
    currency: str
    credit_normal: bool
    allow_negative: bool
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def posted(self) -> int:
        """The posted balance on the account's normal side (a wallet's balance is its credits)."""
        net = self.credits_posted - self.debits_posted
        return net if self.credit_normal else -net

    @property
    def available(self) -> int:
        """The posted balance less outgoing holds: what the account may still spend."""
        if self.credit_normal:
            return self.credits_posted - self.debits_posted - self.debits_pending
        return self.debits_posted - self.credits_posted - self.credits_pending

    def breaks_rule(self) -> bool:
        if self.allow_negative:
            return False
        if self.credit_normal:
            return self.debits_posted + self.debits_pending > self.credits_posted
        return self.credits_posted + self.credits_pending > self.debits_posted

    def counters(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@dataclass(slots=True)
class StoredTransfer:
    """A transfer as the ledger recorded it (treat as read-only; not frozen because a frozen
    dataclass costs a `object.__setattr__` per field, which is measurable on large batches)."""

    id: int
    seq: int
    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    amount: int
    pending_id: int | None
    pending_status: PendingStatus | None
    timeout: int
    timeout_at: datetime | None
    code: str
    reference: str
    debit_balance: int
    credit_balance: int
    created_at: datetime


@dataclass(slots=True)
class AccountDelta:
    """Increments to one account's counters (applied in SQL as `x = x + delta`)."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0


@dataclass(slots=True)
class BatchPlan:
    outcomes: list[Outcome]
    inserts: list[StoredTransfer] = field(default_factory=list)
    deltas: dict[int, AccountDelta] = field(default_factory=dict)
    resolved: dict[int, PendingStatus] = field(default_factory=dict)
    """Pending transfer id → its new status."""


def _matches(t: Transfer, stored: StoredTransfer, pending_amount: int | None) -> bool:
    if t.kind != stored.kind or (t.pending_id or None) != stored.pending_id:
        return False
    if t.debit_account_id and t.debit_account_id != stored.debit_account_id:
        return False
    if t.credit_account_id and t.credit_account_id != stored.credit_account_id:
        return False
    amount = t.amount if t.amount is not None else pending_amount
    if amount is not None and amount != stored.amount:
        return False
    return (t.timeout, t.code, t.reference) == (stored.timeout, stored.code, stored.reference)


def _shape_error(t: Transfer) -> Outcome | None:
    """Errors visible from the transfer alone."""
    if t.id <= 0:
        return Outcome.ID_MUST_BE_POSITIVE
    if len(t.code) > 32 or len(t.reference) > 64:
        return Outcome.INVALID_TEXT
    if t.amount is not None and t.amount > MAX_AMOUNT:
        return Outcome.AMOUNT_TOO_LARGE
    if t.kind in (TransferKind.SINGLE, TransferKind.PENDING):
        if t.pending_id:
            return Outcome.PENDING_ID_NOT_ALLOWED
        if t.amount is None or t.amount <= 0:
            return Outcome.AMOUNT_MUST_BE_POSITIVE
        if t.debit_account_id == t.credit_account_id:
            return Outcome.ACCOUNTS_MUST_BE_DIFFERENT
        if t.kind is TransferKind.SINGLE and t.timeout:
            return Outcome.INVALID_TIMEOUT
    else:
        if not t.pending_id:
            return Outcome.PENDING_ID_REQUIRED
        if t.amount is not None and t.amount <= 0:
            return Outcome.AMOUNT_MUST_BE_POSITIVE
        if t.timeout:
            return Outcome.INVALID_TIMEOUT
    if not 0 <= t.timeout <= MAX_TIMEOUT:
        return Outcome.INVALID_TIMEOUT
    return None


class _Chain:
    """An undo log for the transfers of one linked chain, so a failure can roll them back."""

    def __init__(self) -> None:
        self.accounts: dict[int, tuple[int, int, int, int]] = {}
        self.pendings: dict[int, PendingStatus | None] = {}
        self.inserts = 0
        self.ids: list[int] = []


def chains(transfers: Sequence[Transfer]) -> Iterator[tuple[int, int, bool]]:
    """(start, end, closed) index ranges of the linked chains; a lone transfer is a chain of one."""
    start = 0
    for i, t in enumerate(transfers):
        if not t.linked:
            yield start, i + 1, True
            start = i + 1
    if start < len(transfers):
        yield start, len(transfers), False


def plan_batch(
    transfers: Sequence[Transfer],
    accounts: dict[int, AccountState],
    pendings: dict[int, StoredTransfer],
    existing: dict[int, StoredTransfer],
    *,
    now: datetime,
    seqs: Iterator[int],
) -> BatchPlan:
    """Decide every transfer of a batch, in order, against `accounts` (changed in place).

    `pendings` holds the pending transfers the batch posts or voids; `existing` the stored
    transfers with the batch's ids. Both gain the batch's own new transfers as it goes, so a batch
    may create a hold and post it, and a repeated id inside one batch is a retry like any other.
    `seqs` yields increasing sequence numbers for accepted transfers.
    """
    plan = BatchPlan(outcomes=[Outcome.OK] * len(transfers))
    initial = {account_id: account.counters() for account_id, account in accounts.items()}
    pending_status: dict[int, PendingStatus | None] = {}
    for start, end, closed in chains(transfers):
        if not closed:
            for i in range(start, end):
                plan.outcomes[i] = Outcome.LINKED_EVENT_CHAIN_OPEN
            continue
        chain = _Chain()
        for i in range(start, end):
            outcome = _apply(
                transfers[i], accounts, pendings, existing, pending_status, plan, chain, now, seqs
            )
            plan.outcomes[i] = outcome
            if not outcome.succeeded:
                _undo(chain, accounts, pendings, existing, pending_status, plan)
                for j in range(start, end):
                    if j != i:
                        plan.outcomes[j] = Outcome.LINKED_EVENT_FAILED
                break
    plan.resolved = {pid: status for pid, status in pending_status.items() if status is not None}
    for account_id, before in initial.items():
        after = accounts[account_id].counters()
        if after != before:
            plan.deltas[account_id] = AccountDelta(
                after[0] - before[0],
                after[1] - before[1],
                after[2] - before[2],
                after[3] - before[3],
            )
    return plan


def _status(
    pending: StoredTransfer, overrides: dict[int, PendingStatus | None]
) -> PendingStatus | None:
    return overrides.get(pending.id, pending.pending_status)


def _apply(
    t: Transfer,
    accounts: dict[int, AccountState],
    pendings: dict[int, StoredTransfer],
    existing: dict[int, StoredTransfer],
    pending_status: dict[int, PendingStatus | None],
    plan: BatchPlan,
    chain: _Chain,
    now: datetime,
    seqs: Iterator[int],
) -> Outcome:
    shape = _shape_error(t)
    if shape is not None:
        return shape
    pending = pendings.get(t.pending_id) if t.pending_id else None
    stored = existing.get(t.id)
    if stored is not None:
        pending_amount = pending.amount if pending is not None else None
        return (
            Outcome.EXISTS
            if _matches(t, stored, pending_amount)
            else Outcome.EXISTS_WITH_DIFFERENT_FIELDS
        )

    if t.kind in (TransferKind.SINGLE, TransferKind.PENDING):
        debit_id, credit_id = t.debit_account_id, t.credit_account_id
        assert t.amount is not None  # checked by _shape_error
        amount, release = t.amount, 0
    else:
        if pending is None or pending.kind is not TransferKind.PENDING:
            return Outcome.PENDING_TRANSFER_NOT_FOUND
        status = _status(pending, pending_status)
        if status is not PendingStatus.PENDING:
            return (
                _STATUS_OUTCOME[status]
                if status is not None
                else Outcome.PENDING_TRANSFER_NOT_FOUND
            )
        expired = pending.timeout_at is not None and pending.timeout_at <= now
        if t.kind is TransferKind.EXPIRE and not expired:
            return Outcome.PENDING_TRANSFER_NOT_EXPIRED
        if t.kind is not TransferKind.EXPIRE and expired:
            return Outcome.PENDING_TRANSFER_EXPIRED
        if (t.debit_account_id and t.debit_account_id != pending.debit_account_id) or (
            t.credit_account_id and t.credit_account_id != pending.credit_account_id
        ):
            return Outcome.ACCOUNTS_MUST_MATCH_PENDING
        debit_id, credit_id = pending.debit_account_id, pending.credit_account_id
        release = pending.amount
        if t.kind is TransferKind.POST:
            amount = pending.amount if t.amount is None else t.amount
            if amount > pending.amount:
                return Outcome.EXCEEDS_PENDING_AMOUNT
        else:
            if t.amount is not None and t.amount != pending.amount:
                return Outcome.EXCEEDS_PENDING_AMOUNT
            amount = pending.amount

    debit = accounts.get(debit_id)
    if debit is None:
        return Outcome.DEBIT_ACCOUNT_NOT_FOUND
    credit = accounts.get(credit_id)
    if credit is None:
        return Outcome.CREDIT_ACCOUNT_NOT_FOUND
    if debit.currency != credit.currency:
        return Outcome.CURRENCIES_MUST_MATCH

    # A debit only ever changes the debit account's debit counters, a credit the credit
    # account's credit counters: two (pending, posted) increments describe the whole transfer.
    if t.kind is TransferKind.SINGLE:
        pending_delta, posted_delta = 0, amount
    elif t.kind is TransferKind.PENDING:
        pending_delta, posted_delta = amount, 0
    elif t.kind is TransferKind.POST:
        pending_delta, posted_delta = -release, amount
    else:
        pending_delta, posted_delta = -release, 0

    if debit_id not in chain.accounts:
        chain.accounts[debit_id] = debit.counters()
    if credit_id not in chain.accounts:
        chain.accounts[credit_id] = credit.counters()
    debit.debits_pending += pending_delta
    debit.debits_posted += posted_delta
    credit.credits_pending += pending_delta
    credit.credits_posted += posted_delta
    if debit.breaks_rule() or credit.breaks_rule():
        outcome = Outcome.EXCEEDS_CREDITS if debit.breaks_rule() else Outcome.EXCEEDS_DEBITS
        debit.debits_pending -= pending_delta
        debit.debits_posted -= posted_delta
        credit.credits_pending -= pending_delta
        credit.credits_posted -= posted_delta
        return outcome

    row = StoredTransfer(
        id=t.id,
        seq=next(seqs),
        kind=t.kind,
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount=amount,
        pending_id=t.pending_id or None,
        pending_status=PendingStatus.PENDING if t.kind is TransferKind.PENDING else None,
        timeout=t.timeout,
        timeout_at=now + timedelta(seconds=t.timeout) if t.timeout else None,
        code=t.code,
        reference=t.reference,
        debit_balance=debit.posted,
        credit_balance=credit.posted,
        created_at=now,
    )
    plan.inserts.append(row)
    chain.inserts += 1
    chain.ids.append(t.id)
    existing[t.id] = row
    if t.kind is TransferKind.PENDING:
        pendings[t.id] = row
    elif pending is not None:
        chain.pendings.setdefault(pending.id, pending_status.get(pending.id))
        pending_status[pending.id] = _RESOLUTION[t.kind]
    return Outcome.OK


def _undo(
    chain: _Chain,
    accounts: dict[int, AccountState],
    pendings: dict[int, StoredTransfer],
    existing: dict[int, StoredTransfer],
    pending_status: dict[int, PendingStatus | None],
    plan: BatchPlan,
) -> None:
    """Roll back the chain's accepted transfers: counters, rows and pending statuses."""
    for account_id, counters in chain.accounts.items():
        account = accounts[account_id]
        (
            account.debits_pending,
            account.debits_posted,
            account.credits_pending,
            account.credits_posted,
        ) = counters
    for pending_id, status in chain.pendings.items():
        if status is None:
            pending_status.pop(pending_id, None)
        else:
            pending_status[pending_id] = status
    if chain.inserts:
        del plan.inserts[-chain.inserts :]
    for transfer_id in chain.ids:
        existing.pop(transfer_id, None)
        pendings.pop(transfer_id, None)
