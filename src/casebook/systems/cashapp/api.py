"""`/api/cashapp`: profiles, balance, P2P payments and requests, activity, Cash Card and boosts,
and the simulated card network's merchant terminal.

The seed's endpoints map here (docs/systems/cashapp.md has the table): `POST /transactions/create`
→ `POST /payments`; `GET /transactions/{id}` → `GET /payments/{id}`; `GET /accounts/{user_id}/
balance` and `/transactions` exist as written (your own account only); `POST /cash-cards/activate`
→ `POST /cards` (issue) and `/cards/{id}/unfreeze`; `GET /cash-cards/{id}/balance` →
`GET /cards/{id}/balance`. Registration and login are the platform's `/api/auth/…`.

Credentials: a session may do everything; an API key needs `cashapp:read` to read and
`cashapp:write` to move money or change cards. Every endpoint that moves money accepts
`Idempotency-Key`. Another user's payment, card or purchase answers 404, like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Account
from casebook.platform.auth.deps import Principal, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON, NotFound
from casebook.platform.idempotency import Idempotent
from casebook.platform.pagination import Keyset, Page, PageQuery
from casebook.systems.cashapp import cards, investing_api, issuer, payments, profiles, wallet
from casebook.systems.cashapp.boosts import CATALOGUE
from casebook.systems.cashapp.errors import AuthorizationNotFound
from casebook.systems.cashapp.models import Authorization, Card, Payment, Profile
from casebook.systems.cashapp.network import NetworkResponse, UnknownAuthorization, UnknownMerchant
from casebook.systems.cashapp.runtime import CashApp, cashapp
from casebook.systems.cashapp.schemas import (
    ActivityOut,
    AmountIn,
    BalanceOut,
    BoostIn,
    BoostOut,
    CardOut,
    IssuedCardOut,
    MerchantOut,
    NetworkResponseOut,
    PartyOut,
    PaymentIn,
    PaymentOut,
    ProfileIn,
    ProfileOut,
    PurchaseOut,
    RequestIn,
    TerminalAuthorizationIn,
    TerminalCaptureIn,
    TerminalReverseIn,
)

READ = "cashapp:read"
WRITE = "cashapp:write"

router = APIRouter()
router.include_router(investing_api.router)

Reader = Annotated[Principal, Depends(require_scope(READ))]
Writer = Annotated[Principal, Depends(require_scope(WRITE))]
Id = Annotated[int, Path(gt=0, lt=2**63)]
NetworkRef = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


async def get_cashapp(platform: Annotated[Platform, Depends(get_platform)]) -> CashApp:
    return cashapp(platform)


State = Annotated[CashApp, Depends(get_cashapp)]

_MEANINGS = {
    401: "Missing or invalid credentials",
    403: "The credential lacks the needed scope",
    404: "Not found (or not yours)",
    409: "Conflict: insufficient funds, already answered, taken, or no $cashtag yet",
    422: "Invalid input",
}
PURCHASES = Keyset(Authorization.created_at, Authorization.id)


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


def _profile_out(profile: Profile) -> ProfileOut:
    return ProfileOut(
        user_id=profile.user_id,
        cashtag=profile.cashtag,
        phone=profile.phone,
        email=profile.email,
        is_business=profile.is_business,
        created_at=profile.created_at,
    )


def _balance_out(user_id: int, account: Account) -> BalanceOut:
    return BalanceOut(
        user_id=user_id,
        currency=account.currency,
        balance=account.posted,
        held=account.held,
        available=account.available,
    )


async def payment_outs(
    session: AsyncSession, user_id: int, rows: list[Payment]
) -> list[PaymentOut]:
    """The payments as the caller sees them, with both parties' public profiles."""
    people = await profiles.parties(session, {u for p in rows for u in (p.payer_id, p.payee_id)})

    def party(uid: int) -> PartyOut | None:
        p = people.get(uid)
        return PartyOut(**vars(p)) if p else None

    return [
        PaymentOut(
            id=p.id,
            kind=p.kind,
            direction="in" if p.payee_id == user_id else "out",
            payer=party(p.payer_id),
            payee=party(p.payee_id),
            amount=p.amount,
            currency=p.currency,
            note=p.note,
            status=p.status,
            created_at=p.created_at,
            resolved_at=p.resolved_at,
        )
        for p in rows
    ]


def card_out(card: Card) -> CardOut:
    return CardOut(
        id=card.id,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        status=card.status,
        boost_id=card.boost_id,
    )


async def purchase_outs(session: AsyncSession, rows: list[Authorization]) -> list[PurchaseOut]:
    statuses = await issuer.current_statuses(session, rows)
    outs = []
    for a in rows:
        captured = a.captured_amount
        discount = a.captured_discount if captured is not None else a.discount
        amount = captured if captured is not None else a.amount
        outs.append(
            PurchaseOut(
                id=a.id,
                merchant_id=a.merchant_id,
                merchant_name=a.merchant_name,
                amount=a.amount,
                discount=discount or 0,
                charged=0 if a.status == "declined" else amount - (discount or 0),
                boost_id=a.boost_id,
                status=statuses[a.id],
                decline_reason=a.decline_reason,
                captured_amount=captured,
                created_at=a.created_at,
            )
        )
    return outs


# Profile


@router.put("/profile", response_model=ProfileOut, responses=_problems(401, 403, 409, 422))
async def save_profile(body: ProfileIn, principal: Writer, session: WriteSession) -> ProfileOut:
    """Create or change your CashApp profile: a unique $cashtag (case-insensitive), and an
    optional phone and e-mail others can find you by. Creating it opens your balance."""
    profile = await profiles.save_profile(
        session,
        principal.user_id,
        body.cashtag,
        phone=body.phone,
        email=str(body.email) if body.email else None,
        is_business=body.is_business,
    )
    return _profile_out(profile)


@router.get("/profile", response_model=ProfileOut, responses=_problems(401, 403, 409))
async def get_profile(principal: Reader, session: Session) -> ProfileOut:
    """Your CashApp profile (409 `profile-required` before you create one)."""
    return _profile_out(await profiles.require_profile(session, principal.user_id))


@router.get("/lookup", response_model=PartyOut, responses=_problems(401, 403, 404, 422))
async def lookup(
    principal: Reader,
    session: Session,
    handle: Annotated[str, Query(min_length=2, max_length=254)],
) -> PartyOut:
    """Find whom a $cashtag, phone or e-mail belongs to (their public profile only)."""
    profile = await profiles.find_party(session, handle)
    found = await profiles.parties(session, {profile.user_id})
    return PartyOut(**vars(found[profile.user_id]))


# Balance


@router.get("/balance", response_model=BalanceOut, responses=_problems(401, 403, 409))
async def get_balance(principal: Reader, session: Session) -> BalanceOut:
    """Your balance: posted, held by card authorizations, and available."""
    return _balance_out(principal.user_id, await wallet.balance(session, principal.user_id))


@router.get(
    "/accounts/{user_id}/balance", response_model=BalanceOut, responses=_problems(401, 403, 404)
)
async def get_account_balance(user_id: Id, principal: Reader, session: Session) -> BalanceOut:
    """The seed's balance endpoint; only your own `user_id` (anyone else's is 404)."""
    if user_id != principal.user_id:
        raise NotFound("You can only read your own account.")
    return _balance_out(user_id, await wallet.balance(session, user_id))


@router.post(
    "/add-cash",
    response_model=BalanceOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 409, 422),
)
async def add_cash(body: AmountIn, principal: Writer, session: WriteSession) -> BalanceOut:
    """Add cash from your linked bank. Accepts `Idempotency-Key`."""
    account = await wallet.add_cash(session, principal.user_id, body.amount)
    return _balance_out(principal.user_id, account)


@router.post(
    "/cash-out",
    response_model=BalanceOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 409, 422),
)
async def cash_out(body: AmountIn, principal: Writer, session: WriteSession) -> BalanceOut:
    """Move money to your linked bank; 409 `ledger/exceeds-credits` if the available balance is
    short. Accepts `Idempotency-Key`."""
    account = await wallet.cash_out(session, principal.user_id, body.amount)
    return _balance_out(principal.user_id, account)


@router.get("/activity", response_model=Page[ActivityOut], responses=_problems(401, 403, 409, 422))
async def activity(principal: Reader, session: Session, page: PageQuery) -> Page[ActivityOut]:
    """Your activity feed: every movement of your balance, newest first, with running balance."""
    items, cursor = await wallet.activity(
        session, principal.user_id, cursor=page.cursor, limit=page.limit
    )
    return Page[ActivityOut](items=[ActivityOut(**vars(i)) for i in items], next_cursor=cursor)


# Payments and requests


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422),
)
async def send_payment(body: PaymentIn, principal: Writer, session: WriteSession) -> PaymentOut:
    """Send money to a person or business by $cashtag, phone or e-mail (the seed's
    `POST /transactions/create`). Atomic: 409 `ledger/exceeds-credits` and nothing recorded if
    your available balance is short. Accepts `Idempotency-Key`."""
    payment = await payments.send(session, principal.user_id, body.to, body.amount, body.note)
    return (await payment_outs(session, principal.user_id, [payment]))[0]


@router.post(
    "/requests",
    status_code=201,
    response_model=PaymentOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422),
)
async def request_payment(body: RequestIn, principal: Writer, session: WriteSession) -> PaymentOut:
    """Request money from someone; it waits for them to accept or decline."""
    payment = await payments.request(session, principal.user_id, body.from_, body.amount, body.note)
    return (await payment_outs(session, principal.user_id, [payment]))[0]


async def _answer(
    session: AsyncSession, principal: Principal, payment_id: int, action: str
) -> PaymentOut:
    payment = await payments.answer_request(session, principal.user_id, payment_id, action)
    return (await payment_outs(session, principal.user_id, [payment]))[0]


@router.post(
    "/requests/{payment_id}/accept",
    response_model=PaymentOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409),
)
async def accept_request(payment_id: Id, principal: Writer, session: WriteSession) -> PaymentOut:
    """Pay a request made of you. Paid at most once, however often it is sent."""
    return await _answer(session, principal, payment_id, "accept")


@router.post(
    "/requests/{payment_id}/decline",
    response_model=PaymentOut,
    responses=_problems(401, 403, 404, 409),
)
async def decline_request(payment_id: Id, principal: Writer, session: WriteSession) -> PaymentOut:
    """Refuse a request made of you."""
    return await _answer(session, principal, payment_id, "decline")


@router.post(
    "/requests/{payment_id}/cancel",
    response_model=PaymentOut,
    responses=_problems(401, 403, 404, 409),
)
async def cancel_request(payment_id: Id, principal: Writer, session: WriteSession) -> PaymentOut:
    """Withdraw a request you made."""
    return await _answer(session, principal, payment_id, "cancel")


@router.get("/payments", response_model=Page[PaymentOut], responses=_problems(401, 403, 422))
async def list_payments(
    principal: Reader,
    session: Session,
    page: PageQuery,
    pending: Annotated[bool, Query(description="Only requests still waiting.")] = False,
) -> Page[PaymentOut]:
    """Your payments and requests, both directions, newest first."""
    rows, cursor = await payments.list_payments(
        session, principal.user_id, page, pending_only=pending
    )
    return Page[PaymentOut](
        items=await payment_outs(session, principal.user_id, rows), next_cursor=cursor
    )


@router.get(
    "/accounts/{user_id}/transactions",
    response_model=Page[PaymentOut],
    responses=_problems(401, 403, 404, 422),
)
async def account_transactions(
    user_id: Id, principal: Reader, session: Session, page: PageQuery
) -> Page[PaymentOut]:
    """The seed's transaction list; only your own `user_id`."""
    if user_id != principal.user_id:
        raise NotFound("You can only read your own account.")
    return await list_payments(principal, session, page)


@router.get("/payments/{payment_id}", response_model=PaymentOut, responses=_problems(401, 403, 404))
async def get_payment(payment_id: Id, principal: Reader, session: Session) -> PaymentOut:
    """One of your payments with its status (the seed's `GET /transactions/{id}`)."""
    payment = await payments.get_payment(session, principal.user_id, payment_id)
    return (await payment_outs(session, principal.user_id, [payment]))[0]


# Cash Card and boosts


@router.post(
    "/cards", status_code=201, response_model=IssuedCardOut, responses=_problems(401, 403, 409)
)
async def issue_card(principal: Writer, session: WriteSession, state: State) -> IssuedCardOut:
    """Issue your Cash Card. The response is the only time its number and CVV are shown: CashApp
    keeps a keyed hash and the last four digits. (Not idempotent by key, since replaying would
    mean storing the number; a second issue is 409.)"""
    issued = await cards.issue_card(session, principal.user_id, state.key)
    return IssuedCardOut(**card_out(issued.card).model_dump(), pan=issued.pan, cvv=issued.cvv)


@router.get("/cards", response_model=list[CardOut], responses=_problems(401, 403))
async def list_cards(principal: Reader, session: Session) -> list[CardOut]:
    """Your Cash Card (a list of at most one)."""
    return [card_out(c) for c in await cards.cards_of(session, principal.user_id)]


@router.get("/cards/{card_id}", response_model=CardOut, responses=_problems(401, 403, 404))
async def get_card(card_id: Id, principal: Reader, session: Session) -> CardOut:
    return card_out(await cards.own_card(session, principal.user_id, card_id))


@router.get("/cards/{card_id}/balance", responses=_problems(401, 403, 404))
async def card_balance(card_id: Id, principal: Reader, session: Session) -> dict[str, Any]:
    """The seed's card balance: the card spends the balance it is linked to."""
    await cards.own_card(session, principal.user_id, card_id)
    account = await wallet.balance(session, principal.user_id)
    return {"card_id": str(card_id), "balance": account.posted, "available": account.available}


@router.post("/cards/{card_id}/freeze", response_model=CardOut, responses=_problems(401, 403, 404))
async def freeze_card(card_id: Id, principal: Writer, session: WriteSession) -> CardOut:
    """Freeze your card: every new purchase is declined until you unfreeze it."""
    return card_out(await cards.set_status(session, principal.user_id, card_id, "frozen"))


@router.post(
    "/cards/{card_id}/unfreeze", response_model=CardOut, responses=_problems(401, 403, 404)
)
async def unfreeze_card(card_id: Id, principal: Writer, session: WriteSession) -> CardOut:
    """Unfreeze (activate) your card."""
    return card_out(await cards.set_status(session, principal.user_id, card_id, "active"))


@router.get("/boosts", response_model=list[BoostOut], responses=_problems(401, 403))
async def list_boosts(principal: Reader) -> list[BoostOut]:
    """The boosts on offer."""
    return [
        BoostOut(
            id=b.id,
            merchant_id=b.merchant_id,
            title=b.title,
            percent=b.percent_bp / 100,
            max_discount=b.max_discount,
        )
        for b in CATALOGUE
    ]


@router.put(
    "/cards/{card_id}/boost", response_model=CardOut, responses=_problems(401, 403, 404, 422)
)
async def add_boost(
    card_id: Id, body: BoostIn, principal: Writer, session: WriteSession
) -> CardOut:
    """Put a boost on your card; it replaces the one there (one boost at a time)."""
    return card_out(await cards.set_boost(session, principal.user_id, card_id, body.boost_id))


@router.delete("/cards/{card_id}/boost", response_model=CardOut, responses=_problems(401, 403, 404))
async def remove_boost(card_id: Id, principal: Writer, session: WriteSession) -> CardOut:
    return card_out(await cards.set_boost(session, principal.user_id, card_id, None))


@router.get(
    "/cards/{card_id}/purchases",
    response_model=Page[PurchaseOut],
    responses=_problems(401, 403, 404, 422),
)
async def list_purchases(
    card_id: Id, principal: Reader, session: Session, page: PageQuery
) -> Page[PurchaseOut]:
    """Your card's purchases (approved, captured, reversed, expired and declined), newest first."""
    await cards.own_card(session, principal.user_id, card_id)
    rows, cursor = await PURCHASES.fetch(
        session, select(Authorization).where(Authorization.card_id == card_id), page
    )
    return Page[PurchaseOut](items=await purchase_outs(session, rows), next_cursor=cursor)


# The simulated card network's merchant terminal


def _network_out(response: NetworkResponse) -> NetworkResponseOut:
    return NetworkResponseOut(
        network_ref=response.network_ref,
        approved=response.approved,
        code=response.code,
        reason=response.reason,
        amount=response.amount,
        discount=response.discount,
    )


@router.get("/network/merchants", response_model=list[MerchantOut], responses=_problems(401))
async def list_merchants(principal: Reader, state: State) -> list[MerchantOut]:
    """Merchants registered on the simulated card network."""
    return [MerchantOut(id=m.id, name=m.name, mcc=m.mcc) for m in state.network.merchants.values()]


@router.post(
    "/network/authorizations",
    response_model=NetworkResponseOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 422),
)
async def terminal_authorize(
    body: TerminalAuthorizationIn, principal: Writer, state: State
) -> NetworkResponseOut:
    """A merchant terminal asks the simulated network to authorize a card purchase. The answer
    carries an ISO 8583 code (00 approved, 51 insufficient funds, 62 card frozen, 14 invalid
    number…) and the `network_ref` to capture or reverse it with."""
    try:
        response = await state.network.authorize(
            body.merchant_id,
            operator=principal.user_id,
            pan=body.pan,
            exp_month=body.exp_month,
            exp_year=body.exp_year,
            cvv=body.cvv,
            amount=body.amount,
        )
    except UnknownMerchant as exc:
        raise NotFound(f"No merchant {body.merchant_id!r} on the network.") from exc
    return _network_out(response)


@router.post(
    "/network/authorizations/{network_ref}/capture",
    response_model=NetworkResponseOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 422),
)
async def terminal_capture(
    network_ref: NetworkRef, body: TerminalCaptureIn, principal: Writer, state: State
) -> NetworkResponseOut:
    """Capture (settle) an authorization, for less than authorized if `amount` says so."""
    try:
        response = await state.network.capture(
            body.merchant_id, network_ref, operator=principal.user_id, amount=body.amount
        )
    except (UnknownMerchant, UnknownAuthorization) as exc:
        raise AuthorizationNotFound(f"No authorization {network_ref} from that merchant.") from exc
    return _network_out(response)


@router.post(
    "/network/authorizations/{network_ref}/reverse",
    response_model=NetworkResponseOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 422),
)
async def terminal_reverse(
    network_ref: NetworkRef, body: TerminalReverseIn, principal: Writer, state: State
) -> NetworkResponseOut:
    """Reverse an authorization the merchant will not capture: the hold is released."""
    try:
        response = await state.network.reverse(
            body.merchant_id, network_ref, operator=principal.user_id
        )
    except (UnknownMerchant, UnknownAuthorization) as exc:
        raise AuthorizationNotFound(f"No authorization {network_ref} from that merchant.") from exc
    return _network_out(response)
