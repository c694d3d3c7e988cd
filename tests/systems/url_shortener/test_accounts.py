"""User accounts: links belong to the signed-in user, who lists (by cursor), reads, changes and
deletes them; nobody else can see or touch them (404), and anonymous links have no manager."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.context import Platform
from casebook.systems.url_shortener.models import Link
from tests.systems.url_shortener.conftest import API, Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "user-accounts")


async def test_my_links_page_newest_first_by_cursor(
    client: httpx.AsyncClient, alice: Account, bob: Account, configure: Callable[..., object]
) -> None:
    created = [
        (await shorten(client, alice.headers, url=f"https://example.com/{i}")).json()["code"]
        for i in range(7)
    ]
    await shorten(client, bob.headers, url="https://example.com/bob")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/links", params=params, headers=alice.headers)).json()
        seen += [item["code"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # A link created while paging appears on no later page and shifts nothing.
        await shorten(client, alice.headers, url="https://example.com/meanwhile")
    assert seen == list(reversed(created))


async def test_the_owner_reads_changes_and_deletes_a_link(
    client: httpx.AsyncClient, alice: Account
) -> None:
    code = (await shorten(client, alice.headers, url="https://example.com/mine")).json()["code"]
    got = await client.get(f"{API}/links/{code}", headers=alice.headers)
    assert got.status_code == 200
    assert got.json()["url"] == "https://example.com/mine"
    changed = await client.patch(
        f"{API}/links/{code}",
        json={"url": "https://example.com/changed", "redirect_type": 301, "inactivity_days": 30},
        headers=alice.headers,
    )
    assert changed.status_code == 200
    assert changed.json()["url"] == "https://example.com/changed"
    assert changed.json()["redirect_type"] == 301
    assert changed.json()["inactivity_days"] == 30
    assert (await client.delete(f"{API}/links/{code}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"{API}/links/{code}", headers=alice.headers)).status_code == 404
    listed = (await client.get(f"{API}/links", headers=alice.headers)).json()
    assert listed["items"] == []


async def test_nobody_else_can_read_or_change_a_link(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    code = (await shorten(client, alice.headers, url="https://example.com/alice")).json()["code"]
    assert (await client.get(f"{API}/links/{code}", headers=bob.headers)).status_code == 404
    patch = await client.patch(
        f"{API}/links/{code}", json={"url": "https://evil.example/"}, headers=bob.headers
    )
    assert patch.status_code == 404
    assert patch.json()["type"] == "/problems/url-shortener/link-not-found"
    assert (await client.delete(f"{API}/links/{code}", headers=bob.headers)).status_code == 404
    assert (await client.get(f"{API}/links", headers=bob.headers)).json()["items"] == []
    assert (await client.get(f"/s/{code}")).headers["location"] == "https://example.com/alice"


async def test_anonymous_shortening_works_but_nobody_manages_the_link(
    client: httpx.AsyncClient, alice: Account, platform: Platform
) -> None:
    response = await shorten(client, url="https://example.com/anon")
    assert response.status_code == 201
    code = response.json()["code"]
    assert (await client.get(f"/s/{code}")).status_code == 302
    async with platform.db.session() as session:
        owner = await session.scalar(select(Link.owner_id).where(Link.code == code))
    assert owner is None
    assert (await client.get(f"{API}/links/{code}", headers=alice.headers)).status_code == 404
    assert (await client.delete(f"{API}/links/{code}")).status_code == 401


async def test_listing_needs_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/links")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_deleted_code_is_never_handed_out_again(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    """Deletion leaves a tombstone, so a shared alias cannot be re-pointed by someone else."""
    await shorten(client, alice.headers, url="https://example.com/promo", alias="promo")
    await client.delete(f"{API}/links/promo", headers=alice.headers)
    again = await shorten(client, bob.headers, url="https://phish.example/", alias="promo")
    assert again.status_code == 409
    assert (await client.get("/s/promo")).status_code == 410
