"""Cash App bitcoin: buy bitcoin for dollars from the balance, sell it back into the balance,
executed on the Binance venue's BTCUSDT book from ONE Cash App house account there.

**Money.** Customers' bitcoin is Cash App's ledger: `cashapp:user:<id>` / bitcoin / BTC, in
satoshis (a liability, never negative). House accounts (owner `cashapp`): `bitcoin-escrow` in
USD (a buy's dollars) and in BTC (a sale's satoshis) while the venue order runs;
`bitcoin-custody` / BTC (equity): minus its balance is exactly the bitcoin the house account
holds at the venue for customers; `bitcoin-trading` / USD (equity): customers' dollars paid in
and paid out. **USD ↔ USDT is a 1:1 treasury conversion**: Cash App's treasury funds the house
account at the venue with USDT (`TREASURY_USDT`, a fixed-id deposit made once), the venue's
fees are paid from it, and one USDT tick (0.01 USDT) is one cent. So the venue's notional,
in USDT minor units (10^8 per USDT), is `cents · 10^6`.

**Buy $X** (cents): the dollars move to escrow in the transaction that records the order (the
wallet never goes negative: concurrent buys cannot overspend). The desk walks the ask side
of the book to the first level p where the depth up to p covers
`lots(p) = floor(X · 10^6 / (p · npl))`, and sends a limit IOC for `lots(p)` at p: whatever it
fills costs at most `lots · p · npl ≤ X · 10^6`, so the charge never exceeds the dollars. The
customer gets `filled lots · lot size` satoshis (lot = 0.00001 BTC: Binance's LOT_SIZE) and
pays the fill's notional in cents, rounded half up (never more than X); the rest of the
escrow comes back. **Sell** `q` BTC (a whole number of lots): the satoshis move to escrow, a
market IOC sells them, the customer gets the notional in cents rounded half up, unsold
satoshis come back. Commission-free to the customer: the house pays the venue's fees (USDT).

**Exactly once.** Every ledger leg's id is derived from (order, step); `settle` locks the
order row and does nothing for a closed order. A crash between the venue's fill and the
settlement is repaired by `reconcile`, run when the desk first opens in a process: open orders
settle from the venue's order row found by client order id `ca-btc-<id>`; one that never
reached the venue is rejected with its escrow returned.

Costs: a buy or sell is two write transactions of at most four ledger transfers each and one
venue order; walking the book is O(levels).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import AccountKind, InsufficientFunds, Ledger, Transfer
from casebook.engines.ledger.models import LedgerAccount
from casebook.engines.matching import venue as venues
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import SelfTrade, Side, TimeInForce
from casebook.engines.matching.venue import Instrument, NewOrder, OrderView, Venue
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput, NotFound, Problem
from casebook.platform.ids import new_id
from casebook.systems.cashapp import profiles
from casebook.systems.cashapp.accounts import HOUSE, open_wallet, wallet_owner
from casebook.systems.cashapp.investing import InvestingUnavailable
from casebook.systems.cashapp.investing_models import BitcoinOrder
from casebook.systems.robinhood.books import transfer_id
from casebook.systems.robinhood.brokerage import move
from casebook.systems.robinhood.errors import InsufficientShares, NoMarket

VENUE = "binance"
SYMBOL = "BTCUSDT"
BTC = "BTC"
USD = "USD"
SATS = 10**8
CENTS_TO_USDT_MINOR = 10**6
"""0.01 USDT = 10^6 USDT minor units = 1 cent (1:1 treasury conversion)."""
HOUSE_OWNER = "cashapp:bitcoin-house"
TREASURY_USDT = 1_000_000 * 10**8
"""USDT the treasury deposits in the house account at the venue (1,000,000 USDT)."""
TREASURY_TRANSFER_ID = 0xCA5B_0000_0001
MIN_CENTS = 100
MAX_CENTS = 1_000_000_00
DEPTH_LEVELS = 50
CLIENT_PREFIX = "ca-btc-"
FINAL = frozenset({"filled", "cancelled", "expired", "rejected"})
_STATE = "cashapp:bitcoin-desk"


class BitcoinOrderNotFound(NotFound):
    type_ = "cashapp/bitcoin-order-not-found"
    title = "No such bitcoin order (or not yours)"


@dataclass(frozen=True)
class Desk:
    venue: Venue
    instrument: Instrument
    account_id: int
    """The Cash App house account at the venue."""


@dataclass(frozen=True)
class Accounts:
    wallet: int
    bitcoin: int
    escrow_usd: int
    escrow_btc: int
    custody: int
    trading: int


async def desk(platform: Platform) -> Desk:
    """The bitcoin desk of this process: the house account at the venue (opened and funded by
    the treasury once, whatever restarts) and a reconciliation of orders a crash left open.
    InvestingUnavailable (503) while the venue or its BTCUSDT pair is not up."""
    found = platform.state.get(_STATE)
    if isinstance(found, Desk):
        return found
    try:
        venue = venues.get(platform, VENUE)
    except KeyError:
        raise InvestingUnavailable("The bitcoin market is not running.") from None
    async with platform.db.session(write=True) as session:
        try:
            instrument = await venue.instrument(session, SYMBOL)
        except Problem:
            raise InvestingUnavailable("The bitcoin market is not listed.") from None
        account_id = await venue.open_account(session, HOUSE_OWNER, None)
        await venue.credit(
            session, account_id, "USDT", TREASURY_USDT, TREASURY_TRANSFER_ID, "cashapp:treasury"
        )
    made = Desk(venue, instrument, account_id)
    found = platform.state.setdefault(_STATE, made)
    if found is made:
        await reconcile(platform, made)
    return found


async def best_bid(platform: Platform, session: AsyncSession) -> int | None:
    """What the market pays for 1 BTC now, in cents (USDT ticks), read-only (no desk needed,
    so a page render holding a write transaction can call it); None without bids. Raises
    InvestingUnavailable (503) when the market is not running."""
    try:
        venue = venues.get(platform, VENUE)
        instrument = await venue.instrument(session, SYMBOL)
    except (KeyError, Problem):
        raise InvestingUnavailable("The bitcoin market is not running.") from None
    return venue.book(instrument.id).best_bid()


async def _accounts(ledger: Ledger, user_id: int) -> Accounts:
    """Every account a bitcoin order touches (opened if missing), then locked in id order."""
    wallet = await open_wallet(ledger, user_id)
    bitcoin = await ledger.open_account(
        owner=wallet_owner(user_id), name="bitcoin", currency=BTC, kind=AccountKind.LIABILITY
    )
    escrow_usd = await ledger.open_account(
        owner=HOUSE, name="bitcoin-escrow", currency=USD, kind=AccountKind.LIABILITY
    )
    escrow_btc = await ledger.open_account(
        owner=HOUSE, name="bitcoin-escrow", currency=BTC, kind=AccountKind.LIABILITY
    )
    custody = await ledger.open_account(
        owner=HOUSE,
        name="bitcoin-custody",
        currency=BTC,
        kind=AccountKind.EQUITY,
        allow_negative=True,
    )
    trading = await ledger.open_account(
        owner=HOUSE,
        name="bitcoin-trading",
        currency=USD,
        kind=AccountKind.EQUITY,
        allow_negative=True,
    )
    found = Accounts(wallet.id, bitcoin.id, escrow_usd.id, escrow_btc.id, custody.id, trading.id)
    await ledger.session.execute(
        select(LedgerAccount.id)
        .where(LedgerAccount.id.in_(sorted(vars(found).values())))
        .order_by(LedgerAccount.id)
        .with_for_update()
    )
    return found


def _leg(order_id: int, step: str, debit: int, credit: int, amount: int) -> Transfer:
    return Transfer(
        id=transfer_id("cashapp-bitcoin", order_id, step),
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        code=f"bitcoin-{step}",
        reference=f"cashapp:bitcoin:{order_id}",
    )


def cents_of(usdt_minor: int) -> int:
    """USDT minor units to cents, rounded half up (1:1 treasury conversion). O(1)."""
    return (2 * usdt_minor + CENTS_TO_USDT_MINOR) // (2 * CENTS_TO_USDT_MINOR)


def buy_size(asks: list[tuple[int, int, int]], cents: int, npl: int) -> tuple[int, int] | None:
    """(lots, limit price) for a buy of `cents`: the first ask level p whose depth up to p
    covers floor(cents · 10^6 / (p · npl)) lots, or the deepest level seen when none does
    (a partial fill). None when the dollars buy no lot. O(levels)."""
    depth = 0
    choice: tuple[int, int] | None = None
    for price, qty, _ in asks:
        depth += qty
        lots = cents * CENTS_TO_USDT_MINOR // (price * npl)
        if lots == 0:
            break
        choice = (lots, price)
        if depth >= lots:
            break
    return choice


async def buy(platform: Platform, user_id: int, cents: int) -> BitcoinOrder:
    """Buy bitcoin for `cents` from the wallet. Raises InvalidInput (422: amount out of range or
    too small for one lot), NoMarket (422), ProfileRequired (409), InsufficientFunds (409),
    InvestingUnavailable (503); nothing is written then."""
    if not MIN_CENTS <= cents <= MAX_CENTS:
        raise InvalidInput("amount must be between 1.00 and 1,000,000.00 dollars.", field="amount")
    found = await desk(platform)
    npl = found.instrument.npl
    order_id = new_id()
    _, asks = found.venue.book(found.instrument.id).depth(DEPTH_LEVELS)
    if not asks:
        raise NoMarket("Nobody sells bitcoin right now.")
    size = buy_size(asks, cents, npl)
    if size is None:
        raise InvalidInput("The amount buys less than 0.00001 BTC.", field="amount")
    lots, price = size
    async with platform.db.session(write=True) as session:
        await profiles.require_profile(session, user_id)
        ledger = Ledger(session)
        acc = await _accounts(ledger, user_id)
        await move(ledger, [_leg(order_id, "escrow", acc.wallet, acc.escrow_usd, cents)])
        sats = lots * found.instrument.lot_size
        _row(session, order_id, user_id, "buy", cents, sats, lots, price)
    command = NewOrder(
        account_id=found.account_id,
        instrument_id=found.instrument.id,
        side=Side.BUY,
        qty=lots,
        price=price,
        tif=TimeInForce.IOC,
        stp=SelfTrade.NONE,
        client_order_id=f"{CLIENT_PREFIX}{order_id}",
    )
    return await _execute(platform, order_id, found, command)


async def sell(platform: Platform, user_id: int, btc: Decimal) -> BitcoinOrder:
    """Sell `btc` (a multiple of 0.00001) at market into the wallet. Raises InvalidInput (422),
    NoMarket (422), ProfileRequired (409), InsufficientShares (409: you hold less),
    InvestingUnavailable (503); nothing is written then."""
    found = await desk(platform)
    sats = btc * SATS
    lot = found.instrument.lot_size
    if sats != int(sats) or int(sats) <= 0 or int(sats) % lot or int(sats) > 100 * SATS:
        raise InvalidInput("Sell a multiple of 0.00001 BTC, up to 100 BTC.", field="btc")
    amount = int(sats)
    order_id = new_id()
    if found.venue.book(found.instrument.id).best_bid() is None:
        raise NoMarket("Nobody buys bitcoin right now.")
    async with platform.db.session(write=True) as session:
        await profiles.require_profile(session, user_id)
        ledger = Ledger(session)
        acc = await _accounts(ledger, user_id)
        try:
            await move(ledger, [_leg(order_id, "escrow", acc.bitcoin, acc.escrow_btc, amount)])
        except InsufficientFunds:
            raise InsufficientShares(f"You hold less than {btc} BTC.") from None
        _row(session, order_id, user_id, "sell", None, amount, amount // lot, None)
    command = NewOrder(
        account_id=found.account_id,
        instrument_id=found.instrument.id,
        side=Side.SELL,
        qty=amount // lot,
        type="market",
        tif=TimeInForce.IOC,
        stp=SelfTrade.NONE,
        client_order_id=f"{CLIENT_PREFIX}{order_id}",
    )
    return await _execute(platform, order_id, found, command)


def _row(
    session: AsyncSession,
    order_id: int,
    user_id: int,
    side: str,
    cents: int | None,
    sats: int,
    lots: int,
    limit_price: int | None,
) -> None:
    now = utcnow()
    session.add(
        BitcoinOrder(
            id=order_id,
            user_id=user_id,
            side=side,
            cents=cents,
            sats=sats,
            reserved=cents if cents is not None else sats,
            lots=lots,
            limit_price=limit_price,
            status="pending",
            created_at=now,
            updated_at=now,
        )
    )


async def _execute(
    platform: Platform, order_id: int, found: Desk, command: NewOrder
) -> BitcoinOrder:
    try:
        view = await found.venue.place(command)
    except Problem as problem:
        async with platform.db.session(write=True) as session:
            return await _reject(session, order_id, problem.detail or problem.title)
    async with platform.db.session(write=True) as session:
        return await settle(session, order_id, view, found.instrument.lot_size)


async def _locked(session: AsyncSession, order_id: int) -> BitcoinOrder:
    row = await session.scalar(
        select(BitcoinOrder).where(BitcoinOrder.id == order_id).with_for_update()
    )
    if row is None:
        raise BitcoinOrderNotFound(f"There is no bitcoin order {order_id}.")
    return row


async def _reject(session: AsyncSession, order_id: int, reason: str) -> BitcoinOrder:
    row = await _locked(session, order_id)
    if row.closed:
        return row
    ledger = Ledger(session)
    acc = await _accounts(ledger, row.user_id)
    source = acc.escrow_usd if row.side == "buy" else acc.escrow_btc
    back = acc.wallet if row.side == "buy" else acc.bitcoin
    await move(ledger, [_leg(row.id, "refund", source, back, row.reserved)])
    row.status, row.reason, row.closed, row.updated_at = "rejected", reason[:200], True, utcnow()
    return row


async def settle(
    session: AsyncSession, order_id: int, view: OrderView, lot_size: int
) -> BitcoinOrder:
    """Settle the order from its final venue order `view` (see the module docstring); a no-op
    for a closed order or a view that is not final. Idempotent. O(1) transfers."""
    row = await _locked(session, order_id)
    if row.closed or view.status not in FINAL:
        return row
    row.venue_order_id = view.id
    ledger = Ledger(session)
    acc = await _accounts(ledger, row.user_id)
    sats = view.filled_qty * lot_size
    cents = cents_of(view.notional_filled) if sats else 0
    if row.side == "buy":
        assert cents <= row.reserved  # the size rule bounds the notional by the dollars
        legs = [
            _leg(row.id, "deliver", acc.custody, acc.bitcoin, sats),
            _leg(row.id, "charge", acc.escrow_usd, acc.trading, cents),
            _leg(row.id, "refund", acc.escrow_usd, acc.wallet, row.reserved - cents),
        ]
    else:
        legs = [
            _leg(row.id, "sold", acc.escrow_btc, acc.custody, sats),
            _leg(row.id, "proceeds", acc.trading, acc.wallet, cents),
            _leg(row.id, "refund", acc.escrow_btc, acc.bitcoin, row.reserved - sats),
        ]
    await move(ledger, legs)
    row.filled_sats, row.amount, row.closed = sats, cents, True
    want = row.sats
    row.status = "filled" if sats == want else "partially_filled" if sats else "cancelled"
    if row.status == "cancelled":
        row.reason = (view.reason or "No bitcoin traded at the price.")[:200]
    row.updated_at = utcnow()
    return row


async def reconcile(platform: Platform, found: Desk) -> int:
    """Settle the orders a crash left open from the venue's order rows; reject (with the
    escrow returned) those that never reached the venue. Returns the orders touched."""
    async with platform.db.session() as session:
        open_ids = list(
            await session.scalars(select(BitcoinOrder.id).where(BitcoinOrder.closed.is_(False)))
        )
    for order_id in open_ids:
        async with platform.db.session(write=True) as session:
            venue_row = await session.scalar(
                select(MatchingOrder).where(
                    MatchingOrder.venue == found.venue.name,
                    MatchingOrder.account_id == found.account_id,
                    MatchingOrder.client_order_id == f"{CLIENT_PREFIX}{order_id}",
                )
            )
            if venue_row is None:
                await _reject(session, order_id, "The order never reached the market.")
            else:
                await settle(session, order_id, OrderView.of(venue_row), found.instrument.lot_size)
    return len(open_ids)


async def holding(session: AsyncSession, user_id: int) -> int:
    """The customer's bitcoin in satoshis (0 before the first buy). O(accounts of the user)."""
    accounts = await Ledger(session).accounts_of(wallet_owner(user_id))
    return sum(a.posted for a in accounts if a.name == "bitcoin" and a.currency == BTC)


async def order_of(session: AsyncSession, user_id: int, order_id: int) -> BitcoinOrder:
    """The customer's bitcoin order; BitcoinOrderNotFound (404) for anyone else's."""
    row = await session.get(BitcoinOrder, order_id)
    if row is None or row.user_id != user_id:
        raise BitcoinOrderNotFound(f"There is no bitcoin order {order_id}.")
    return row
