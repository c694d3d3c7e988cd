"""CashApp as a card issuer: answer the card network's authorization, capture and reversal messages.

Authorization (one write transaction, O(log n)):

1. find the card by the keyed hash of the presented number; check expiry, CVV, frozen, currency;
2. compute the boost discount on the purchase amount (the card's one boost, if it is for this
   merchant);
3. record the authorization, keyed by the network's reference (INSERT … ON CONFLICT DO NOTHING: a
   retried message finds the first decision instead of holding money twice);
4. hold the money with pending ledger transfers, linked so they stand or fall together: the
   wallet for `amount - discount`, `boost-funding` for `discount`, both towards `card-settlement`,
   with a timeout after which the ledger's expiry job releases them. The ledger refuses the hold
   when the wallet's available balance is short, and the authorization is declined "51".

Capture posts the holds (a smaller amount posts part and releases the rest; the discount is
recomputed on the captured amount), reversal voids them. The ledger is the arbiter of each hold:
its pending transfer can be posted, voided or expired exactly once, so racing captures and
reversals, and expiry, cannot move money twice; the row follows what the ledger decided.

Business outcomes are `IssuerDecision`s with ISO 8583 response codes, never exceptions: the network
relays them to the merchant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Outcome, PendingStatus, Transfer, TransferKind
from casebook.engines.ledger.errors import refusal
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id
from casebook.systems.cashapp.accounts import CURRENCY, boost_funding, card_settlement
from casebook.systems.cashapp.boosts import BOOSTS
from casebook.systems.cashapp.card_numbers import cvv, pan_token
from casebook.systems.cashapp.models import Authorization, Card, Profile
from casebook.systems.cashapp.wallet import CARD_PURCHASE

DEFAULT_HOLD_SECONDS = 7 * 24 * 3600
"""How long an uncaptured authorization holds money (card schemes allow about a week)."""

APPROVED = "00"
DO_NOT_HONOR = "05"
INVALID_CARD = "14"
INSUFFICIENT_FUNDS = "51"
EXPIRED_CARD = "54"
RESTRICTED_CARD = "62"
CVV_MISMATCH = "N7"
CLOSED = "12"
"""Invalid transaction: capture or reversal of an authorization that is no longer open."""
NOT_FOUND = "25"
"""Unable to locate the original transaction."""

AUTHORIZATIONS = cast(Table, Authorization.__table__)


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the network forwards of a merchant's authorization request."""

    network_ref: str
    pan: str
    exp_month: int
    exp_year: int
    cvv: str | None
    merchant_id: str
    merchant_name: str
    amount: int
    currency: str = CURRENCY


@dataclass(frozen=True)
class IssuerDecision:
    """The issuer's answer: `code` "00" approves; `amount` is what the merchant is owed for
    (the full price), `discount` the boost's share of it, `reason` a readable code."""

    code: str
    reason: str
    amount: int = 0
    discount: int = 0

    @property
    def approved(self) -> bool:
        return self.code == APPROVED


def _decline(code: str, reason: str) -> IssuerDecision:
    return IssuerDecision(code, reason)


def _expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (now.year, now.month) > (exp_year, exp_month)


def _decision(auth: Authorization) -> IssuerDecision:
    if auth.status == "declined":
        code = auth.decline_reason or "do_not_honor"
        return IssuerDecision(_REASON_CODES.get(code, DO_NOT_HONOR), code)
    if auth.status == "captured":
        return IssuerDecision(
            APPROVED, "captured", auth.captured_amount or 0, auth.captured_discount or 0
        )
    return IssuerDecision(APPROVED, auth.status, auth.amount, auth.discount)


_REASON_CODES = {
    "insufficient_funds": INSUFFICIENT_FUNDS,
    "expired_card": EXPIRED_CARD,
    "card_frozen": RESTRICTED_CARD,
    "cvv_mismatch": CVV_MISMATCH,
    "expiry_mismatch": DO_NOT_HONOR,
    "currency_not_supported": DO_NOT_HONOR,
}


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(AUTHORIZATIONS)


async def authorize(
    session: AsyncSession,
    key: bytes,
    message: AuthorizationRequest,
    *,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
) -> IssuerDecision:
    """Decide an authorization and hold the money if approved (see the module docstring)."""
    card = await session.scalar(select(Card).where(Card.pan_token == pan_token(key, message.pan)))
    if card is None:
        return _decline(INVALID_CARD, "invalid_card")
    now = utcnow()
    reason: str | None = None
    if (message.exp_month, message.exp_year) != (card.exp_month, card.exp_year):
        reason = "expiry_mismatch"
    elif _expired(card.exp_month, card.exp_year, now):
        reason = "expired_card"
    elif message.cvv is not None and message.cvv != cvv(
        key, message.pan, card.exp_month, card.exp_year
    ):
        reason = "cvv_mismatch"
    elif card.status != "active":
        reason = "card_frozen"
    elif message.currency != CURRENCY:
        reason = "currency_not_supported"
    boost = BOOSTS.get(card.boost_id or "")
    discount = (
        boost.discount(message.amount) if boost and boost.merchant_id == message.merchant_id else 0
    )
    auth_id = new_id()
    inserted = await session.scalar(
        _insert(session)
        .values(
            id=auth_id,
            network_ref=message.network_ref,
            card_id=card.id,
            user_id=card.user_id,
            merchant_id=message.merchant_id,
            merchant_name=message.merchant_name,
            amount=message.amount,
            currency=message.currency,
            boost_id=boost.id if boost and discount else None,
            discount=discount,
            status="declined" if reason else "pending",
            decline_reason=reason,
            hold_transfer_id=new_id(),
            boost_hold_transfer_id=new_id(),
            settle_transfer_id=new_id(),
            boost_settle_transfer_id=new_id(),
            release_transfer_id=new_id(),
            boost_release_transfer_id=new_id(),
            created_at=now,
            resolved_at=now if reason else None,
        )
        .on_conflict_do_nothing(index_elements=["network_ref"])
        .returning(AUTHORIZATIONS.c.id)
    )
    auth = await session.scalar(
        select(Authorization)
        .where(Authorization.network_ref == message.network_ref)
        .execution_options(populate_existing=True)
    )
    assert auth is not None
    if inserted is None or reason is not None:
        return _decision(auth)

    wallet_id = await session.scalar(
        select(Profile.wallet_account_id).where(Profile.user_id == card.user_id)
    )
    assert wallet_id is not None
    ledger = Ledger(session)
    settlement = await card_settlement(ledger)
    reference = f"cashapp:auth:{auth.id}"
    holds = [
        Transfer(
            id=auth.hold_transfer_id,
            debit_account_id=wallet_id,
            credit_account_id=settlement.id,
            amount=message.amount - discount,
            kind=TransferKind.PENDING,
            timeout=hold_seconds,
            linked=discount > 0,
            code=CARD_PURCHASE,
            reference=reference,
        )
    ]
    if discount:
        funding = await boost_funding(ledger)
        holds.append(
            Transfer(
                id=auth.boost_hold_transfer_id,
                debit_account_id=funding.id,
                credit_account_id=settlement.id,
                amount=discount,
                kind=TransferKind.PENDING,
                timeout=hold_seconds,
                code="boost",
                reference=reference,
            )
        )
    outcomes = await ledger.create_transfers(holds)
    if Outcome.EXCEEDS_CREDITS in outcomes:
        auth.status = "declined"
        auth.decline_reason = "insufficient_funds"
        auth.resolved_at = now
        await session.flush()
    else:
        for outcome in outcomes:
            if not outcome.succeeded:
                raise refusal(outcome)
    return _decision(auth)


async def _find(session: AsyncSession, network_ref: str) -> Authorization | None:
    return await session.scalar(
        select(Authorization)
        .where(Authorization.network_ref == network_ref)
        .execution_options(populate_existing=True)
    )


async def _close(session: AsyncSession, auth: Authorization, status: str, **values: Any) -> None:
    """Record what the ledger decided; conditional, so a racing resolution is not overwritten."""
    await session.execute(
        update(Authorization)
        .where(Authorization.id == auth.id, Authorization.status == "pending")
        .values(status=status, resolved_at=utcnow(), **values)
    )
    await session.refresh(auth)


_CLOSED_BY = {
    Outcome.PENDING_TRANSFER_EXPIRED: "expired",
    Outcome.PENDING_TRANSFER_ALREADY_POSTED: "captured",
    Outcome.PENDING_TRANSFER_ALREADY_VOIDED: "reversed",
}


async def _resolve(
    session: AsyncSession,
    auth: Authorization,
    transfers: list[Transfer],
    status: str,
    **values: Any,
) -> IssuerDecision:
    outcomes = await Ledger(session).create_transfers(transfers)
    if all(o.succeeded for o in outcomes):
        await _close(session, auth, status, **values)
        return _decision(auth)
    failed = next(o for o in outcomes if not o.succeeded and o is not Outcome.LINKED_EVENT_FAILED)
    if failed is Outcome.PENDING_TRANSFER_EXPIRED:
        await _close(session, auth, "expired")
    if failed in _CLOSED_BY or failed is Outcome.EXISTS_WITH_DIFFERENT_FIELDS:
        return _decline(CLOSED, f"authorization_{auth.status}")
    raise refusal(failed)


async def capture(
    session: AsyncSession, network_ref: str, amount: int | None = None
) -> IssuerDecision:
    """Settle the authorization for `amount` (None: in full; less posts part, releases the rest).

    Declines "25" for an unknown reference, "12" for one already closed (a retry of the same
    capture answers its first result), "13" above the authorized amount.
    """
    auth = await _find(session, network_ref)
    if auth is None:
        return _decline(NOT_FOUND, "authorization_not_found")
    amount = auth.amount if amount is None else amount
    if auth.status == "captured" and auth.captured_amount == amount:
        return _decision(auth)
    if auth.status != "pending":
        return _decline(CLOSED, f"authorization_{auth.status}")
    if not 0 < amount <= auth.amount:
        return _decline("13", "capture_exceeds_authorization")
    boost = BOOSTS.get(auth.boost_id or "")
    discount = boost.discount(amount) if boost else 0
    transfers = [
        Transfer(
            id=auth.settle_transfer_id,
            kind=TransferKind.POST,
            pending_id=auth.hold_transfer_id,
            amount=amount - discount,
            linked=auth.discount > 0,
            code=CARD_PURCHASE,
            reference=f"cashapp:auth:{auth.id}",
        )
    ]
    if auth.discount:
        transfers.append(
            Transfer(
                id=auth.boost_settle_transfer_id,
                kind=TransferKind.POST if discount else TransferKind.VOID,
                pending_id=auth.boost_hold_transfer_id,
                amount=discount or None,
                code="boost",
                reference=f"cashapp:auth:{auth.id}",
            )
        )
    return await _resolve(
        session, auth, transfers, "captured", captured_amount=amount, captured_discount=discount
    )


async def reverse(session: AsyncSession, network_ref: str) -> IssuerDecision:
    """Release the authorization's holds in full (the merchant will not capture it)."""
    auth = await _find(session, network_ref)
    if auth is None:
        return _decline(NOT_FOUND, "authorization_not_found")
    if auth.status == "reversed":
        return _decision(auth)
    if auth.status != "pending":
        return _decline(CLOSED, f"authorization_{auth.status}")
    reference = f"cashapp:auth:{auth.id}"
    transfers = [
        Transfer(
            id=auth.release_transfer_id,
            kind=TransferKind.VOID,
            pending_id=auth.hold_transfer_id,
            linked=auth.discount > 0,
            code=CARD_PURCHASE,
            reference=reference,
        )
    ]
    if auth.discount:
        transfers.append(
            Transfer(
                id=auth.boost_release_transfer_id,
                kind=TransferKind.VOID,
                pending_id=auth.boost_hold_transfer_id,
                code="boost",
                reference=reference,
            )
        )
    return await _resolve(session, auth, transfers, "reversed")


async def current_statuses(session: AsyncSession, auths: list[Authorization]) -> dict[int, str]:
    """Each authorization's status as the ledger sees it now: a `pending` one whose hold expired
    (released by the expiry job, or past its timeout) reads `expired`. One query."""
    pending = {a.hold_transfer_id: a for a in auths if a.status == "pending"}
    holds = await Ledger(session).transfers(pending)
    now = datetime.now(UTC)
    statuses = {a.id: a.status for a in auths}
    for transfer_id, hold in holds.items():
        gone = hold.pending_status is PendingStatus.EXPIRED or (
            hold.pending_status is PendingStatus.PENDING
            and hold.timeout_at is not None
            and hold.timeout_at <= now
        )
        if gone:
            statuses[pending[transfer_id].id] = "expired"
    return statuses


class CashAppIssuer:
    """The issuer as the card network reaches it: each message in a write transaction of its own.

    `hold_seconds` is how long an authorization holds money; `key` the card key (card_numbers).
    """

    def __init__(self, db: Database, key: bytes, hold_seconds: int = DEFAULT_HOLD_SECONDS) -> None:
        self.db = db
        self.key = key
        self.hold_seconds = hold_seconds

    async def authorize(self, message: AuthorizationRequest) -> IssuerDecision:
        async with self.db.session(write=True) as session:
            return await authorize(session, self.key, message, hold_seconds=self.hold_seconds)

    async def capture(self, network_ref: str, amount: int | None) -> IssuerDecision:
        async with self.db.session(write=True) as session:
            return await capture(session, network_ref, amount)

    async def reverse(self, network_ref: str) -> IssuerDecision:
        async with self.db.session(write=True) as session:
            return await reverse(session, network_ref)
