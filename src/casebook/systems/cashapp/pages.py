"""`/cashapp/`: your balance, add cash, send and request money, answer requests, your activity,
your Cash Card (issue, freeze, boost, purchases) and a merchant terminal on the simulated network.

Plain HTML forms over the same service functions as the API, signed in by the session cookie
(anonymous visitors go to `/login?next=…`); every POST passes the same-origin check. A form whose
action fails is rolled back, then the page is shown again with the reason.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.pagination import PageParams
from casebook.systems.cashapp import cards, investing_pages, payments, profiles, wallet
from casebook.systems.cashapp.api import purchase_outs
from casebook.systems.cashapp.boosts import CATALOGUE
from casebook.systems.cashapp.cards import IssuedCard
from casebook.systems.cashapp.models import Authorization, Profile
from casebook.systems.cashapp.network import UnknownMerchant
from casebook.systems.cashapp.runtime import CashApp, cashapp
from casebook.systems.cashapp.schemas import MAX_TRANSFER
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(FilePath(__file__).with_name("templates"))
router = APIRouter()
router.include_router(investing_pages.router)

HOME = "/cashapp/"
FEED_LINES = 15


async def _state(platform: Annotated[Platform, Depends(get_platform)]) -> CashApp:
    return cashapp(platform)


State = Annotated[CashApp, Depends(_state)]
Amount = Annotated[str, Form(max_length=16)]
Handle = Annotated[str, Form(max_length=254)]
RowId = Annotated[int, Path(gt=0, lt=2**63)]


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={HOME}", status_code=303)


def _cents(text: str) -> int:
    """A dollar amount typed in a form (`12`, `12.5`, `12.50`) in cents; raises InvalidInput."""
    whole, _, frac = text.strip().removeprefix("$").partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise InvalidInput("Amounts are dollars and at most two decimals, like 12.50.")
    cents = int(whole) * 100 + int(frac.ljust(2, "0") or 0)
    if not 0 < cents <= MAX_TRANSFER:
        raise InvalidInput("The amount must be more than 0 and at most $1,000,000.")
    return cents


async def _page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    *,
    error: str | None = None,
    issued: IssuedCard | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    profile = await session.get(Profile, viewer.user_id)
    context: dict[str, Any] = {
        "home": HOME,
        "error": error,
        "notice": notice,
        "profile": profile,
        "issued": issued,
        "boosts": CATALOGUE,
        "boost_titles": {b.id: b.title for b in CATALOGUE},
    }
    if profile is not None:
        account = await wallet.balance(session, viewer.user_id)
        feed, _ = await wallet.activity(session, viewer.user_id, cursor=None, limit=FEED_LINES)
        pending, _ = await payments.list_payments(
            session, viewer.user_id, PageParams(limit=50), pending_only=True
        )
        people = await profiles.parties(
            session, {u for p in pending for u in (p.payer_id, p.payee_id)}
        )
        owned = await cards.cards_of(session, viewer.user_id)
        card = owned[0] if owned else None
        recent: list[Any] = []
        if card is not None:
            rows = list(
                await session.scalars(
                    select(Authorization)
                    .where(Authorization.card_id == card.id)
                    .order_by(Authorization.created_at.desc(), Authorization.id.desc())
                    .limit(10)
                )
            )
            recent = await purchase_outs(session, rows)
        context.update(
            account=account,
            feed=feed,
            pending=[(p, people.get(p.payer_id), people.get(p.payee_id)) for p in pending],
            card=card,
            purchases=recent,
            merchants=list(cashapp(request.app.state.platform).network.merchants.values()),
        )
        context.update(
            await investing_pages.section(request.app.state.platform, session, viewer.user_id)
        )
    return templates.render(
        request, "cashapp_home.html", context, viewer=viewer, status_code=status_code
    )


async def _failed(
    request: Request, viewer: Viewer, session: AsyncSession, problem: Problem
) -> HTMLResponse:
    await session.rollback()
    return await _page(request, viewer, session, error=problem.detail, status_code=problem.status)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, viewer: OptionalViewer, session: Session) -> Response:
    """Your CashApp: balance, payments, activity and card."""
    if viewer is None:
        return _login_redirect(request)
    return await _page(request, viewer, session)


@router.post("/profile", response_class=HTMLResponse)
async def save_profile(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    cashtag: Annotated[str, Form(max_length=32)],
) -> Response:
    if viewer is None:
        return _login_redirect(request)
    try:
        await profiles.save_profile(session, viewer.user_id, cashtag)
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return RedirectResponse(HOME, status_code=303)


@router.post("/add-cash", response_class=HTMLResponse)
async def add_cash(
    request: Request, viewer: OptionalViewer, _: SameOrigin, session: WriteSession, amount: Amount
) -> Response:
    if viewer is None:
        return _login_redirect(request)
    try:
        await wallet.add_cash(session, viewer.user_id, _cents(amount))
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return RedirectResponse(HOME, status_code=303)


@router.post("/send", response_class=HTMLResponse)
async def send(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    to: Handle,
    amount: Amount,
    note: Annotated[str, Form(max_length=140)] = "",
    mode: Annotated[str, Form(pattern="^(pay|request)$")] = "pay",
) -> Response:
    """Pay someone, or request money from them, by $cashtag, phone or e-mail."""
    if viewer is None:
        return _login_redirect(request)
    try:
        if mode == "pay":
            await payments.send(session, viewer.user_id, to, _cents(amount), note)
        else:
            await payments.request(session, viewer.user_id, to, _cents(amount), note)
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return RedirectResponse(HOME, status_code=303)


@router.post("/requests/{payment_id}/{action}", response_class=HTMLResponse)
async def answer(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    payment_id: RowId,
    action: Annotated[str, Path(pattern="^(accept|decline|cancel)$")],
) -> Response:
    if viewer is None:
        return _login_redirect(request)
    try:
        await payments.answer_request(session, viewer.user_id, payment_id, action)
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return RedirectResponse(HOME, status_code=303)


@router.post("/card", response_class=HTMLResponse)
async def issue(
    request: Request, viewer: OptionalViewer, _: SameOrigin, session: WriteSession, state: State
) -> Response:
    """Issue the card and show its number and CVV on this one response."""
    if viewer is None:
        return _login_redirect(request)
    try:
        issued = await cards.issue_card(session, viewer.user_id, state.key)
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return await _page(request, viewer, session, issued=issued, status_code=201)


@router.post("/card/{card_id}/{change}", response_class=HTMLResponse)
async def change_card(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    card_id: RowId,
    change: Annotated[str, Path(pattern="^(freeze|unfreeze|boost)$")],
    boost_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """`freeze`, `unfreeze` or `boost` (with `boost_id`, empty to remove it)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        if change in ("freeze", "unfreeze"):
            status = "frozen" if change == "freeze" else "active"
            await cards.set_status(session, viewer.user_id, card_id, status)
        elif change == "boost":
            await cards.set_boost(session, viewer.user_id, card_id, boost_id or None)
    except Problem as problem:
        return await _failed(request, viewer, session, problem)
    return RedirectResponse(HOME, status_code=303)


@router.post("/terminal", response_class=HTMLResponse)
async def terminal(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    state: State,
    merchant_id: Annotated[str, Form(max_length=64)],
    pan: Annotated[str, Form(max_length=19)],
    expiry: Annotated[str, Form(pattern=r"^[0-9]{2}/[0-9]{4}$")],
    cvv: Annotated[str, Form(pattern=r"^[0-9]{3}$")],
    amount: Amount,
) -> Response:
    """A merchant terminal: authorize the purchase on the simulated network and capture it."""
    if viewer is None:
        return _login_redirect(request)
    platform: Platform = request.app.state.platform
    month, year = (int(part) for part in expiry.split("/"))
    try:
        cents = _cents(amount)
        response = await state.network.authorize(
            merchant_id,
            operator=viewer.user_id,
            pan=pan.replace(" ", ""),
            exp_month=month,
            exp_year=year,
            cvv=cvv,
            amount=cents,
        )
        if response.approved:
            response = await state.network.capture(
                merchant_id, response.network_ref, operator=viewer.user_id
            )
        notice = f"Network answered {response.code} ({response.reason})."
    except Problem as problem:
        notice = problem.detail
    except UnknownMerchant:
        notice = "That merchant is not on the network."
    async with platform.db.session() as session:
        return await _page(request, viewer, session, notice=notice)
