"""The venue's refusals as problem+json (types under `/problems/matching/…`)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, InvalidInput, NotFound, Problem


class InstrumentNotFound(NotFound):
    type_ = "matching/instrument-not-found"
    title = "No such instrument"


class OrderNotFound(NotFound):
    type_ = "matching/order-not-found"
    title = "No such order"


class AccountNotFound(NotFound):
    type_ = "matching/account-not-found"
    title = "No such account"


class InvalidOrder(InvalidInput):
    type_ = "matching/invalid-order"
    title = "The order is not valid"


class InvalidListing(InvalidInput):
    type_ = "matching/invalid-listing"
    title = "The listing is not valid"


class InstrumentHalted(Conflict):
    type_ = "matching/instrument-halted"
    title = "The instrument is not trading"


class DuplicateClientOrderId(Conflict):
    type_ = "matching/duplicate-client-order-id"
    title = "An order with this client_order_id exists"


class OrderNotOpen(Conflict):
    type_ = "matching/order-not-open"
    title = "The order is no longer open"


class NoReferencePrice(InvalidInput):
    type_ = "matching/no-reference-price"
    title = "A market buy needs a reference price"


class VenueClosed(Problem):
    status = 503
    type_ = "matching/venue-closed"
    title = "The venue is not accepting commands; retry shortly"


class SettlementFailed(RuntimeError):
    """The ledger refused a settlement transfer: a bug (holds always cover fills). The writer's
    transaction rolls back and its batch is retried one command at a time."""
