"""All-or-nothing settlement at the deadline: every hold captured (creator paid, less the fee)
when the goal is met, every hold voided when it is not; running it again changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.models import LedgerTransfer
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.kickstarter import accounts
from casebook.systems.kickstarter.models import ProjectStatus
from casebook.systems.kickstarter.settlement import (
    begin_settlement,
    platform_fee,
    settle_due,
    settle_pledges,
    settle_project,
)
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

pytestmark = pytest.mark.feature("kickstarter", "all-or-nothing")
EndCampaign = Callable[[str], Awaitable[None]]


async def _backed(
    client: httpx.AsyncClient, new_account: NewAccount, project_id: str, amounts: list[int]
) -> list[Account]:
    backers = []
    for amount in amounts:
        account = await new_account()
        await top_up(client, account, 10_000)
        response = await pledge(client, account, project_id, amount)
        assert response.status_code == 201, response.text
        backers.append(account)
    return backers


async def _balances(platform: Platform, owners: list[int], project_id: str) -> dict[str, int]:
    async with platform.db.session() as session:
        ledger = Ledger(session)
        result = {}
        for owner in owners:
            account = await accounts.wallet(ledger, owner)
            result[f"user:{owner}"] = account.posted
            result[f"held:{owner}"] = account.held
        result["escrow"] = (await accounts.escrow(ledger, int(project_id))).posted
        result["fees"] = (await accounts.fees(ledger)).posted
        result["transfers"] = int(
            await session.scalar(select(func.count()).select_from(LedgerTransfer)) or 0
        )
    return result


@pytest.mark.feature("kickstarter", "payment-processing")
async def test_goal_met_captures_every_pledge_and_pays_the_creator_less_the_fee(
    client: httpx.AsyncClient,
    creator: Account,
    new_account: NewAccount,
    platform: Platform,
    end_campaign: EndCampaign,
) -> None:
    project = await launched_project(client, creator, goal=5_000)
    backers = await _backed(client, new_account, project["id"], [2_000, 3_000, 1_234])
    total = 6_234
    early = await client.post(f"{API}/projects/{project['id']}/settle", headers=creator.headers)
    assert early.status_code == 409
    await end_campaign(project["id"])
    settled = await client.post(f"{API}/projects/{project['id']}/settle", headers=creator.headers)
    assert settled.status_code == 200, settled.text
    fee = platform_fee(total)
    assert fee == 311
    assert settled.json() == {
        "project_id": project["id"],
        "status": "successful",
        "collected": total,
        "fee": fee,
    }
    for account, amount in zip(backers, [2_000, 3_000, 1_234], strict=True):
        funds = await wallet(client, account)
        assert (funds["balance"], funds["held"]) == (10_000 - amount, 0)
    assert (await wallet(client, creator))["balance"] == total - fee
    balances = await _balances(platform, [creator.user_id], project["id"])
    assert (balances["escrow"], balances["fees"]) == (0, fee)
    shown = await get_project(client, project["id"])
    assert (shown["status"], shown["collected"], shown["fee"]) == ("successful", total, fee)
    mine = await client.get(f"{API}/pledges", headers=backers[0].headers)
    assert [p["status"] for p in mine.json()["items"]] == ["collected"]
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_goal_missed_releases_every_hold_and_collects_nothing(
    client: httpx.AsyncClient,
    creator: Account,
    new_account: NewAccount,
    platform: Platform,
    end_campaign: EndCampaign,
) -> None:
    project = await launched_project(client, creator, goal=50_000)
    backers = await _backed(client, new_account, project["id"], [2_000, 3_000])
    await end_campaign(project["id"])
    assert await settle_due(platform.db) == [int(project["id"])]
    for account in backers:
        funds = await wallet(client, account)
        assert (funds["balance"], funds["held"], funds["available"]) == (10_000, 0, 10_000)
    assert (await wallet(client, creator))["balance"] == 0
    shown = await get_project(client, project["id"])
    assert (shown["status"], shown["collected"], shown["fee"]) == ("failed", 0, 0)
    mine = await client.get(f"{API}/pledges", headers=backers[1].headers)
    assert [p["status"] for p in mine.json()["items"]] == ["released"]
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_running_the_settlement_again_changes_nothing(
    client: httpx.AsyncClient,
    creator: Account,
    new_account: NewAccount,
    platform: Platform,
    end_campaign: EndCampaign,
) -> None:
    project = await launched_project(client, creator, goal=1_000)
    backers = await _backed(client, new_account, project["id"], [700, 800])
    owners = [creator.user_id, *(b.user_id for b in backers)]
    await end_campaign(project["id"])
    first = await settle_project(platform.db, int(project["id"]))
    after_first = await _balances(platform, owners, project["id"])
    second = await settle_project(platform.db, int(project["id"]))
    assert await settle_due(platform.db) == []
    assert first == second
    assert await _balances(platform, owners, project["id"]) == after_first


async def test_a_settlement_interrupted_after_capturing_resumes_without_paying_twice(
    client: httpx.AsyncClient,
    creator: Account,
    new_account: NewAccount,
    platform: Platform,
    end_campaign: EndCampaign,
) -> None:
    """A process that dies after capturing the pledges, before the payout, leaves the project
    `settling`; the next run pays out once and finds nothing left to capture."""
    project = await launched_project(client, creator, goal=1_000)
    await _backed(client, new_account, project["id"], [600, 600])
    await end_campaign(project["id"])
    assert await begin_settlement(platform.db, int(project["id"])) == ProjectStatus.SETTLING
    await settle_pledges(platform.db, int(project["id"]))
    assert (await get_project(client, project["id"]))["status"] == "settling"
    assert (await wallet(client, creator))["balance"] == 0
    result = await settle_project(platform.db, int(project["id"]))
    assert result is not None and result.collected == 1_200
    assert (await wallet(client, creator))["balance"] == 1_200 - platform_fee(1_200)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_concurrent_settlements_settle_once(
    client: httpx.AsyncClient,
    creator: Account,
    new_account: NewAccount,
    platform: Platform,
    end_campaign: EndCampaign,
) -> None:
    project = await launched_project(client, creator, goal=1_000)
    await _backed(client, new_account, project["id"], [500, 500, 500])
    await end_campaign(project["id"])
    responses = await asyncio.gather(
        *(
            client.post(f"{API}/projects/{project['id']}/settle", headers=creator.headers)
            for _ in range(5)
        )
    )
    assert [r.status_code for r in responses] == [200] * 5
    assert (await wallet(client, creator))["balance"] == 1_500 - platform_fee(1_500)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_pledges_racing_the_settlement_are_either_settled_or_refused(
    client: httpx.AsyncClient,
    creator: Account,
    new_account: NewAccount,
    platform: Platform,
    end_campaign: EndCampaign,
) -> None:
    """Changes sent as the deadline passes race the settlement: each is refused, as too late
    (`project-not-live`) or as already settled (`pledge-closed`), and every original hold is
    captured exactly once."""
    project = await launched_project(client, creator, goal=1_000)
    backers = await _backed(client, new_account, project["id"], [300, 300, 300, 300])
    mine = [
        (await client.get(f"{API}/pledges", headers=b.headers)).json()["items"][0] for b in backers
    ]
    await end_campaign(project["id"])
    results = await asyncio.gather(
        settle_project(platform.db, int(project["id"])),
        *(
            client.put(f"{API}/pledges/{p['id']}", json={"amount": 400}, headers=b.headers)
            for p, b in zip(mine, backers, strict=True)
        ),
    )
    assert [r.status_code for r in results[1:]] == [409] * 4  # type: ignore[union-attr]
    refusals = {r.json()["type"] for r in results[1:]}  # type: ignore[union-attr]
    assert refusals <= {
        "/problems/kickstarter/project-not-live",
        "/problems/kickstarter/pledge-closed",
    }
    assert (await wallet(client, creator))["balance"] == 1_200 - platform_fee(1_200)
    for account in backers:
        funds = await wallet(client, account)
        assert (funds["balance"], funds["held"]) == (10_000 - 300, 0)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_concurrent_pledges_and_settlement_before_the_deadline(
    client: httpx.AsyncClient,
    creator: Account,
    new_account: NewAccount,
    platform: Platform,
    end_campaign: EndCampaign,
) -> None:
    """Pledges and the sweep run together while the project is live (the sweep settles nothing),
    then after the deadline every accepted pledge is collected exactly."""
    project = await launched_project(client, creator, goal=2_000)
    backers = [await new_account() for _ in range(6)]
    for account in backers:
        await top_up(client, account, 1_000)
    results = await asyncio.gather(
        *(pledge(client, a, project["id"], 500) for a in backers),
        settle_due(platform.db),
        settle_due(platform.db),
    )
    assert [r.status_code for r in results[:6]] == [201] * 6  # type: ignore[attr-defined]
    assert results[6:] == [[], []]
    await end_campaign(project["id"])
    await asyncio.gather(settle_due(platform.db), settle_due(platform.db))
    assert (await wallet(client, creator))["balance"] == 3_000 - platform_fee(3_000)
    for account in backers:
        assert (await wallet(client, account))["balance"] == 500
    async with platform.db.session() as session:
        assert (await verify(session)).ok
