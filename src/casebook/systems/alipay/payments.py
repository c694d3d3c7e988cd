"""Merchants and payments to them: the seed's initiate → verify flow, and scan-to-pay QR codes.

Initiate reserves the amount on the payer's wallet with a ledger hold (a pending transfer that
expires after `payment_hold_seconds`); verify posts the hold, cancel voids it. Each payment row
carries the ids of its ledger transfers from birth, so verifying twice (or racing two verifies)
posts once: the row is locked (`FOR UPDATE` on PostgreSQL, the write lock on SQLite) and its
status checked before the ledger is asked, and the ledger itself refuses a second resolution.

A QR payment is one step: the signed payload is checked, then one conditional UPDATE claims the
code (`payment_id IS NULL`), then the money moves, all in one transaction. Of concurrent payers of
one code exactly one claims it; if the winner's transfer fails (insufficient funds) its claim
rolls back with it and the code stays payable.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer, TransferKind
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.alipay import accounts, qr
from casebook.systems.alipay.config import AlipaySettings
from casebook.systems.alipay.errors import (
    AlreadyMerchant,
    InvalidQrCode,
    MerchantNotFound,
    NotAMerchant,
    PaymentClosed,
    PaymentNotFound,
    QrAmountMismatch,
    QrCodeAlreadyPaid,
    QrCodeNotFound,
    SelfPayment,
)
from casebook.systems.alipay.models import Merchant, Payment, Profile, QrCode, insert_unless_exists
from casebook.systems.alipay.notifications import notify, yuan

NEWEST_FIRST = Keyset(Payment.id)
QR_NEWEST_FIRST = Keyset(QrCode.id)


def payment_status(payment: Payment, now: datetime) -> str:
    """initiated, completed, cancelled or expired (an unverified hold past its timeout)."""
    if (
        payment.status == "initiated"
        and payment.hold_expires_at is not None
        and payment.hold_expires_at <= now
    ):
        return "expired"
    return payment.status


async def create_merchant(
    session: AsyncSession, owner_id: int, name: str, category: str
) -> Merchant:
    """Make the user a merchant (or biller). One per user: AlreadyMerchant (409) otherwise."""
    merchant_id = new_id()
    created = await session.scalar(
        insert_unless_exists(session, Merchant)
        .values(
            id=merchant_id, owner_id=owner_id, name=name, category=category, created_at=utcnow()
        )
        .returning(Merchant.id)
    )
    if created is None:
        raise AlreadyMerchant("You already run a merchant account.")
    await accounts.merchant_account(Ledger(session), merchant_id)
    merchant = await session.get(Merchant, merchant_id)
    assert merchant is not None
    return merchant


async def merchant_of(session: AsyncSession, owner_id: int) -> Merchant:
    """The user's merchant account; NotAMerchant (403) when they have none."""
    merchant = await session.scalar(select(Merchant).where(Merchant.owner_id == owner_id))
    if merchant is None:
        raise NotAMerchant("Register as a merchant first (POST /merchants).")
    return merchant


async def get_merchant(session: AsyncSession, merchant_id: int) -> Merchant:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise MerchantNotFound(f"There is no merchant {merchant_id}.")
    return merchant


async def _payer_name(session: AsyncSession, user_id: int) -> str:
    username = await session.scalar(select(Profile.username).where(Profile.user_id == user_id))
    return username or f"user {user_id}"


async def initiate(
    session: AsyncSession,
    config: AlipaySettings,
    payer_id: int,
    merchant_id: int,
    amount: int,
    description: str,
) -> Payment:
    """The seed's `initiate_payment`: reserve `amount` on the payer's wallet for the merchant.

    Raises MerchantNotFound (404), SelfPayment (422), InsufficientFunds (409).
    """
    merchant = await get_merchant(session, merchant_id)
    if merchant.owner_id == payer_id:
        raise SelfPayment("You cannot pay your own merchant account.")
    ledger = Ledger(session)
    wallet = await accounts.wallet(ledger, payer_id)
    takings = await accounts.merchant_account(ledger, merchant.id)
    now = utcnow()
    payment = Payment(
        id=new_id(),
        payer_id=payer_id,
        merchant_id=merchant.id,
        amount=amount,
        description=description,
        status="initiated",
        hold_transfer_id=new_id(),
        settle_transfer_id=new_id(),
        hold_expires_at=now + timedelta(seconds=config.payment_hold_seconds),
        created_at=now,
    )
    session.add(payment)
    assert payment.hold_transfer_id is not None
    await ledger.transfer(
        Transfer(
            id=payment.hold_transfer_id,
            debit_account_id=wallet.id,
            credit_account_id=takings.id,
            amount=amount,
            kind=TransferKind.PENDING,
            timeout=config.payment_hold_seconds,
            code="payment",
            reference=f"alipay:payment:{payment.id}",
        )
    )
    notify(session, payer_id, "payment.initiated", f"{yuan(amount)} reserved for {merchant.name}.")
    return payment


async def _locked_payment(session: AsyncSession, payer_id: int, payment_id: int) -> Payment:
    payment = await session.scalar(
        select(Payment)
        .where(Payment.id == payment_id, Payment.payer_id == payer_id)
        .with_for_update()
    )
    if payment is None:
        raise PaymentNotFound(f"You have no payment {payment_id}.")
    return payment


async def verify(session: AsyncSession, payer_id: int, payment_id: int) -> Payment:
    """The seed's `verify_transaction`: capture the hold, once. Verifying a completed payment
    answers it unchanged. Raises PaymentNotFound (404), PaymentClosed (409) when it was
    cancelled or its hold expired."""
    payment = await _locked_payment(session, payer_id, payment_id)
    now = utcnow()
    status = payment_status(payment, now)
    if status == "completed":
        return payment
    if status != "initiated":
        raise PaymentClosed(f"The payment is {status}.", status_now=status)
    assert payment.hold_transfer_id is not None
    await Ledger(session).transfer(
        Transfer(
            id=payment.settle_transfer_id,
            kind=TransferKind.POST,
            pending_id=payment.hold_transfer_id,
            code="payment",
            reference=f"alipay:payment:{payment.id}",
        )
    )
    payment.status = "completed"
    payment.completed_at = now
    await _announce_paid(session, payment)
    return payment


async def cancel(session: AsyncSession, payer_id: int, payment_id: int) -> Payment:
    """Release an initiated payment's hold. Raises PaymentNotFound, PaymentClosed (409)."""
    payment = await _locked_payment(session, payer_id, payment_id)
    status = payment_status(payment, utcnow())
    if status == "cancelled":
        return payment
    if status != "initiated":
        raise PaymentClosed(f"The payment is {status}.", status_now=status)
    assert payment.hold_transfer_id is not None
    await Ledger(session).transfer(
        Transfer(
            id=payment.settle_transfer_id,
            kind=TransferKind.VOID,
            pending_id=payment.hold_transfer_id,
            code="payment-cancel",
            reference=f"alipay:payment:{payment.id}",
        )
    )
    payment.status = "cancelled"
    notify(session, payer_id, "payment.cancelled", f"Payment of {yuan(payment.amount)} cancelled.")
    return payment


async def _announce_paid(session: AsyncSession, payment: Payment) -> None:
    merchant = await get_merchant(session, payment.merchant_id)
    notify(
        session,
        payment.payer_id,
        "payment.completed",
        f"Paid {yuan(payment.amount)} to {merchant.name}.",
    )
    notify(
        session,
        merchant.owner_id,
        "merchant.payment-received",
        f"{merchant.name} received {yuan(payment.amount)} from "
        f"{await _payer_name(session, payment.payer_id)}.",
    )


async def visible_payment(session: AsyncSession, user_id: int, payment_id: int) -> Payment:
    """A payment its payer or its merchant may see; PaymentNotFound for anyone else."""
    payment = await session.get(Payment, payment_id)
    if payment is not None:
        if payment.payer_id == user_id:
            return payment
        merchant = await session.get(Merchant, payment.merchant_id)
        if merchant is not None and merchant.owner_id == user_id:
            return payment
    raise PaymentNotFound(f"You have no payment {payment_id}.")


async def merchant_payments(
    session: AsyncSession, merchant: Merchant, page: PageParams
) -> tuple[list[Payment], str | None]:
    """The merchant's incoming payments, newest first."""
    stmt = select(Payment).where(Payment.merchant_id == merchant.id)
    return await NEWEST_FIRST.fetch(session, stmt, page)


async def payer_names(session: AsyncSession, payer_ids: set[int]) -> dict[int, str]:
    if not payer_ids:
        return {}
    rows = await session.execute(
        select(Profile.user_id, Profile.username).where(Profile.user_id.in_(payer_ids))
    )
    return {int(user_id): username for user_id, username in rows.all()}


async def issue_qr(
    session: AsyncSession,
    key: bytes,
    merchant: Merchant,
    amount: int | None,
    ttl_seconds: int,
) -> QrCode:
    """A new single-use payment code of `merchant`, for `amount` fen or any amount (None)."""
    now = utcnow()
    expires_at = (now + timedelta(seconds=ttl_seconds)).replace(microsecond=0)
    nonce = qr.new_nonce()
    claims = qr.QrClaims(merchant_id=merchant.id, amount=amount, expires_at=expires_at, nonce=nonce)
    code = QrCode(
        merchant_id=merchant.id,
        amount=amount,
        nonce=nonce,
        expires_at=expires_at,
        payload=qr.sign(key, claims),
        created_at=now,
    )
    session.add(code)
    await session.flush()
    return code


async def merchant_code(session: AsyncSession, merchant: Merchant, code_id: int) -> QrCode:
    code = await session.get(QrCode, code_id)
    if code is None or code.merchant_id != merchant.id:
        raise QrCodeNotFound(f"Your merchant has no payment code {code_id}.")
    return code


async def merchant_codes(
    session: AsyncSession, merchant: Merchant, page: PageParams
) -> tuple[list[QrCode], str | None]:
    return await QR_NEWEST_FIRST.fetch(
        session, select(QrCode).where(QrCode.merchant_id == merchant.id), page
    )


async def pay_qr(
    session: AsyncSession, key: bytes, payer_id: int, payload: str, amount: int | None
) -> Payment:
    """Pay a scanned merchant code: exactly once, whoever else scans it at the same time.

    Raises InvalidQrCode (422, forged or unknown), QrCodeExpired (410), QrAmountMismatch (422),
    SelfPayment (422), QrCodeAlreadyPaid (409), InsufficientFunds (409; the code stays payable).
    """
    now = utcnow()
    claims = qr.verify(key, payload, now)
    code = await session.scalar(select(QrCode).where(QrCode.nonce == claims.nonce))
    if code is None or code.merchant_id != claims.merchant_id:
        raise InvalidQrCode("This payment code is unknown.")
    if code.amount is not None and amount not in (None, code.amount):
        raise QrAmountMismatch(f"This code is for exactly {yuan(code.amount)}.")
    pay = code.amount if code.amount is not None else amount
    if pay is None:
        raise QrAmountMismatch("This code has no amount; enter how much to pay.")
    merchant = await get_merchant(session, code.merchant_id)
    if merchant.owner_id == payer_id:
        raise SelfPayment("You cannot pay your own merchant code.")
    payment_id = new_id()
    claimed = await session.scalar(
        update(QrCode)
        .where(QrCode.id == code.id, QrCode.payment_id.is_(None), QrCode.expires_at > now)
        .values(payment_id=payment_id, paid_at=now)
        .returning(QrCode.id)
    )
    if claimed is None:
        raise QrCodeAlreadyPaid("This payment code was already paid.")
    ledger = Ledger(session)
    wallet = await accounts.wallet(ledger, payer_id)
    takings = await accounts.merchant_account(ledger, merchant.id)
    payment = Payment(
        id=payment_id,
        payer_id=payer_id,
        merchant_id=merchant.id,
        amount=pay,
        description="QR payment",
        status="completed",
        settle_transfer_id=new_id(),
        qr_code_id=code.id,
        created_at=now,
        completed_at=now,
    )
    session.add(payment)
    await ledger.transfer(
        Transfer(
            id=payment.settle_transfer_id,
            debit_account_id=wallet.id,
            credit_account_id=takings.id,
            amount=pay,
            code="qr-payment",
            reference=f"alipay:payment:{payment.id}",
        )
    )
    await _announce_paid(session, payment)
    return payment
