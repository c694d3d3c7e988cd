"""The Robinhood page and its own script: what a signed-out visitor and a signed-in customer
get, that everything it loads is local, and that the cookie the web login sets is what the
script's calls to `/api/robinhood` authenticate with."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from casebook.engines.matching.venue import Venue
from casebook.platform.auth.cookies import ACCESS_COOKIE

PAGE = "/robinhood/"
API = "/api/robinhood"
SAME_SITE = {"Origin": "http://testserver"}
EXTERNAL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.I)
"""An absolute or protocol-relative URL to another host (the product works offline)."""


async def web_register(client: httpx.AsyncClient) -> None:
    """Register through the web page, as a browser does: the client then carries the cookie."""
    form = {
        "display_name": "Ada Lovelace",
        "email": f"rh-{secrets.token_hex(5)}@example.com",
        "password": secrets.token_urlsafe(12),
        "next": PAGE,
    }
    made = await client.post("/register", data=form, headers=SAME_SITE)
    assert made.status_code == 303, made.text
    assert made.headers["location"] == PAGE
    assert client.cookies.get(ACCESS_COOKIE)


@pytest.mark.feature("robinhood", "charts")
async def test_signed_out_visitor_gets_the_stock_view_and_a_sign_in_link(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get(PAGE)
    assert page.status_code == 200
    html = page.text
    assert 'data-signed-in="no"' in html
    assert '<canvas class="rh-chart" id="rh-chart"' in html
    for symbol in ("AAPL", "MSFT", "F"):
        assert f'<option value="{symbol}">' in html
    assert 'href="/login?next=/robinhood/"' in html
    # The account, the ticket and the orders are for customers only.
    for private in ('id="rh-order"', 'id="rh-apply"', 'id="rh-holdings"', 'id="rh-orders"'):
        assert private not in html
    assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
    assert '<script type="module" src="/robinhood/static/robinhood.js' in html


async def test_the_script_and_style_are_our_own_files(client: httpx.AsyncClient) -> None:
    script = await client.get("/robinhood/static/robinhood.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    js = script.text
    assert EXTERNAL.search(js) is None, EXTERNAL.search(js)
    assert "import " not in js, "no module is pulled in from anywhere"
    for call in ('"/api/robinhood"', "/chart?interval=", 'getContext("2d")', "Idempotency-Key"):
        assert call in js
    style = await client.get("/robinhood/static/robinhood.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert EXTERNAL.search(style.text) is None
    assert (await client.get("/robinhood/static/../api.py")).status_code == 404
    missing = await client.get("/robinhood/static/other.js")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("robinhood/static-file-not-found")


@pytest.mark.feature("robinhood", "account-setup")
async def test_signed_in_customer_gets_the_account_and_the_cookie_drives_the_api(
    client: httpx.AsyncClient, started: Venue
) -> None:
    await web_register(client)
    page = await client.get(PAGE)
    html = page.text
    assert 'data-signed-in="yes"' in html and "Signed in as <strong>Ada Lovelace" in html
    for part in ('id="rh-apply"', 'id="rh-order"', 'id="rh-holdings"', 'id="rh-watchlist"'):
        assert part in html
    assert 'id="rh-orders"' in html and "/login?next=" not in html
    assert EXTERNAL.search(html) is None

    # What the script does, with the cookie only: the onboarding gate, apply, deposit, follow.
    gate = await client.get(f"{API}/onboarding")
    assert gate.status_code == 403
    assert gate.json()["type"].endswith("robinhood/onboarding-required")
    applied = await client.post(
        f"{API}/onboarding",
        json={
            "legal_name": "Ada Lovelace",
            "date_of_birth": "1990-12-10",
            "country": "US",
            "tax_id": "123456789",
        },
    )
    assert applied.json()["status"] == "approved", applied.text
    deposit = await client.post(
        f"{API}/transfers",
        json={"direction": "deposit", "amount": "250.00"},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )
    assert deposit.status_code == 201, deposit.text
    assert (await client.put(f"{API}/watchlist/AAPL")).status_code == 204
    account = (await client.get(f"{API}/account")).json()
    assert account["cash"] == "250.00" and account["total"] == "250.00"
    watched = (await client.get(f"{API}/watchlist")).json()["symbols"]
    assert [q["symbol"] for q in watched] == ["AAPL"]
    assert (await client.get(f"{API}/account/portfolio?limit=500")).json()[-1]["total"] == "250.00"
    assert (await client.get(f"{API}/orders?limit=20")).json() == {
        "orders": [],
        "next_cursor": None,
    }
    chart = await client.get(f"{API}/stocks/AAPL/chart?interval=5m&limit=100")
    assert chart.status_code == 200 and isinstance(chart.json(), list)
