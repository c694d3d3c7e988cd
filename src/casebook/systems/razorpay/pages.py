"""`/razorpay/`: the merchant dashboard. A signed-in merchant sees their key ids (and creates a
key, whose secret is shown once), balance, recent orders, payments, refunds, settlements and
payment links; creates a payment link; captures and refunds a payment. A signed-in user with no
merchant account gets a "become a merchant" form.

Plain HTML forms over the same service functions as the API, signed in by the session cookie
(anonymous visitors go to `/login?next=…`); every POST passes the same-origin check. A form whose
action fails is rolled back, then the page is shown again with the reason and the problem's
status. Every query is filtered by the viewer's own merchant id, so nobody sees another's data.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import InvalidInput, Problem
from casebook.systems.razorpay import links, merchants, payments, publicids, settlements, webhooks
from casebook.systems.razorpay.compat import short_url
from casebook.systems.razorpay.models import Merchant
from casebook.systems.razorpay.runtime import razorpay
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(FilePath(__file__).with_name("templates"))
router = APIRouter()

HOME = "/razorpay/"
RECENT = 10
PaymentId = Annotated[str, Path(min_length=5, max_length=40)]
Amount = Annotated[str, Form(max_length=16)]


def _login_redirect() -> RedirectResponse:
    return RedirectResponse(f"/login?next={HOME}", status_code=303)


def paise(text: str) -> int:
    """A rupee amount typed in a form (`12`, `12.5`, `₹12.50`) in paise; raises InvalidInput
    when it is not a number with at most two decimals, or outside ₹1 … ₹1,00,00,000."""
    whole, _, frac = text.strip().removeprefix("₹").replace(",", "").partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise InvalidInput("Amounts are rupees with at most two decimals, like 499.50.")
    amount = int(whole) * 100 + int(frac.ljust(2, "0") or 0)
    if not payments.MIN_AMOUNT <= amount <= 10**9:
        raise InvalidInput("The amount must be at least ₹1 and at most ₹1,00,00,000.")
    return amount


async def _merchant(session: AsyncSession, user_id: int) -> Merchant | None:
    return await session.scalar(select(Merchant).where(Merchant.user_id == user_id))


async def _page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    *,
    error: str | None = None,
    new_key: tuple[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The dashboard: O(RECENT) rows per list, each read by the merchant id index."""
    merchant = await _merchant(session, viewer.user_id)
    context: dict[str, Any] = {
        "home": HOME,
        "error": error,
        "merchant": merchant,
        "new_key": new_key,
        "pub": publicids.encode,
    }
    if merchant is not None:
        accounts = await Ledger(session).accounts_of(merchants.merchant_owner(merchant.id))
        link_rows = await links.list_links(session, merchant.id, RECENT, 0)
        context.update(
            account_id=publicids.encode("acc", merchant.id),
            key_ids=await merchants.live_key_ids(session, merchant.id),
            balances=[a for a in accounts if a.name == "balance"],
            orders=await payments.list_orders(session, merchant.id, RECENT, 0),
            payments=await payments.list_payments(session, merchant.id, RECENT, 0),
            refunds=await payments.list_refunds(session, merchant.id, RECENT, 0),
            settlements=await settlements.list_settlements(session, merchant.id, RECENT, 0),
            links=[(link, short_url(request, link.id)) for link in link_rows],
        )
    return templates.render(
        request, "razorpay_home.html", context, viewer=viewer, status_code=status_code
    )


async def _failed(
    request: Request, viewer: Viewer, session: AsyncSession, problem: Problem
) -> HTMLResponse:
    await session.rollback()
    return await _page(request, viewer, session, error=problem.detail, status_code=problem.status)


@router.get("/", response_class=HTMLResponse)
async def home(viewer: OptionalViewer, request: Request, session: Session) -> Response:
    """Your merchant dashboard, or the form to open a merchant account."""
    if viewer is None:
        return _login_redirect()
    return await _page(request, viewer, session)


@router.post("/merchant", response_class=HTMLResponse)
async def become_merchant(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    name: Annotated[str, Form(min_length=1, max_length=120)],
) -> Response:
    """Open your merchant account with its first key pair; the secret is shown on this answer."""
    if viewer is None:
        return _login_redirect()
    try:
        if not name.strip():
            raise InvalidInput("Give your business a name.")
        merchant = await merchants.open_merchant(session, viewer.user_id, name.strip())
        key, secret = await merchants.create_key(session, merchant.id)
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return await _page(request, viewer, session, new_key=(key.key_id, secret), status_code=201)


@router.post("/keys", response_class=HTMLResponse)
async def new_key(
    request: Request, viewer: OptionalViewer, _: SameOrigin, session: WriteSession
) -> Response:
    """A further key pair; its secret is shown on this answer only."""
    if viewer is None:
        return _login_redirect()
    try:
        merchant = await merchants.merchant_of_user(session, viewer.user_id)
        key, secret = await merchants.create_key(session, merchant.id)
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return await _page(request, viewer, session, new_key=(key.key_id, secret), status_code=201)


@router.post("/links", response_class=HTMLResponse)
async def create_link(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    amount: Amount,
    description: Annotated[str, Form(max_length=255)] = "",
    accept_partial: Annotated[bool, Form()] = False,
) -> Response:
    """A payment link for `amount` rupees (INR), optionally payable in parts."""
    if viewer is None:
        return _login_redirect()
    try:
        merchant = await merchants.merchant_of_user(session, viewer.user_id)
        await links.create_link(
            session,
            merchant.id,
            amount=paise(amount),
            currency="INR",
            accept_partial=accept_partial,
            first_min_partial_amount=None,
            description=description.strip() or None,
            customer={},
            reference_id=None,
            expire_by=None,
            notes={},
            min_amount=payments.MIN_AMOUNT,
        )
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return RedirectResponse(HOME, status_code=303)


@router.post("/payments/{payment_id}/capture", response_class=HTMLResponse)
async def capture(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    payment_id: PaymentId,
) -> Response:
    """Capture your authorized payment for its full amount; webhooks go out after commit."""
    if viewer is None:
        return _login_redirect()
    platform = request.app.state.platform
    try:
        merchant = await merchants.merchant_of_user(session, viewer.user_id)
        pid = payments.decode_id("pay", payment_id)
        payment = await payments.owned_payment(session, merchant.id, pid)
        captured = await payments.capture_payment(
            session, razorpay(platform), merchant.id, pid, payment.amount, None
        )
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    await session.commit()
    await webhooks.dispatch(platform, captured[1])
    return RedirectResponse(HOME, status_code=303)


@router.post("/payments/{payment_id}/refund", response_class=HTMLResponse)
async def refund(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    payment_id: PaymentId,
    amount: Amount = "",
) -> Response:
    """Refund your captured payment: `amount` rupees, or all that is left when empty."""
    if viewer is None:
        return _login_redirect()
    platform = request.app.state.platform
    try:
        merchant = await merchants.merchant_of_user(session, viewer.user_id)
        refunded = await payments.refund_payment(
            session,
            merchant.id,
            payments.decode_id("pay", payment_id),
            paise(amount) if amount.strip() else None,
        )
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    await session.commit()
    await webhooks.dispatch(platform, refunded[1])
    return RedirectResponse(HOME, status_code=303)
