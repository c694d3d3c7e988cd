"""Reward tiers: a minimum pledge, and a limited quantity that is never oversold, even when
backers race for the last one; cancelling or switching gives the reward back."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from tests.systems.kickstarter.conftest import (
    API,
    Account,
    NewAccount,
    launched_project,
    pledge,
    top_up,
    wallet,
)

pytestmark = pytest.mark.feature("kickstarter", "reward-tiers")


async def _tier(
    client: httpx.AsyncClient, owner: Account, project_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/projects/{project_id}/rewards",
        json={"title": "Early bird", **body},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_reward_needs_its_minimum_pledge(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    tier = await _tier(client, creator, project["id"], minimum=2_500)
    await top_up(client, backer, 5_000)
    low = await pledge(client, backer, project["id"], 2_499, reward_tier_id=tier["id"])
    assert low.status_code == 422
    assert low.json()["type"] == "/problems/kickstarter/pledge-below-minimum"
    assert (await wallet(client, backer))["held"] == 0
    ok = await pledge(client, backer, project["id"], 2_500, reward_tier_id=tier["id"])
    assert ok.status_code == 201
    lowered = await client.put(
        f"{API}/pledges/{ok.json()['id']}",
        json={"amount": 1_000, "reward_tier_id": tier["id"]},
        headers=backer.headers,
    )
    assert lowered.status_code == 422
    no_reward = await client.put(
        f"{API}/pledges/{ok.json()['id']}", json={"amount": 1_000}, headers=backer.headers
    )
    assert no_reward.status_code == 200
    rewards = (await client.get(f"{API}/projects/{project['id']}/rewards")).json()
    assert rewards[0]["claimed"] == 0


async def test_a_reward_of_another_project_is_refused(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    first = await launched_project(client, creator)
    second = await launched_project(client, creator)
    tier = await _tier(client, creator, first["id"], minimum=100)
    await top_up(client, backer, 5_000)
    response = await pledge(client, backer, second["id"], 1_000, reward_tier_id=tier["id"])
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/kickstarter/reward-not-found"


async def test_only_the_creator_adds_rewards(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    response = await client.post(
        f"{API}/projects/{project['id']}/rewards",
        json={"title": "Mine", "minimum": 100},
        headers=backer.headers,
    )
    assert response.status_code == 403
    assert (await client.get(f"{API}/projects/{project['id']}/rewards")).json() == []


async def test_the_last_reward_cannot_be_oversold(
    client: httpx.AsyncClient, creator: Account, new_account: NewAccount, platform: Platform
) -> None:
    project = await launched_project(client, creator)
    tier = await _tier(client, creator, project["id"], minimum=1_000, quantity=3)
    backers = [await new_account() for _ in range(8)]
    for account in backers:
        await top_up(client, account, 2_000)
    responses = await asyncio.gather(
        *(pledge(client, a, project["id"], 1_000, reward_tier_id=tier["id"]) for a in backers)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 5
    assert {r.json()["type"] for r in responses if r.status_code == 409} == {
        "/problems/kickstarter/reward-sold-out"
    }
    rewards = (await client.get(f"{API}/projects/{project['id']}/rewards")).json()
    assert (rewards[0]["claimed"], rewards[0]["remaining"]) == (3, 0)
    refused = [a for a, r in zip(backers, responses, strict=True) if r.status_code == 409]
    for account in refused:
        assert (await wallet(client, account))["held"] == 0
    project_now = (await client.get(f"{API}/projects/{project['id']}")).json()
    assert (project_now["backers"], project_now["pledged"]) == (3, 3_000)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_cancelling_or_switching_gives_the_reward_back(
    client: httpx.AsyncClient, creator: Account, new_account: NewAccount
) -> None:
    project = await launched_project(client, creator)
    scarce = await _tier(client, creator, project["id"], minimum=1_000, quantity=1)
    plenty = await _tier(client, creator, project["id"], minimum=500)
    first, second = await new_account(), await new_account()
    for account in (first, second):
        await top_up(client, account, 5_000)
    held = await pledge(client, first, project["id"], 1_000, reward_tier_id=scarce["id"])
    assert held.status_code == 201
    blocked = await pledge(client, second, project["id"], 1_000, reward_tier_id=scarce["id"])
    assert blocked.status_code == 409
    switched = await client.put(
        f"{API}/pledges/{held.json()['id']}",
        json={"amount": 1_000, "reward_tier_id": plenty["id"]},
        headers=first.headers,
    )
    assert switched.status_code == 200
    taken = await pledge(client, second, project["id"], 1_000, reward_tier_id=scarce["id"])
    assert taken.status_code == 201
    cancelled = await client.delete(f"{API}/pledges/{taken.json()['id']}", headers=second.headers)
    assert cancelled.status_code == 200
    rewards = {
        r["id"]: r for r in (await client.get(f"{API}/projects/{project['id']}/rewards")).json()
    }
    assert rewards[scarce["id"]]["claimed"] == 0
    assert rewards[plenty["id"]]["claimed"] == 1


async def test_bad_reward_tiers_get_a_422(client: httpx.AsyncClient, creator: Account) -> None:
    project = await launched_project(client, creator)
    for body in (
        {"title": "", "minimum": 100},
        {"title": "x", "minimum": 0},
        {"title": "x", "minimum": 100, "quantity": 0},
    ):
        response = await client.post(
            f"{API}/projects/{project['id']}/rewards", json=body, headers=creator.headers
        )
        assert response.status_code == 422
