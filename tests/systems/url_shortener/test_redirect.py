"""Redirect: a per-link 301 or 302, 404 for unknown codes, 410 for expired or deleted links,
served at /s/<code> by the fast path, and expand without redirecting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from casebook.systems.url_shortener import redirect as redirect_module
from tests.systems.url_shortener.conftest import API, Account, ShiftedClock, shorten

pytestmark = pytest.mark.feature("url-shortener", "redirect")


async def test_a_new_link_redirects_with_302_by_default(
    client: httpx.AsyncClient, alice: Account
) -> None:
    created = await shorten(client, alice.headers, url="https://example.com/some/long/path?q=1")
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["redirect_type"] == 302
    assert link["short_url"].endswith(f"/s/{link['code']}")

    response = await client.get(f"/s/{link['code']}")
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/some/long/path?q=1"
    assert "no-cache" in response.headers["cache-control"]


async def test_a_link_chosen_permanent_redirects_with_301(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (
        await shorten(client, alice.headers, url="https://example.com/", redirect_type=301)
    ).json()
    response = await client.get(f"/s/{link['code']}")
    assert response.status_code == 301
    assert response.headers["location"] == "https://example.com/"
    assert response.headers["cache-control"] == "public, max-age=86400"


async def test_an_unknown_code_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/s/Nope123")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/url-shortener/link-not-found"
    assert "Nope123" in problem["detail"]


async def test_head_answers_like_get_without_a_body(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/head")).json()
    response = await client.head(f"/s/{link['code']}")
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/head"
    missing = await client.head("/s/missing1")
    assert missing.status_code == 404
    assert missing.content == b""


async def test_an_expired_link_is_a_410_problem(
    client: httpx.AsyncClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The link expires in an hour; the redirect path's clock is then moved past it, so the test
    # does not race the real clock (a one-second margin was too little on a loaded CI machine).
    soon = datetime.now(UTC) + timedelta(hours=1)
    link = (
        await shorten(
            client, alice.headers, url="https://example.com/x", expires_at=soon.isoformat()
        )
    ).json()
    assert (await client.get(f"/s/{link['code']}")).status_code == 302
    monkeypatch.setattr(redirect_module, "time", ShiftedClock(3601))
    response = await client.get(f"/s/{link['code']}")
    assert response.status_code == 410
    assert response.json()["type"] == "/problems/url-shortener/link-expired"


async def test_a_deleted_link_is_a_410_problem(client: httpx.AsyncClient, alice: Account) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/gone")).json()
    assert (await client.get(f"/s/{link['code']}")).status_code == 302
    deleted = await client.delete(f"{API}/links/{link['code']}", headers=alice.headers)
    assert deleted.status_code == 204
    response = await client.get(f"/s/{link['code']}")
    assert response.status_code == 410
    assert response.json()["type"] == "/problems/url-shortener/link-deleted"


async def test_expand_returns_the_target_without_redirecting(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/expand-me")).json()
    by_code = await client.get(f"{API}/links/{link['code']}/expand")
    assert by_code.status_code == 200
    assert by_code.json()["url"] == "https://example.com/expand-me"
    assert by_code.json()["redirect_type"] == 302
    by_url = await client.get(f"{API}/expand", params={"short_url": link["short_url"]})
    assert by_url.status_code == 200
    assert by_url.json()["url"] == "https://example.com/expand-me"
    assert (await client.get(f"{API}/links/Unknown/expand")).status_code == 404
    foreign = await client.get(f"{API}/expand", params={"short_url": "https://elsewhere.example/x"})
    assert foreign.status_code == 404


async def test_other_methods_and_paths_under_s_fall_through_to_the_app(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/post")).json()
    posted = await client.post(f"/s/{link['code']}")
    assert posted.status_code in {404, 405}
    assert posted.headers["content-type"] == "application/problem+json"
    nested = await client.get(f"/s/{link['code']}/more")
    assert nested.status_code == 404
