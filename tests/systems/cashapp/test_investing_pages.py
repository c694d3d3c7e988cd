"""The Investing section of /cashapp/: buy a stock by dollars and bitcoin by dollars with the
page's forms, see the holdings, and a refused order shows the reason and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from tests.systems.cashapp.conftest import NewUser, balance
from tests.systems.cashapp.test_investing import market  # noqa: F401  (fixture)
from tests.systems.cashapp.test_investing_bitcoin import btc_market  # noqa: F401  (fixture)

PAGE = "/cashapp/"
SAME_ORIGIN = {"origin": "http://testserver"}


@pytest.mark.feature("cashapp", "stock-investing")
@pytest.mark.feature("cashapp", "bitcoin-trading")
async def test_the_page_buys_stock_and_bitcoin_and_shows_them(
    client: httpx.AsyncClient,
    platform: Platform,
    market: Venue,  # noqa: F811
    btc_market: Venue,  # noqa: F811
    new_user: NewUser,
) -> None:
    ann = await new_user(cash=10_000)
    client.cookies.set("casebook_access", ann.token)
    empty = await client.get(PAGE)
    assert 'data-testid="investing"' in empty.text and "No stocks yet." in empty.text

    stock = await client.post(
        f"{PAGE}invest/stock",
        data={"symbol": "AAPL", "side": "buy", "amount": "25.00"},
        headers=SAME_ORIGIN,
    )
    assert stock.status_code == 303, stock.text
    coin = await client.post(
        f"{PAGE}invest/bitcoin", data={"side": "buy", "amount": "6"}, headers=SAME_ORIGIN
    )
    assert coin.status_code == 303, coin.text
    # $25 of AAPL at $150.00 and $6 of bitcoin at $60,000 (10 lots = 0.0001 BTC).
    assert (await balance(client, ann))["balance"] == 10_000 - 2_500 - 600
    page = (await client.get(PAGE)).text
    assert "<td>AAPL</td><td>0.166666</td>" in page
    assert "0.00010000 BTC" in page

    refused = await client.post(
        f"{PAGE}invest/stock",
        data={"symbol": "AAPL", "side": "sell", "shares": "5"},
        headers=SAME_ORIGIN,
    )
    assert refused.status_code == 409 and "You hold fewer" in refused.text
    bad = await client.post(
        f"{PAGE}invest/bitcoin", data={"side": "buy", "amount": "abc"}, headers=SAME_ORIGIN
    )
    assert bad.status_code == 422
    cross_site = await client.post(
        f"{PAGE}invest/bitcoin",
        data={"side": "buy", "amount": "6"},
        headers={"origin": "http://evil.example"},
    )
    assert cross_site.status_code == 403
    assert (await balance(client, ann))["balance"] == 10_000 - 2_500 - 600
