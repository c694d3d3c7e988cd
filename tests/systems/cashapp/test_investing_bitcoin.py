"""Cash App bitcoin through the app: buy for dollars and sell back on the Binance venue's
BTCUSDT book from Cash App's house account there; exact to the cent and the satoshi; the
custody mirror equals the house's bitcoin at the venue; no overspend under concurrency; a
crash between the venue's fill and the settlement is settled exactly once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.engines.matching import venue as venues
from casebook.engines.matching.types import SelfTrade, Side, TimeInForce
from casebook.engines.matching.venue import NewOrder, Venue
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.cashapp import bitcoin
from casebook.systems.cashapp.investing_models import BitcoinOrder
from casebook.systems.robinhood.brokerage import move
from tests.systems.cashapp.conftest import API, NewUser, balance

FEATURE = "cashapp"
BTC = f"{API}/investments/bitcoin"
ASK, BID = 6_000_000, 5_990_000
"""$60,000.00 and $59,900.00 per BTC, in USDT ticks (0.01 USDT = 1 cent)."""


@pytest.fixture
async def btc_market(platform: Platform) -> Venue:
    """A Binance market maker quoting 0.1 BTC each side of BTCUSDT."""
    venue = venues.get(platform, "binance")
    async with platform.db.session(write=True) as session:
        instrument = await venue.instrument(session, "BTCUSDT")
        maker = await venue.open_account(session, f"test:btc-maker:{new_id()}", None)
        await venue.credit(session, maker, "BTC", 10 * 10**8, new_id(), "test")
        await venue.credit(session, maker, "USDT", 10_000_000 * 10**8, new_id(), "test")
    for side, price in ((Side.SELL, ASK), (Side.BUY, BID)):
        await venue.place(NewOrder(maker, instrument.id, side, 10_000, price=price))
    return venue


async def assert_books(platform: Platform, venue: Venue) -> None:
    """The ledger verifies and minus the custody balance is the house's bitcoin at the venue."""
    found = await bitcoin.desk(platform)
    async with platform.db.session() as session:
        report = await verify(session)
        assert report.ok, report.breaks
        at_venue = {b.asset: b.total for b in await venue.balances(session, found.account_id)}
        custody = [
            a for a in await Ledger(session).accounts_of("cashapp") if a.name == "bitcoin-custody"
        ]
    assert -custody[0].posted == at_venue.get("BTC", 0)


@pytest.mark.feature(FEATURE, "bitcoin-trading")
async def test_buy_bitcoin_for_dollars_and_sell_it_back_exactly(
    client: httpx.AsyncClient, platform: Platform, btc_market: Venue, new_user: NewUser
) -> None:
    ann = await new_user(cash=100_000)
    bought = await client.post(f"{BTC}/buy", json={"amount": 10_000}, headers=ann.headers)
    assert bought.status_code == 201, bought.text
    # $100 at $60,000: floor(100.00 / 0.60) = 166 lots of 0.00001 BTC, costing $99.60.
    assert bought.json() | {"btc": "0.00166000", "filled_btc": "0.00166000"} == bought.json()
    assert (bought.json()["amount"], bought.json()["status"]) == (9_960, "filled")
    assert (await balance(client, ann))["balance"] == 100_000 - 9_960

    sold = await client.post(f"{BTC}/sell", json={"btc": "0.001"}, headers=ann.headers)
    assert sold.status_code == 201, sold.text
    # 0.001 BTC at the $59,900 bid: $59.90.
    assert (sold.json()["amount"], sold.json()["status"]) == (5_990, "filled")
    held = await client.get(BTC, headers=ann.headers)
    assert held.json() | {"btc": "0.00066000", "sats": 66_000, "price": BID} == held.json()
    assert held.json()["balance"] == 100_000 - 9_960 + 5_990
    assert held.json()["value"] == 3_953  # 0.00066 x $59,900 = $39.534 -> $39.53 (half up)
    order_id = sold.json()["id"]
    assert (await client.get(f"{BTC}/orders/{order_id}", headers=ann.headers)).status_code == 200
    await assert_books(platform, btc_market)


@pytest.mark.feature(FEATURE, "bitcoin-trading")
async def test_bad_or_unaffordable_bitcoin_orders_change_nothing(
    client: httpx.AsyncClient, platform: Platform, btc_market: Venue, new_user: NewUser
) -> None:
    ann = await new_user(cash=5_000)
    bob = await new_user(cash=50_000)
    for path, body, status in [
        ("buy", {"amount": 50}, 422),  # under $1.00
        ("buy", {"amount": "lots"}, 422),
        ("buy", {"amount": 10_000}, 409),  # more than the $50 balance
        ("sell", {"btc": "0.000001"}, 422),  # finer than a lot
        ("sell", {"btc": "0.001"}, 409),  # holds none
    ]:
        refused = await client.post(f"{BTC}/{path}", json=body, headers=ann.headers)
        assert refused.status_code == status, (body, refused.text)
    assert (await balance(client, ann))["balance"] == 5_000
    mine = await client.post(f"{BTC}/buy", json={"amount": 1_000}, headers=bob.headers)
    assert mine.status_code == 201
    theirs = await client.get(f"{BTC}/orders/{mine.json()['id']}", headers=ann.headers)
    assert theirs.status_code == 404
    await assert_books(platform, btc_market)


@pytest.mark.feature(FEATURE, "bitcoin-trading")
async def test_concurrent_bitcoin_buys_never_overspend(
    client: httpx.AsyncClient, platform: Platform, btc_market: Venue, new_user: NewUser
) -> None:
    ann = await new_user(cash=100_000)
    answers = await asyncio.gather(
        *(client.post(f"{BTC}/buy", json={"amount": 30_000}, headers=ann.headers) for _ in range(6))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 201, 201, 409, 409, 409], [a.text for a in answers]
    spent = sum(a.json()["amount"] for a in answers if a.status_code == 201)
    assert spent == 3 * 30_000  # 500 lots of 0.00001 BTC at $0.60 each
    assert (await balance(client, ann))["balance"] == 100_000 - spent
    await assert_books(platform, btc_market)


@pytest.mark.feature(FEATURE, "bitcoin-trading")
async def test_reconcile_settles_a_filled_order_and_rejects_an_unsent_one_once(
    client: httpx.AsyncClient, platform: Platform, btc_market: Venue, new_user: NewUser
) -> None:
    ann = await new_user(cash=100_000)
    found = await bitcoin.desk(platform)
    lost, unsent = new_id(), new_id()
    for order_id in (lost, unsent):
        async with platform.db.session(write=True) as session:
            ledger = Ledger(session)
            acc = await bitcoin._accounts(ledger, ann.user_id)
            await move(
                ledger, [bitcoin._leg(order_id, "escrow", acc.wallet, acc.escrow_usd, 6_000)]
            )
            bitcoin._row(session, order_id, ann.user_id, "buy", 6_000, 100_000, 100, ASK)
    # The venue filled `lost`, then the process died before settling it.
    await found.venue.place(
        NewOrder(
            found.account_id,
            found.instrument.id,
            Side.BUY,
            100,
            price=ASK,
            tif=TimeInForce.IOC,
            stp=SelfTrade.NONE,
            client_order_id=f"{bitcoin.CLIENT_PREFIX}{lost}",
        )
    )
    assert (await balance(client, ann))["balance"] == 100_000 - 12_000

    assert await bitcoin.reconcile(platform, found) == 2
    assert await bitcoin.reconcile(platform, found) == 0
    async with platform.db.session() as session:
        settled = await session.get(BitcoinOrder, lost)
        never = await session.get(BitcoinOrder, unsent)
        assert settled is not None and never is not None
        assert (settled.status, settled.amount, settled.filled_sats) == ("filled", 6_000, 100_000)
        assert (never.status, never.closed) == ("rejected", True)
        assert await bitcoin.holding(session, ann.user_id) == 100_000
    assert (await balance(client, ann))["balance"] == 100_000 - 6_000
    await assert_books(platform, btc_market)
