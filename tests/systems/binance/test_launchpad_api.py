"""Binance Launchpad over HTTP: staff-only project creation, public listing, commits with
Idempotency-Key, the caller's own view of their allocation, and bad input as problem+json that
changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.settings import Settings
from casebook.systems.binance import launchpad, staff
from tests.systems.binance.launchpad_support import token_symbol
from tests.systems.binance.spot_support import User, binance_app, fund, new_user

pytestmark = pytest.mark.feature("binance", "launchpad")
BASE = "/api/binance/launchpad"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


def terms(**changes: Any) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "symbol": token_symbol(),
        "name": "Newt",
        "price": "0.1",
        "tokens_for_sale": "1000",
        "per_user_cap": "80",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "distributes_at": (now + timedelta(hours=2)).isoformat(),
    }
    return body | changes


async def staff_user(client: httpx.AsyncClient, platform: Platform) -> User:
    user = await new_user(client, platform, key=False)
    async with platform.db.session(write=True) as session:
        await staff.grant(session, user.user_id)
    return user


async def holding(client: httpx.AsyncClient, user: User, asset: str = "USDT") -> str:
    balances = await client.get("/api/binance/account/balance", headers=user.headers)
    assert balances.status_code == 200, balances.text
    return str(balances.json().get(asset, "0"))


async def test_only_staff_create_projects_and_everyone_lists_them(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await staff_user(client, platform)
    someone = await new_user(client, platform, key=False)
    body = terms()
    assert (await client.post(f"{BASE}/projects", json=body)).status_code == 401
    refused = await client.post(f"{BASE}/projects", json=body, headers=someone.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    created = await client.post(f"{BASE}/projects", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    project = created.json()
    assert (project["symbol"], project["hard_cap"], project["phase"]) == (
        body["symbol"],
        "100.00000000",
        "committing",
    )
    again = await client.post(f"{BASE}/projects", json=body, headers=admin.headers)
    assert again.status_code == 409

    listed = await client.get(f"{BASE}/projects", params={"limit": 10})
    assert [p["id"] for p in listed.json()["items"]] == [project["id"]]
    fetched = await client.get(f"{BASE}/projects/{project['id']}")
    assert fetched.json()["total_committed"] == "0.00000000"
    assert (await client.get(f"{BASE}/projects/999")).status_code == 404
    assert (await client.get(f"{BASE}/projects/{2**64}")).status_code == 422


@pytest.mark.parametrize(
    "changes",
    [
        {"symbol": "BTC"},
        {"symbol": "lower"},
        {"quote_asset": "ETH"},
        {"price": "0.000000001"},
        {"price": "0"},
        {"tokens_for_sale": "0.00000001", "price": "0.00000001"},  # hard cap under 1 unit
        {"ends_at": (utcnow() - timedelta(minutes=2)).isoformat()},
        {"distributes_at": utcnow().isoformat()},
        {"starts_at": "2030-01-01T00:00:00"},  # no time zone
        {"extra": 1},
        {"list_pair": True, "price": "0.00001"},  # off the listed pair's tick
    ],
)
async def test_bad_terms_are_422_and_create_nothing(
    client: httpx.AsyncClient, platform: Platform, changes: dict[str, Any]
) -> None:
    admin = await staff_user(client, platform)
    answer = await client.post(f"{BASE}/projects", json=terms(**changes), headers=admin.headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"{BASE}/projects")).json()["items"] == []


async def test_commit_is_exactly_once_per_idempotency_key_and_allocations_are_private(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await staff_user(client, platform)
    project = (await client.post(f"{BASE}/projects", json=terms(), headers=admin.headers)).json()
    alice = await new_user(client, platform, key=False)
    bob = await new_user(client, platform, key=False)
    await fund(platform, alice, "USDT", "100")
    await fund(platform, bob, "USDT", "100")
    url = f"{BASE}/projects/{project['id']}/commit"
    key = {"Idempotency-Key": "commit-1"}
    first = await client.post(url, json={"amount": "60"}, headers=alice.headers | key)
    assert first.status_code == 200, first.text
    replay = await client.post(url, json={"amount": "60"}, headers=alice.headers | key)
    assert replay.json() == first.json()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    reused = await client.post(url, json={"amount": "1"}, headers=alice.headers | key)
    assert reused.status_code == 422
    assert await holding(client, alice) == "40.00000000"
    assert first.json()["committed"] == "60.00000000"

    over_cap = await client.post(url, json={"amount": "20.00000001"}, headers=alice.headers)
    assert over_cap.status_code == 422
    assert over_cap.json()["type"].endswith("launchpad-cap-exceeded")
    carol = await new_user(client, platform, key=False)
    await fund(platform, carol, "USDT", "10")
    broke = await client.post(url, json={"amount": "20"}, headers=carol.headers)
    assert broke.status_code == 409
    assert broke.json()["type"].endswith("ledger/exceeds-credits")
    assert await holding(client, carol) == "10.00000000"
    for bad in ({"amount": "0"}, {"amount": "-1"}, {"amount": "1.123456789"}, {}):
        answer = await client.post(url, json=bad, headers=bob.headers)
        assert answer.status_code == 422, (bad, answer.text)
    assert (await client.post(url, json={"amount": "1"})).status_code == 401
    missing = await client.post(
        f"{BASE}/projects/12345/commit", json={"amount": "1"}, headers=bob.headers
    )
    assert missing.status_code == 404
    bob_commit = await client.post(url, json={"amount": "90"}, headers=bob.headers)
    assert bob_commit.status_code == 422  # the cap is 80
    assert (await client.post(url, json={"amount": "80"}, headers=bob.headers)).status_code == 200

    # Each caller sees only their own commitment.
    mine = (await client.get(f"{BASE}/projects/{project['id']}/my", headers=alice.headers)).json()
    theirs = (await client.get(f"{BASE}/projects/{project['id']}/my", headers=bob.headers)).json()
    assert (mine["committed"], theirs["committed"]) == ("60.00000000", "80.00000000")
    assert [c["amount"] for c in mine["commits"]] == ["60.00000000"]
    assert mine["allocation"] is None
    stranger = await new_user(client, platform, key=False)
    nobody = await client.get(f"{BASE}/projects/{project['id']}/my", headers=stranger.headers)
    assert (nobody.json()["committed"], nobody.json()["commits"]) == ("0.00000000", [])
    public = (await client.get(f"{BASE}/projects/{project['id']}")).json()
    assert (public["total_committed"], public["participants"]) == ("140.00000000", 2)

    # 140 committed for a 100 USDT cap: each gets 100/140 of their commitment.
    async with platform.db.session() as session:
        sale = await launchpad.get_project(session, int(project["id"]))
    assert await launchpad.settle(platform, sale.id, sale.distributes_at) == launchpad.COMPLETED
    mine = (await client.get(f"{BASE}/projects/{project['id']}/my", headers=alice.headers)).json()
    assert mine["allocation"] == "42.85714285"  # floor(60 x 100 / 140, 8 places)
    assert mine["tokens"] == "428.57142850"  # floor(allocation / 0.1)
    assert mine["payment"] == "42.85714285"
    assert mine["refund"] == "17.14285715"
    assert mine["distributed"] is True
    assert await holding(client, alice) == "57.14285715"
    assert await holding(client, alice, project["symbol"]) == "428.57142850"
    closed = await client.post(url, json={"amount": "1"}, headers=alice.headers)
    assert closed.status_code == 409
    assert closed.json()["type"].endswith("launchpad-not-open")
