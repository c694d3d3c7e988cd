"""URL safety: only http/https, at most 2,048 characters, no credentials or control characters,
no blocked domains (subdomains included), no links back to our own short hosts. Refusals are 422
problems naming the rule, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.url_shortener.models import Domain, Link
from casebook.systems.url_shortener.safety import RejectedUrl, check_target_url
from tests.systems.url_shortener.conftest import API, Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "url-safety")

BLOCKED = ["malware.example", "phish.test"]
OWN = ["127.0.0.1", "sho.rt"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "scheme"),
        ("data:text/html,<script>", "scheme"),
        ("ftp://example.com/file", "scheme"),
        ("//example.com/no-scheme", "scheme"),
        ("example.com", "scheme"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("https://example.com/a b", "control-characters"),
        ("https://example.com/\x00", "control-characters"),
        ("https://example.com/\r\nSet-Cookie:x", "control-characters"),
        ("https:///path-only", "host"),
        ("https://exa_mple.com/", "host"),
        ("https://example.com:99999/", "port"),
        ("https://malware.example/x", "blocked-domain"),
        ("https://cdn.MALWARE.example./x", "blocked-domain"),
        ("http://sho.rt/abc", "loop"),
        ("http://127.0.0.1:8000/s/abc", "loop"),
        ("https://example.com/" + "a" * 2030, "length"),
    ],
)
def test_unsafe_urls_are_rejected_with_the_rule(url: str, reason: str) -> None:
    with pytest.raises(RejectedUrl) as caught:
        check_target_url(url, blocked_domains=BLOCKED, own_hosts=OWN)
    assert caught.value.extensions["reason"] == reason


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://example.com", "https://example.com/"),
        ("HTTPS://Example.COM/Path?Q=1#frag", "https://example.com/Path?Q=1#frag"),
        ("https://bücher.example/straße?q=ä", "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4"),
        ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("https://notmalware.example/", "https://notmalware.example/"),
        ("https://example.com/%7Euser", "https://example.com/%7Euser"),
    ],
)
def test_safe_urls_come_back_normalised_for_the_location_header(url: str, normalized: str) -> None:
    assert check_target_url(url, blocked_domains=BLOCKED, own_hosts=OWN) == normalized


async def count_links(platform: Platform) -> int:
    async with platform.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Link)) or 0)


async def test_the_api_refuses_unsafe_urls_and_stores_nothing(
    client: httpx.AsyncClient, alice: Account, platform: Platform, configure: Callable[..., object]
) -> None:
    configure(blocked_domains=["malware.example"])
    for url, reason in [
        ("javascript:alert(document.cookie)", "scheme"),
        ("https://a.malware.example/", "blocked-domain"),
        ("http://127.0.0.1:8000/s/loop", "loop"),
        ("https://example.com/" + "x" * 2100, "length"),
    ]:
        response = await shorten(client, alice.headers, url=url, alias="never-stored")
        assert response.status_code == 422, url
        problem = response.json()
        assert problem["type"] == "/problems/url-shortener/rejected-url"
        assert problem["reason"] == reason
        assert problem["detail"]
    assert await count_links(platform) == 0
    too_long = await shorten(client, alice.headers, url="https://example.com/" + "x" * 9000)
    assert too_long.status_code == 422
    assert await count_links(platform) == 0


async def test_a_link_to_a_verified_custom_domain_is_a_loop(
    client: httpx.AsyncClient, alice: Account, platform: Platform
) -> None:
    async with platform.db.session() as session:
        session.add(
            Domain(
                id=new_id(),
                owner_id=alice.user_id,
                host="go.brand.example",
                verification_token="t",
                verified_at=datetime.now(UTC),
            )
        )
    response = await shorten(client, alice.headers, url="https://go.brand.example/abc")
    assert response.status_code == 422
    assert response.json()["reason"] == "loop"


async def test_editing_a_link_applies_the_same_rules(
    client: httpx.AsyncClient, alice: Account
) -> None:
    code = (await shorten(client, alice.headers, url="https://example.com/ok")).json()["code"]
    response = await client.patch(
        f"{API}/links/{code}", json={"url": "javascript:alert(1)"}, headers=alice.headers
    )
    assert response.status_code == 422
    assert (await client.get(f"/s/{code}")).headers["location"] == "https://example.com/ok"
