"""Custom aliases: 3-32 of [A-Za-z0-9_-], no reserved words, case-insensitive (stored lower
case), a taken alias is a 409, and of two racing requests for one alias exactly one wins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from tests.systems.url_shortener.conftest import Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "custom-alias")


async def test_an_alias_becomes_the_code(client: httpx.AsyncClient, alice: Account) -> None:
    response = await shorten(
        client, alice.headers, url="https://example.com/s", alias="spring_sale-24"
    )
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["code"] == "spring_sale-24"
    assert link["is_alias"] is True
    redirect = await client.get("/s/spring_sale-24")
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "https://example.com/s"


async def test_aliases_are_case_insensitive(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    created = await shorten(client, alice.headers, url="https://example.com/c", alias="MyBrand")
    assert created.json()["code"] == "mybrand"
    for spelling in ("mybrand", "MyBrand", "MYBRAND"):
        response = await client.get(f"/s/{spelling}")
        assert response.status_code == 302, spelling
        assert response.headers["location"] == "https://example.com/c"
    taken = await shorten(client, bob.headers, url="https://example.com/d", alias="MYBRAND")
    assert taken.status_code == 409


async def test_a_seven_letter_alias_in_mixed_case_still_resolves(
    client: httpx.AsyncClient, alice: Account
) -> None:
    """Seven alphanumerics look like a generated code; the redirect tries the exact spelling
    and then the alias, and remembers which one it was."""
    await shorten(client, alice.headers, url="https://example.com/seven", alias="Seventy")
    for _ in range(2):
        response = await client.get("/s/SeVenTy")
        assert response.status_code == 302
        assert response.headers["location"] == "https://example.com/seven"
    edited = await client.patch(
        "/api/url-shortener/links/seventy",
        json={"url": "https://example.com/eight"},
        headers=alice.headers,
    )
    assert edited.status_code == 200
    assert (await client.get("/s/SeVenTy")).headers["location"] == "https://example.com/eight"


@pytest.mark.parametrize(
    ("alias", "reason"),
    [
        ("ab", "length"),
        ("a" * 33, "length"),
        ("has space", "charset"),
        ("emoji😀", "charset"),
        ("dot.dot", "charset"),
        ("admin", "reserved"),
        ("Settings", "reserved"),
        ("dashboard", "reserved"),
        ("api", "reserved"),
        ("login", "reserved"),
    ],
)
async def test_invalid_aliases_are_refused_with_the_reason(
    client: httpx.AsyncClient, alice: Account, alias: str, reason: str
) -> None:
    response = await shorten(client, alice.headers, url="https://example.com/", alias=alias)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "/problems/url-shortener/invalid-alias"
    assert problem["reason"] == reason


async def test_a_taken_alias_is_a_409_problem(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    assert (
        await shorten(client, alice.headers, url="https://example.com/1", alias="launch")
    ).status_code == 201
    second = await shorten(client, bob.headers, url="https://example.com/2", alias="launch")
    assert second.status_code == 409
    assert second.json()["type"] == "/problems/url-shortener/alias-taken"
    assert (await client.get("/s/launch")).headers["location"] == "https://example.com/1"


async def test_of_racing_requests_for_one_alias_exactly_one_wins(
    client: httpx.AsyncClient, alice: Account, configure: Callable[..., object]
) -> None:
    configure(shorten_per_minute_ip=1000)
    responses = await asyncio.gather(
        *(
            shorten(client, alice.headers, url=f"https://example.com/{i}", alias="race")
            for i in range(25)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 24
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert (await client.get("/s/race")).headers["location"] == winner["url"]


async def test_anonymous_callers_cannot_choose_an_alias(client: httpx.AsyncClient) -> None:
    response = await shorten(client, url="https://example.com/", alias="freebie")
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/url-shortener/sign-in-required"
