"""`/alipay/`: the wallet, scan-to-pay, bills and the fund on one page, plus the merchant's till.

Plain HTML forms over the same service functions as the API, signed in by the session cookie
(anonymous visitors go to `/login?next=…`); every POST passes the same-origin check. Each form's
work runs in its own write unit of work: a refusal (insufficient funds, an expired code) rolls it
back whole and the page is shown again with the reason; success redirects back (303).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.pagination import PageParams
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
from casebook.systems.alipay.config import MAX_AMOUNT
from casebook.systems.alipay.models import Merchant, QrCode
from casebook.systems.alipay.notifications import yuan
from casebook.systems.alipay.runtime import Alipay, alipay
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(FilePath(__file__).with_name("templates"))
router = APIRouter()

HOME = "/alipay/"
PlatformDep = Annotated[Platform, Depends(get_platform)]
YUAN = re.compile(r"^\d{1,8}(\.\d{1,2})?$")
Yuan = Annotated[str, Form(max_length=20)]
Text = Annotated[str, Form(max_length=300)]


async def get_alipay(platform: PlatformDep) -> Alipay:
    return alipay(platform)


State = Annotated[Alipay, Depends(get_alipay)]


def parse_yuan(value: str) -> int:
    """`"12.3"` → 1230 fen. Raises InvalidInput for anything but a positive yuan amount."""
    text = value.strip()
    if not YUAN.match(text):
        raise InvalidInput("Enter an amount in yuan, like 12.50.")
    whole, _, cents = text.partition(".")
    fen = int(whole) * 100 + int((cents + "00")[:2])
    if not 0 < fen <= MAX_AMOUNT:
        raise InvalidInput("The amount is out of range.")
    return fen


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


async def _context(session: AsyncSession, state: Alipay, user_id: int) -> dict[str, Any]:
    ledger = Ledger(session)
    owner = accounts.user_owner(user_id)
    wallet = await accounts.existing(ledger, owner, accounts.WALLET)
    summary = await fund.summary(session, user_id)
    lines, _ = await history.history(session, user_id, cursor=None, limit=10)
    notices, _ = await notifications.list_notifications(
        session, user_id, PageParams(cursor=None, limit=5)
    )
    today = utcnow().date()
    my_bills = await bills.bills_of(session, user_id, None)
    billers = dict(
        (
            await session.execute(
                select(Merchant.id, Merchant.name).where(
                    Merchant.id.in_({b.merchant_id for b in my_bills})
                )
            )
        ).all()
    )
    links = []
    for link in await banking.links_of(session, user_id):
        account = await state.bank.account(link.account_number)
        links.append((link, account.balance if account else 0))
    merchant = await session.scalar(select(Merchant).where(Merchant.owner_id == user_id))
    till: dict[str, Any] | None = None
    if merchant is not None:
        takings = await accounts.existing(
            ledger, accounts.merchant_owner(merchant.id), accounts.MERCHANT_SETTLEMENT
        )
        recent, _ = await payments.merchant_payments(
            session, merchant, PageParams(cursor=None, limit=10)
        )
        code = await session.scalar(
            select(QrCode).where(QrCode.merchant_id == merchant.id).order_by(QrCode.id.desc())
        )
        till = {
            "merchant": merchant,
            "balance": takings.posted if takings else 0,
            "payments": recent,
            "code": code,
            "code_svg": qr.render_svg(code.payload) if code else "",
            "code_open": bool(code and code.payment_id is None and code.expires_at > utcnow()),
        }
    return {
        "profile": await users.profile_of(session, user_id),
        "wallet": wallet,
        "fund": summary,
        "rate": state.config.fund_annual_yield_bp / 100,
        "lines": lines,
        "notices": notices,
        "bills": [
            (b, bills.bill_status(b, today), billers.get(b.merchant_id, "")) for b in my_bills
        ],
        "links": links,
        "till": till,
        "yuan": yuan,
        "home": HOME,
    }


async def _page(
    request: Request,
    viewer: Viewer,
    platform: Platform,
    state: Alipay,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with platform.db.session() as session:
        context = await _context(session, state, viewer.user_id)
    context["error"] = error
    return templates.render(
        request, "alipay_home.html", context, viewer=viewer, status_code=status_code
    )


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, viewer: OptionalViewer, platform: PlatformDep, state: State
) -> Response:
    """The wallet page: balances, bank, transfers, scan-to-pay, bills, fund, and the till."""
    if viewer is None:
        return _login_redirect(request)
    return await _page(request, viewer, platform, state)


Work = Callable[[], Awaitable[object]]


async def _act(
    request: Request, viewer: Viewer | None, platform: Platform, state: Alipay, work: Work
) -> Response:
    if viewer is None:
        return _login_redirect(request)
    try:
        await work()
    except Problem as problem:
        return await _page(
            request, viewer, platform, state, error=problem.detail, status_code=problem.status
        )
    return RedirectResponse(HOME, status_code=303)


def _in_write_session(
    platform: Platform, step: Callable[[AsyncSession], Awaitable[object]]
) -> Work:
    async def run() -> None:
        async with platform.db.session(write=True) as session:
            await step(session)

    return run


@router.post("/profile")
async def create_profile(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    username: Annotated[str, Form(max_length=32)],
    phone: Annotated[str, Form(max_length=16)],
) -> Response:
    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        if not users.USERNAME.match(username.lower()) or not users.PHONE.match(phone):
            raise InvalidInput(
                "Pick a username (3-32 of a-z 0-9 _) and a phone like +8613800138000."
            )
        await users.create_profile(session, viewer.user_id, username, phone)

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))


@router.post("/bank-account")
async def open_bank_account(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    opening_balance: Yuan,
) -> Response:
    async def work() -> None:
        assert viewer is not None
        fen = parse_yuan(opening_balance)
        if fen > state.config.bank_opening_balance_max:
            raise InvalidInput("The sandbox bank opens accounts with at most ¥1,000,000.")
        await banking.open_and_link(
            platform.db, state.bank, viewer.user_id, viewer.display_name[:100], fen
        )

    return await _act(request, viewer, platform, state, work)


@router.post("/bank-order")
async def bank_order(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    kind: Annotated[str, Form(pattern="^(top-up|withdrawal)$")],
    bank_account_id: Annotated[int, Form(ge=1)],
    amount: Yuan,
) -> Response:
    async def work() -> None:
        assert viewer is not None
        fen = parse_yuan(amount)
        if kind == "top-up":
            await banking.top_up(platform.db, state.bank, viewer.user_id, bank_account_id, fen)
        else:
            await banking.withdraw(
                platform.db, state.bank, state.config, viewer.user_id, bank_account_id, fen
            )

    return await _act(request, viewer, platform, state, work)


@router.post("/transfer")
async def send_money(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    to: Annotated[str, Form(min_length=1, max_length=254)],
    amount: Yuan,
    memo: Annotated[str, Form(max_length=140)] = "",
) -> Response:
    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        await transfers.send(session, viewer.user_id, to, parse_yuan(amount), memo)

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))


@router.post("/scan")
async def scan_to_pay(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    payload: Text,
    amount: Yuan = "",
) -> Response:
    """Pay a scanned code (the page takes the payload text a phone's camera would read)."""

    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        fen = parse_yuan(amount) if amount.strip() else None
        await payments.pay_qr(session, state.qr_key, viewer.user_id, payload, fen)

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))


@router.post("/bills/{bill_id}/pay")
async def pay_bill(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    bill_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        await bills.pay(session, viewer.user_id, bill_id)

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))


@router.post("/fund")
async def fund_order(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    direction: Annotated[str, Form(pattern="^(subscribe|redeem)$")],
    amount: Yuan,
) -> Response:
    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        move = fund.subscribe if direction == "subscribe" else fund.redeem
        await move(session, viewer.user_id, parse_yuan(amount))

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))


@router.post("/merchant")
async def become_merchant(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    category: Annotated[str, Form(pattern="^(shop|utility|phone|credit-card)$")] = "shop",
) -> Response:
    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        await payments.create_merchant(session, viewer.user_id, name, category)

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))


@router.post("/qr")
async def new_qr_code(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    amount: Yuan = "",
) -> Response:
    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        merchant = await payments.merchant_of(session, viewer.user_id)
        fen = parse_yuan(amount) if amount.strip() else None
        await payments.issue_qr(
            session, state.qr_key, merchant, fen, state.config.qr_default_ttl_seconds
        )

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))


@router.post("/bill")
async def issue_bill(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    state: State,
    payer: Annotated[str, Form(min_length=1, max_length=254)],
    amount: Yuan,
    due_date: Annotated[date, Form()],
    description: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    async def step(session: AsyncSession) -> None:
        assert viewer is not None
        biller = await payments.merchant_of(session, viewer.user_id)
        await bills.issue(session, biller, payer, parse_yuan(amount), due_date, description)

    return await _act(request, viewer, platform, state, _in_write_session(platform, step))
