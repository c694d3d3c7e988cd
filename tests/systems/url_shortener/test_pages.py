"""The /url-shortener/ page: signed in by the session cookie, it shortens from a form, lists
your links, and draws a link's clicks as an inline SVG bar chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from casebook.systems.url_shortener.chart import bar_chart
from casebook.systems.url_shortener.runtime import Shortener
from tests.systems.url_shortener.conftest import Account, shorten

PAGE = "/url-shortener/"
SAME_ORIGIN = {"origin": "http://testserver"}


def sign_in(client: httpx.AsyncClient, account: Account) -> None:
    client.cookies.set("casebook_access", account.token)


@pytest.mark.feature("url-shortener", "user-accounts")
async def test_visitors_are_sent_to_log_in(client: httpx.AsyncClient) -> None:
    response = await client.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/url-shortener/"
    link_page = await client.get(f"{PAGE}links/abc")
    assert link_page.headers["location"] == "/login?next=/url-shortener/links/abc"


@pytest.mark.feature("url-shortener", "user-accounts")
async def test_the_page_lists_only_my_links(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    await shorten(client, alice.headers, url="https://example.com/alices", alias="alices")
    await shorten(client, bob.headers, url="https://example.com/bobs", alias="bobs")
    sign_in(client, alice)
    response = await client.get(PAGE)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "https://example.com/alices" in response.text
    assert "/s/alices" in response.text
    assert "bobs" not in response.text
    other = await client.get(f"{PAGE}links/bobs")
    assert other.status_code == 404
    assert "https://example.com/bobs" not in other.text


@pytest.mark.feature("url-shortener", "shorten")
async def test_the_form_shortens_and_shows_the_new_link(
    client: httpx.AsyncClient, alice: Account
) -> None:
    sign_in(client, alice)
    response = await client.post(
        f"{PAGE}links",
        data={"url": "https://example.com/from-the-form", "alias": "", "redirect_type": "302"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    code = location.rsplit("/", 1)[1]
    assert (await client.get(f"/s/{code}")).headers[
        "location"
    ] == "https://example.com/from-the-form"
    page = await client.get(location)
    assert page.status_code == 200
    assert "https://example.com/from-the-form" in page.text


@pytest.mark.feature("url-shortener", "url-safety")
async def test_the_form_explains_a_refusal(client: httpx.AsyncClient, alice: Account) -> None:
    sign_in(client, alice)
    response = await client.post(
        f"{PAGE}links", data={"url": "javascript:alert(1)"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 422
    assert "Only http and https URLs can be shortened" in response.text
    assert 'value="javascript:alert(1)"' in response.text


@pytest.mark.feature("url-shortener", "user-accounts")
async def test_cross_site_form_posts_are_refused(client: httpx.AsyncClient, alice: Account) -> None:
    sign_in(client, alice)
    response = await client.post(
        f"{PAGE}links",
        data={"url": "https://example.com/csrf"},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    listed = await client.get("/api/url-shortener/links", headers=alice.headers)
    assert listed.json()["items"] == []


@pytest.mark.feature("url-shortener", "analytics")
async def test_the_link_page_draws_the_clicks_as_svg_bars(
    client: httpx.AsyncClient, alice: Account, state: Shortener
) -> None:
    code = (
        await shorten(client, alice.headers, url="https://example.com/c", alias="chart")
    ).json()["code"]
    for _ in range(4):
        await client.get(f"/s/{code}", headers={"referer": "https://t.co/x"})
    await state.clicks.flush()
    sign_in(client, alice)
    page = await client.get(f"{PAGE}links/{code}")
    assert page.status_code == 200
    svg = re.search(r"<svg[^>]*data-testid=\"clicks-chart\".*?</svg>", page.text, re.S)
    assert svg is not None
    bars = re.findall(r'<rect class="bar"[^>]*height="([0-9.]+)"', svg.group(0))
    assert bars == ["156.0"]  # one day with clicks, drawn at full plot height
    assert "4</title>" in svg.group(0)
    assert "t.co" in page.text
    assert "<script" not in page.text
    hourly = await client.get(f"{PAGE}links/{code}", params={"bucket": "hour"})
    assert "Clicks per hour" in hourly.text


@pytest.mark.feature("url-shortener", "user-accounts")
async def test_the_delete_button_deletes_the_link(
    client: httpx.AsyncClient, alice: Account
) -> None:
    await shorten(client, alice.headers, url="https://example.com/bye", alias="bye")
    sign_in(client, alice)
    response = await client.post(f"{PAGE}links/bye/delete", headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert (await client.get("/s/bye")).status_code == 410


@pytest.mark.feature("url-shortener", "analytics")
def test_bars_scale_to_the_busiest_bucket() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    chart = bar_chart(
        [(start + timedelta(days=i), n) for i, n in enumerate([0, 5, 10])], "day", width=300
    )
    assert [b.height for b in chart.bars] == [0.0, 78.0, 156.0]
    assert [b.x for b in chart.bars] == [1.0, 101.0, 201.0]
    assert chart.peak == 10
    assert chart.first_label == "01 Jan" and chart.last_label == "03 Jan"
    empty = bar_chart([], "hour")
    assert empty.bars == [] and empty.peak == 0
