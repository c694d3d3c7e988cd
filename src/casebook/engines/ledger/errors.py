"""The ledger's refusals as problem+json (one class per family, one `type` per outcome)."""

from __future__ import annotations

from casebook.engines.ledger.domain import Outcome
from casebook.platform.errors import Problem

_NOT_FOUND = {
    Outcome.DEBIT_ACCOUNT_NOT_FOUND,
    Outcome.CREDIT_ACCOUNT_NOT_FOUND,
    Outcome.PENDING_TRANSFER_NOT_FOUND,
}
_CONFLICT = {
    Outcome.EXISTS_WITH_DIFFERENT_FIELDS,
    Outcome.PENDING_TRANSFER_ALREADY_POSTED,
    Outcome.PENDING_TRANSFER_ALREADY_VOIDED,
    Outcome.PENDING_TRANSFER_EXPIRED,
    Outcome.PENDING_TRANSFER_NOT_EXPIRED,
    Outcome.EXCEEDS_CREDITS,
    Outcome.EXCEEDS_DEBITS,
    Outcome.LINKED_EVENT_FAILED,
}
_TITLES = {
    Outcome.EXCEEDS_CREDITS: "Insufficient funds",
    Outcome.EXCEEDS_DEBITS: "The credit would take the account below zero",
    Outcome.EXISTS_WITH_DIFFERENT_FIELDS: "A different transfer already has this id",
    Outcome.PENDING_TRANSFER_ALREADY_POSTED: "The hold was already captured",
    Outcome.PENDING_TRANSFER_ALREADY_VOIDED: "The hold was already released",
    Outcome.PENDING_TRANSFER_EXPIRED: "The hold has expired",
}


class TransferRefused(Problem):
    """The ledger refused a transfer; `outcome` says why and `type` is `ledger/<outcome>`."""

    status = 422
    type_ = "ledger/refused"
    title = "The transfer was refused"

    def __init__(self, outcome: Outcome, detail: str = "") -> None:
        self.outcome = outcome
        self.type_ = f"ledger/{outcome.value}"
        self.title = _TITLES.get(outcome, outcome.value.replace("-", " ").capitalize())
        if outcome in _NOT_FOUND:
            self.status = 404
        elif outcome in _CONFLICT:
            self.status = 409
        super().__init__(detail or self.title, outcome=outcome.value)


class InsufficientFunds(TransferRefused):
    """The debit account (or a non-negative asset account) cannot cover the transfer."""


class AccountNotFound(Problem):
    status = 404
    type_ = "ledger/account-not-found"
    title = "No such account"


class BatchTooLarge(Problem):
    status = 413
    type_ = "ledger/batch-too-large"
    title = "Too many transfers in one batch"


def refusal(outcome: Outcome) -> TransferRefused:
    """The exception for a failed outcome."""
    if outcome in (Outcome.EXCEEDS_CREDITS, Outcome.EXCEEDS_DEBITS):
        return InsufficientFunds(outcome)
    return TransferRefused(outcome)
