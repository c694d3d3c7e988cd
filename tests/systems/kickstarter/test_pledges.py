"""Pledges are holds on the backer's wallet: placed, changed in one linked batch, cancelled
before the deadline; totals stay exact under concurrent pledges."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from tests.systems.kickstarter.conftest import (
    API,
    Account,
    NewAccount,
    get_project,
    launched_project,
    pledge,
    top_up,
    wallet,
)

pytestmark = pytest.mark.feature("kickstarter", "pledges")


async def test_a_pledge_holds_the_amount_without_charging_it(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 5_000)
    response = await pledge(client, backer, project["id"], 2_500)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "active"
    funds = await wallet(client, backer)
    assert (funds["balance"], funds["held"], funds["available"]) == (5_000, 2_500, 2_500)
    totals = await get_project(client, project["id"])
    assert (totals["pledged"], totals["backers"], totals["percent_funded"]) == (2_500, 1, 25)


@pytest.mark.feature("kickstarter", "payment-processing")
async def test_a_pledge_the_wallet_cannot_cover_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 1_000)
    response = await pledge(client, backer, project["id"], 1_001)
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/ledger/exceeds-credits"
    assert (await wallet(client, backer))["held"] == 0
    assert (await get_project(client, project["id"]))["pledged"] == 0
    mine = await client.get(f"{API}/pledges", headers=backer.headers)
    assert mine.json()["items"] == []


async def test_overfunding_is_allowed(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator, goal=1_000)
    await top_up(client, backer, 50_000)
    response = await pledge(client, backer, project["id"], 40_000)
    assert response.status_code == 201
    assert (await get_project(client, project["id"]))["percent_funded"] == 4000


async def test_changing_a_pledge_swaps_the_hold_and_never_holds_twice(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 3_000)
    first = (await pledge(client, backer, project["id"], 2_000)).json()
    # 2,000 held of 3,000: a new hold of 2,800 fits only because the old one is released in
    # the same batch.
    changed = await client.put(
        f"{API}/pledges/{first['id']}", json={"amount": 2_800}, headers=backer.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["hold_transfer_id"] != first["hold_transfer_id"]
    assert (await wallet(client, backer))["held"] == 2_800
    assert (await get_project(client, project["id"]))["pledged"] == 2_800


async def test_a_change_the_wallet_cannot_cover_leaves_the_old_pledge(
    client: httpx.AsyncClient, creator: Account, backer: Account, platform: Platform
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 3_000)
    first = (await pledge(client, backer, project["id"], 2_000)).json()
    changed = await client.put(
        f"{API}/pledges/{first['id']}", json={"amount": 3_001}, headers=backer.headers
    )
    assert changed.status_code == 409
    assert changed.json()["type"] == "/problems/ledger/exceeds-credits"
    again = await client.get(f"{API}/pledges/{first['id']}", headers=backer.headers)
    assert again.json()["amount"] == 2_000
    assert again.json()["hold_transfer_id"] == first["hold_transfer_id"]
    assert (await wallet(client, backer))["held"] == 2_000
    assert (await get_project(client, project["id"]))["pledged"] == 2_000
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_cancelling_releases_the_hold_and_the_backer_may_pledge_again(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 3_000)
    first = (await pledge(client, backer, project["id"], 2_000)).json()
    cancelled = await client.delete(f"{API}/pledges/{first['id']}", headers=backer.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (await wallet(client, backer))["held"] == 0
    totals = await get_project(client, project["id"])
    assert (totals["pledged"], totals["backers"]) == (0, 0)
    again = await client.delete(f"{API}/pledges/{first['id']}", headers=backer.headers)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/kickstarter/pledge-closed"
    assert (await pledge(client, backer, project["id"], 1_500)).status_code == 201


async def test_one_open_pledge_per_backer_and_none_on_your_own_project(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 3_000)
    await top_up(client, creator, 3_000)
    assert (await pledge(client, backer, project["id"], 1_000)).status_code == 201
    second = await pledge(client, backer, project["id"], 1_000)
    assert second.status_code == 409
    assert second.json()["type"] == "/problems/kickstarter/already-backed"
    own = await pledge(client, creator, project["id"], 1_000)
    assert own.status_code == 409
    assert own.json()["type"] == "/problems/kickstarter/own-project"


async def test_nobody_can_change_or_cancel_another_backers_pledge(
    client: httpx.AsyncClient, creator: Account, backer: Account, new_account: NewAccount
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 3_000)
    mine = (await pledge(client, backer, project["id"], 1_000)).json()
    mallory = await new_account()
    await top_up(client, mallory, 3_000)
    for response in (
        await client.get(f"{API}/pledges/{mine['id']}", headers=mallory.headers),
        await client.put(
            f"{API}/pledges/{mine['id']}", json={"amount": 2_000}, headers=mallory.headers
        ),
        await client.delete(f"{API}/pledges/{mine['id']}", headers=creator.headers),
    ):
        assert response.status_code == 404
    assert (await client.get(f"{API}/pledges", headers=mallory.headers)).json()["items"] == []
    assert (await wallet(client, backer))["held"] == 1_000


async def test_no_pledges_on_drafts_or_after_the_deadline(
    client: httpx.AsyncClient,
    creator: Account,
    backer: Account,
    new_account: NewAccount,
    end_campaign: Callable[[str], Awaitable[None]],
) -> None:
    draft = (
        await client.post(
            f"{API}/projects",
            json={
                "title": "Draft",
                "category": "art",
                "goal": 1_000,
                "deadline": "2099-01-01T00:00:00Z",
            },
            headers=creator.headers,
        )
    ).json()
    await top_up(client, backer, 5_000)
    assert (await pledge(client, backer, draft["id"], 1_000)).status_code == 404
    project = await launched_project(client, creator)
    placed = (await pledge(client, backer, project["id"], 1_000)).json()
    await end_campaign(project["id"])
    latecomer = await new_account()
    await top_up(client, latecomer, 5_000)
    late = await pledge(client, latecomer, project["id"], 1_000)
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/kickstarter/project-not-live"
    for response in (
        await client.put(
            f"{API}/pledges/{placed['id']}", json={"amount": 2_000}, headers=backer.headers
        ),
        await client.delete(f"{API}/pledges/{placed['id']}", headers=backer.headers),
    ):
        assert response.status_code == 409
    assert (await wallet(client, backer))["held"] == 1_000


async def test_bad_pledges_get_a_clear_422(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    for body in ({"amount": 0}, {"amount": 99}, {"amount": "ten"}, {"amount": 100, "x": 1}):
        response = await client.post(
            f"{API}/projects/{project['id']}/pledges", json=body, headers=backer.headers
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
    unauthenticated = await client.post(
        f"{API}/projects/{project['id']}/pledges", json={"amount": 500}
    )
    assert unauthenticated.status_code == 401


async def test_a_retried_pledge_with_the_same_idempotency_key_holds_once(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    await top_up(client, backer, 5_000)
    headers = {**backer.headers, "Idempotency-Key": "pledge-1"}
    url = f"{API}/projects/{project['id']}/pledges"
    first = await client.post(url, json={"amount": 2_000}, headers=headers)
    second = await client.post(url, json={"amount": 2_000}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert (await wallet(client, backer))["held"] == 2_000


@pytest.mark.feature("kickstarter", "funding-goal")
async def test_concurrent_pledges_keep_the_totals_exact(
    client: httpx.AsyncClient, creator: Account, new_account: NewAccount, platform: Platform
) -> None:
    project = await launched_project(client, creator, goal=5_000)
    backers = [await new_account() for _ in range(8)]
    for account in backers:
        await top_up(client, account, 2_000)
    responses = await asyncio.gather(
        *(pledge(client, a, project["id"], 700 + i) for i, a in enumerate(backers))
    )
    assert [r.status_code for r in responses] == [201] * 8
    # Each backer then changes and one cancels, concurrently.
    ids = [r.json()["id"] for r in responses]
    changes = await asyncio.gather(
        *(
            client.put(f"{API}/pledges/{pid}", json={"amount": 1_000}, headers=a.headers)
            for pid, a in zip(ids[1:], backers[1:], strict=True)
        ),
        client.delete(f"{API}/pledges/{ids[0]}", headers=backers[0].headers),
    )
    assert [r.status_code for r in changes] == [200] * 8
    totals = await get_project(client, project["id"])
    assert (totals["pledged"], totals["backers"]) == (7 * 1_000, 7)
    assert totals["percent_funded"] == 140
    async with platform.db.session() as session:
        assert (await verify(session)).ok
