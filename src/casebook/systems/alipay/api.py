"""`/api/alipay`: wallet, transfers, merchant and QR payments, bills, the fund, bank top-ups.

The seed's endpoints map here: `POST /api/users/register` → `POST /users/register`,
`POST /api/users/login` → `POST /users/login`, `POST /api/payments` → `POST /payments` (then
`POST /payments/{id}/verify`, the seed's `verify_transaction`), `GET /api/transactions` →
`GET /transactions`. The rest covers the seed's feature list (transfers, bills, wealth
management, QR payments) and its bank integration.

Credentials: a session may do everything; an API key needs `alipay:read` to read and
`alipay:write` to change anything. Every read and write is scoped to the caller: another user's
payment, bill, bank account or notification answers 404 like a missing one. Endpoints that move
money accept `Idempotency-Key`. Amounts are integer fen.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger
from casebook.platform.auth.deps import Principal, client_ip, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import PROBLEM_JSON, InvalidInput
from casebook.platform.idempotency import Idempotent
from casebook.platform.pagination import Page, PageQuery
from casebook.systems.alipay import (
    accounts,
    banking,
    bills,
    fund,
    history,
    notifications,
    payments,
    qr,
    transfers,
    users,
)
from casebook.systems.alipay.errors import ProfileNotFound
from casebook.systems.alipay.models import BankOrder, Bill, Merchant, Payment, QrCode
from casebook.systems.alipay.runtime import Alipay, alipay
from casebook.systems.alipay.schemas import (
    BankAccountIn,
    BankAccountOut,
    BankOrderIn,
    BankOrderOut,
    BillIn,
    BillOut,
    FundOrderIn,
    FundOut,
    LoginIn,
    MerchantIn,
    MerchantOut,
    NotificationOut,
    PaymentIn,
    PaymentOut,
    ProfileIn,
    QrIn,
    QrOut,
    QrPayIn,
    RegisterIn,
    TokenOut,
    TransactionOut,
    TransferIn,
    TransferOut,
    UserOut,
    WalletOut,
)

READ = "alipay:read"
WRITE = "alipay:write"
API = "/api/alipay"

router = APIRouter()

PlatformDep = Annotated[Platform, Depends(get_platform)]
Reader = Annotated[Principal, Depends(require_scope(READ))]
Writer = Annotated[Principal, Depends(require_scope(WRITE))]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def get_alipay(platform: PlatformDep) -> Alipay:
    return alipay(platform)


State = Annotated[Alipay, Depends(get_alipay)]

_MEANINGS = {
    401: "Missing or invalid credentials",
    402: "The bank declined the movement",
    403: "The credential lacks the needed scope, or the caller is not a merchant",
    404: "No such resource (or not yours)",
    409: "Conflict: insufficient funds, already paid, or taken",
    410: "The payment code expired",
    422: "Invalid input",
    503: "The bank did not answer; the order stays pending and is settled later",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


# Users


@router.post(
    "/users/register", status_code=201, response_model=UserOut, responses=_problems(409, 422)
)
async def register(body: RegisterIn, session: Session, platform: PlatformDep) -> UserOut:
    """The seed's `POST /api/users/register`: username, e-mail, password and phone. 409 when the
    e-mail, username or phone is taken."""
    user, profile = await users.register(
        session, platform, body.username, body.email, body.password, body.phone
    )
    return UserOut(id=user.id, username=profile.username, phone=profile.phone, email=user.email)


@router.post("/users/login", response_model=TokenOut, responses=_problems(401, 422))
async def login(
    body: LoginIn, request: Request, session: Session, platform: PlatformDep
) -> TokenOut:
    """The seed's `POST /api/users/login`: a bearer access token (and a refresh token for
    `/api/auth/refresh`) for a username or e-mail and password; 401 otherwise."""
    pair = await users.login(session, platform, body.username, body.password, client_ip(request))
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post("/profile", status_code=201, response_model=UserOut, responses=_problems(401, 409))
async def create_profile(body: ProfileIn, principal: Writer, session: Session) -> UserOut:
    """Add an Alipay username and phone to an account made elsewhere in Casebook."""
    profile = await users.create_profile(session, principal.user_id, body.username, body.phone)
    return UserOut(id=profile.user_id, username=profile.username, phone=profile.phone)


@router.get("/profile", response_model=UserOut, responses=_problems(401, 404))
async def get_profile(principal: Reader, session: Session) -> UserOut:
    profile = await users.profile_of(session, principal.user_id)
    if profile is None:
        raise ProfileNotFound("You have no Alipay profile yet.")
    return UserOut(id=profile.user_id, username=profile.username, phone=profile.phone)


# Wallet, history, notifications


@router.get("/wallet", response_model=WalletOut, responses=_problems(401))
async def get_wallet(principal: Reader, session: Session) -> WalletOut:
    """Your balance, derived from the ledger's postings."""
    ledger = Ledger(session)
    owner = accounts.user_owner(principal.user_id)
    wallet = await accounts.existing(ledger, owner, accounts.WALLET)
    holding = await accounts.existing(ledger, owner, accounts.FUND)
    return WalletOut(
        balance=wallet.posted if wallet else 0,
        available=wallet.available if wallet else 0,
        held=wallet.held if wallet else 0,
        fund_holding=holding.posted if holding else 0,
    )


@router.get("/transactions", response_model=Page[TransactionOut], responses=_problems(401, 422))
async def list_transactions(
    principal: Reader, session: Session, page: PageQuery
) -> Page[TransactionOut]:
    """The seed's `GET /api/transactions`: your wallet's transactions, newest first, with status,
    signed amount, counterparty and time."""
    lines, cursor = await history.history(
        session, principal.user_id, cursor=page.cursor, limit=page.limit
    )
    return Page[TransactionOut](
        items=[TransactionOut.model_validate(line, from_attributes=True) for line in lines],
        next_cursor=cursor,
    )


@router.get("/notifications", response_model=Page[NotificationOut], responses=_problems(401, 422))
async def list_notifications(
    principal: Reader, session: Session, page: PageQuery, unread: bool = False
) -> Page[NotificationOut]:
    """Your notifications, newest first (`?unread=true` for unread ones only)."""
    rows, cursor = await notifications.list_notifications(
        session, principal.user_id, page, unread_only=unread
    )
    return Page[NotificationOut](
        items=[
            NotificationOut(
                id=n.id,
                kind=n.kind,
                message=n.message,
                created_at=n.created_at,
                read=n.read_at is not None,
            )
            for n in rows
        ],
        next_cursor=cursor,
    )


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationOut,
    responses=_problems(401, 404),
)
async def read_notification(
    notification_id: Id, principal: Writer, session: Session
) -> NotificationOut:
    n = await notifications.mark_read(session, principal.user_id, notification_id)
    return NotificationOut(
        id=n.id, kind=n.kind, message=n.message, created_at=n.created_at, read=True
    )


# Transfers


def transfer_out(row: Any) -> TransferOut:
    return TransferOut(
        id=row.id,
        sender_id=row.sender_id,
        recipient_id=row.recipient_id,
        amount=row.amount,
        memo=row.memo,
        created_at=row.created_at,
    )


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409, 422),
)
async def send_money(body: TransferIn, principal: Writer, session: WriteSession) -> TransferOut:
    """Send money to a friend, family member or business by username, phone or e-mail."""
    row = await transfers.send(session, principal.user_id, body.to, body.amount, body.memo)
    return transfer_out(row)


@router.get("/transfers", response_model=Page[TransferOut], responses=_problems(401, 422))
async def list_transfers(principal: Reader, session: Session, page: PageQuery) -> Page[TransferOut]:
    rows, cursor = await transfers.list_transfers(session, principal.user_id, page)
    return Page[TransferOut](items=[transfer_out(r) for r in rows], next_cursor=cursor)


# Merchants, payments, QR codes


async def merchant_out(session: AsyncSession, merchant: Merchant) -> MerchantOut:
    takings = await accounts.existing(
        Ledger(session), accounts.merchant_owner(merchant.id), accounts.MERCHANT_SETTLEMENT
    )
    return MerchantOut(
        id=merchant.id,
        name=merchant.name,
        category=merchant.category,
        balance=takings.posted if takings else 0,
        created_at=merchant.created_at,
    )


def payment_out(payment: Payment, payer: str | None = None) -> PaymentOut:
    status = payments.payment_status(payment, utcnow())
    return PaymentOut(
        id=payment.id,
        payer_id=payment.payer_id,
        merchant_id=payment.merchant_id,
        amount=payment.amount,
        description=payment.description,
        status=status,
        qr_code_id=payment.qr_code_id,
        transaction_id=payment.settle_transfer_id,
        created_at=payment.created_at,
        hold_expires_at=payment.hold_expires_at,
        completed_at=payment.completed_at,
        payer=payer,
    )


@router.post(
    "/merchants", status_code=201, response_model=MerchantOut, responses=_problems(401, 409, 422)
)
async def register_merchant(body: MerchantIn, principal: Writer, session: Session) -> MerchantOut:
    """Open your merchant account (a shop, or a biller: utility, phone, credit-card)."""
    merchant = await payments.create_merchant(session, principal.user_id, body.name, body.category)
    return await merchant_out(session, merchant)


@router.get("/merchants/me", response_model=MerchantOut, responses=_problems(401, 403))
async def my_merchant(principal: Reader, session: Session) -> MerchantOut:
    return await merchant_out(session, await payments.merchant_of(session, principal.user_id))


@router.get(
    "/merchants/me/payments", response_model=Page[PaymentOut], responses=_problems(401, 403, 422)
)
async def merchant_payments(
    principal: Reader, session: Session, page: PageQuery
) -> Page[PaymentOut]:
    """Payments to your merchant, newest first, with the payer's username."""
    merchant = await payments.merchant_of(session, principal.user_id)
    rows, cursor = await payments.merchant_payments(session, merchant, page)
    names = await payments.payer_names(session, {p.payer_id for p in rows})
    return Page[PaymentOut](
        items=[payment_out(p, names.get(p.payer_id)) for p in rows], next_cursor=cursor
    )


def qr_out(code: QrCode) -> QrOut:
    base = f"{API}/merchants/me/qr-codes/{code.id}"
    return QrOut(
        id=code.id,
        merchant_id=code.merchant_id,
        amount=code.amount,
        payload=code.payload,
        expires_at=code.expires_at,
        paid=code.payment_id is not None,
        payment_id=code.payment_id,
        png_url=f"{base}.png",
        svg_url=f"{base}.svg",
    )


@router.post(
    "/merchants/me/qr-codes",
    status_code=201,
    response_model=QrOut,
    responses=_problems(401, 403, 422),
)
async def create_qr_code(body: QrIn, principal: Writer, session: Session, state: State) -> QrOut:
    """A new single-use payment code: a signed payload that expires (default 5 minutes), for a
    fixed amount or for the payer to fill in. Show `png_url` or `svg_url` at the till."""
    merchant = await payments.merchant_of(session, principal.user_id)
    ttl = body.ttl_seconds or state.config.qr_default_ttl_seconds
    if ttl > state.config.qr_max_ttl_seconds:
        raise InvalidInput(f"A code lives at most {state.config.qr_max_ttl_seconds} seconds.")
    code = await payments.issue_qr(session, state.qr_key, merchant, body.amount, ttl)
    return qr_out(code)


@router.get("/merchants/me/qr-codes", response_model=Page[QrOut], responses=_problems(401, 403))
async def list_qr_codes(principal: Reader, session: Session, page: PageQuery) -> Page[QrOut]:
    merchant = await payments.merchant_of(session, principal.user_id)
    rows, cursor = await payments.merchant_codes(session, merchant, page)
    return Page[QrOut](items=[qr_out(c) for c in rows], next_cursor=cursor)


@router.get(
    "/merchants/me/qr-codes/{code_id}.{fmt}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The QR image"},
        **_problems(401, 403, 404, 422),
    },
)
async def qr_image(
    code_id: Id,
    fmt: Annotated[Literal["png", "svg"], Path()],
    principal: Reader,
    session: Session,
) -> Response:
    """Your payment code as a QR image (PNG or SVG)."""
    merchant = await payments.merchant_of(session, principal.user_id)
    code = await payments.merchant_code(session, merchant, code_id)
    if fmt == "png":
        return Response(qr.render_png(code.payload), media_type="image/png")
    return Response(qr.render_svg(code.payload), media_type="image/svg+xml")


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409, 422),
)
async def initiate_payment(
    body: PaymentIn, principal: Writer, session: WriteSession, state: State
) -> PaymentOut:
    """The seed's `POST /api/payments` (`initiate_payment`): reserve the amount for the merchant
    (`recipient`); `POST /payments/{id}/verify` completes it, `/cancel` releases it. An
    unverified payment expires after 15 minutes."""
    payment = await payments.initiate(
        session, state.config, principal.user_id, body.recipient, body.amount, body.description
    )
    return payment_out(payment)


@router.post(
    "/payments/{payment_id}/verify",
    response_model=PaymentOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409),
)
async def verify_payment(payment_id: Id, principal: Writer, session: WriteSession) -> PaymentOut:
    """The seed's `verify_transaction`: capture the payment, exactly once."""
    return payment_out(await payments.verify(session, principal.user_id, payment_id))


@router.post(
    "/payments/{payment_id}/cancel",
    response_model=PaymentOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409),
)
async def cancel_payment(payment_id: Id, principal: Writer, session: WriteSession) -> PaymentOut:
    return payment_out(await payments.cancel(session, principal.user_id, payment_id))


@router.get("/payments/{payment_id}", response_model=PaymentOut, responses=_problems(401, 404))
async def get_payment(payment_id: Id, principal: Reader, session: Session) -> PaymentOut:
    """A payment you made, or one made to your merchant."""
    return payment_out(await payments.visible_payment(session, principal.user_id, payment_id))


@router.post(
    "/qr/pay",
    status_code=201,
    response_model=PaymentOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409, 410, 422),
)
async def pay_qr_code(
    body: QrPayIn, principal: Writer, session: WriteSession, state: State
) -> PaymentOut:
    """Scan to pay: send the scanned payload (and the amount, for an open code). A code pays its
    merchant exactly once; a forged, altered or expired one is refused."""
    payment = await payments.pay_qr(
        session, state.qr_key, principal.user_id, body.payload, body.amount
    )
    return payment_out(payment)


# Bills


def bill_out(bill: Bill, biller: str) -> BillOut:
    return BillOut(
        id=bill.id,
        merchant_id=bill.merchant_id,
        biller=biller,
        payer_id=bill.payer_id,
        category=bill.category,
        amount=bill.amount,
        due_date=bill.due_date,
        description=bill.description,
        status=bills.bill_status(bill, utcnow().date()),
        paid_at=bill.paid_at,
        created_at=bill.created_at,
    )


@router.post(
    "/bills", status_code=201, response_model=BillOut, responses=_problems(401, 403, 404, 422)
)
async def issue_bill(body: BillIn, principal: Writer, session: Session) -> BillOut:
    """Billers (merchants) issue a bill to a user, with an amount and a due date."""
    biller = await payments.merchant_of(session, principal.user_id)
    bill = await bills.issue(
        session, biller, body.payer, body.amount, body.due_date, body.description
    )
    await session.flush()
    return bill_out(bill, biller.name)


async def _biller_names(session: AsyncSession, merchant_ids: set[int]) -> dict[int, str]:
    if not merchant_ids:
        return {}
    rows = await session.execute(
        select(Merchant.id, Merchant.name).where(Merchant.id.in_(merchant_ids))
    )
    return {int(i): n for i, n in rows.all()}


@router.get("/bills", response_model=list[BillOut], responses=_problems(401, 422))
async def list_bills(
    principal: Reader,
    session: Session,
    status: Annotated[Literal["due", "overdue", "paid"] | None, Query()] = None,
) -> list[BillOut]:
    """Your bills, soonest due first, each due, overdue or paid (`?status=` filters)."""
    rows = await bills.bills_of(session, principal.user_id, status)
    names = await _biller_names(session, {b.merchant_id for b in rows})
    return [bill_out(b, names.get(b.merchant_id, "")) for b in rows]


@router.get("/merchants/me/bills", response_model=Page[BillOut], responses=_problems(401, 403))
async def issued_bills(principal: Reader, session: Session, page: PageQuery) -> Page[BillOut]:
    """Bills your merchant issued, newest first, with their paid status."""
    biller = await payments.merchant_of(session, principal.user_id)
    rows, cursor = await bills.biller_bills(session, biller, page)
    return Page[BillOut](items=[bill_out(b, biller.name) for b in rows], next_cursor=cursor)


@router.post(
    "/bills/{bill_id}/pay",
    response_model=BillOut,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409),
)
async def pay_bill(bill_id: Id, principal: Writer, session: WriteSession) -> BillOut:
    """Pay one of your bills from your wallet."""
    bill = await bills.pay(session, principal.user_id, bill_id)
    names = await _biller_names(session, {bill.merchant_id})
    return bill_out(bill, names.get(bill.merchant_id, ""))


# Fund


async def fund_out(session: AsyncSession, state: Alipay, user_id: int) -> FundOut:
    summary = await fund.summary(session, user_id)
    return FundOut(
        holding=summary.holding,
        value=summary.holding,
        total_yield=summary.total_yield,
        last_yield=summary.last_yield,
        last_yield_day=summary.last_yield_day,
        annual_yield_bp=state.config.fund_annual_yield_bp,
    )


@router.get("/fund", response_model=FundOut, responses=_problems(401))
async def get_fund(principal: Reader, session: Session, state: State) -> FundOut:
    """Your money-market holding, its value and the yield it has earned."""
    return await fund_out(session, state, principal.user_id)


@router.post(
    "/fund/subscribe",
    response_model=FundOut,
    dependencies=[Idempotent],
    responses=_problems(401, 409, 422),
)
async def subscribe(
    body: FundOrderIn, principal: Writer, session: WriteSession, state: State
) -> FundOut:
    """Move wallet money into the fund (one unit per yuan)."""
    await fund.subscribe(session, principal.user_id, body.amount)
    return await fund_out(session, state, principal.user_id)


@router.post(
    "/fund/redeem",
    response_model=FundOut,
    dependencies=[Idempotent],
    responses=_problems(401, 409, 422),
)
async def redeem(
    body: FundOrderIn, principal: Writer, session: WriteSession, state: State
) -> FundOut:
    """Move units back to the wallet, at once."""
    await fund.redeem(session, principal.user_id, body.amount)
    return await fund_out(session, state, principal.user_id)


# Bank accounts, top-ups, withdrawals


@router.post(
    "/bank-accounts",
    status_code=201,
    response_model=BankAccountOut,
    responses=_problems(401, 402, 422),
)
async def link_bank_account(
    body: BankAccountIn, principal: Writer, platform: PlatformDep, state: State
) -> BankAccountOut:
    """Open an account at the sandbox bank, funded with `opening_balance`, and link it."""
    if body.opening_balance > state.config.bank_opening_balance_max:
        raise InvalidInput(
            f"The sandbox bank opens accounts with at most {state.config.bank_opening_balance_max}"
            " fen."
        )
    link = await banking.open_and_link(
        platform.db, state.bank, principal.user_id, body.holder_name, body.opening_balance
    )
    return BankAccountOut(
        id=link.id,
        account_number=link.account_number,
        holder_name=link.holder_name,
        bank_balance=body.opening_balance,
        created_at=link.created_at,
    )


@router.get("/bank-accounts", response_model=list[BankAccountOut], responses=_problems(401))
async def list_bank_accounts(
    principal: Reader, session: Session, state: State
) -> list[BankAccountOut]:
    """Your linked bank accounts, with the balance the bank reports."""
    out = []
    for link in await banking.links_of(session, principal.user_id):
        account = await state.bank.account(link.account_number)
        out.append(
            BankAccountOut(
                id=link.id,
                account_number=link.account_number,
                holder_name=link.holder_name,
                bank_balance=account.balance if account else 0,
                created_at=link.created_at,
            )
        )
    return out


def order_out(order: BankOrder) -> BankOrderOut:
    return BankOrderOut(
        id=order.id,
        kind=order.kind,
        bank_account_id=order.link_id,
        amount=order.amount,
        status=order.status,
        reference=order.reference,
        bank_reference=order.bank_reference,
        failure=order.failure,
        created_at=order.created_at,
        completed_at=order.completed_at,
    )


@router.post(
    "/topups",
    status_code=201,
    response_model=BankOrderOut,
    dependencies=[Idempotent],
    responses=_problems(401, 402, 404, 422, 503),
)
async def top_up(
    body: BankOrderIn, principal: Writer, platform: PlatformDep, state: State
) -> BankOrderOut:
    """Pull money from your linked bank account into your wallet. The bank is another
    institution, so this runs its own units of work around the bank call rather than one
    request transaction (see `banking`)."""
    order = await banking.top_up(
        platform.db, state.bank, principal.user_id, body.bank_account_id, body.amount
    )
    return order_out(order)


@router.post(
    "/withdrawals",
    status_code=201,
    response_model=BankOrderOut,
    dependencies=[Idempotent],
    responses=_problems(401, 402, 404, 409, 422, 503),
)
async def withdraw(
    body: BankOrderIn, principal: Writer, platform: PlatformDep, state: State
) -> BankOrderOut:
    """Pay wallet money out to your linked bank account: held at once, posted when the bank
    confirms, released if it declines."""
    order = await banking.withdraw(
        platform.db, state.bank, state.config, principal.user_id, body.bank_account_id, body.amount
    )
    return order_out(order)


@router.get("/bank-orders", response_model=list[BankOrderOut], responses=_problems(401))
async def list_bank_orders(principal: Reader, session: Session) -> list[BankOrderOut]:
    """Your latest 50 top-ups and withdrawals."""
    return [order_out(o) for o in await banking.orders_of(session, principal.user_id)]
