"""Discovery by category and popularity, cursor-paged; a project's backers (creator only) and a
backer's own pledges."""

from __future__ import annotations

import httpx
import pytest

from tests.systems.kickstarter.conftest import (
    API,
    Account,
    NewAccount,
    create_project,
    launched_project,
    pledge,
    top_up,
)


@pytest.mark.feature("kickstarter", "discovery")
async def test_discover_by_category_most_backed_first(
    client: httpx.AsyncClient, creator: Account, new_account: NewAccount
) -> None:
    quiet = await launched_project(client, creator, title="Quiet", category="games")
    busy = await launched_project(client, creator, title="Busy", category="games")
    rich = await launched_project(client, creator, title="Rich", category="games")
    film = await launched_project(client, creator, title="Film", category="film")
    await create_project(client, creator, title="Draft", category="games")
    backers = [await new_account() for _ in range(3)]
    for account in backers:
        await top_up(client, account, 10_000)
    # Busy: 2 backers; Rich: 1 backer with the most money; Quiet: 1 smaller backer.
    await pledge(client, backers[0], busy["id"], 100)
    await pledge(client, backers[1], busy["id"], 100)
    await pledge(client, backers[2], rich["id"], 9_000)
    await pledge(client, backers[0], quiet["id"], 500)
    await pledge(client, backers[1], film["id"], 100)

    page = (await client.get(f"{API}/projects?category=games&limit=2")).json()
    assert [p["title"] for p in page["items"]] == ["Busy", "Rich"]
    rest = (
        await client.get(f"{API}/projects?category=games&limit=2&cursor={page['next_cursor']}")
    ).json()
    assert [p["title"] for p in rest["items"]] == ["Quiet"]
    assert rest["next_cursor"] is None
    newest = (await client.get(f"{API}/projects?sort=newest")).json()
    assert [p["title"] for p in newest["items"]] == ["Film", "Rich", "Busy", "Quiet"]
    assert (await client.get(f"{API}/projects?category=nope")).status_code == 422
    assert (await client.get(f"{API}/projects?cursor=garbage!")).status_code == 422
    assert "games" in (await client.get(f"{API}/categories")).json()


@pytest.mark.feature("kickstarter", "backers")
async def test_only_the_creator_lists_the_backers(
    client: httpx.AsyncClient, creator: Account, new_account: NewAccount
) -> None:
    project = await launched_project(client, creator)
    backers = [await new_account() for _ in range(3)]
    for account in backers:
        await top_up(client, account, 5_000)
        await pledge(client, account, project["id"], 1_000)
    cancelled = (await client.get(f"{API}/pledges", headers=backers[0].headers)).json()
    await client.delete(f"{API}/pledges/{cancelled['items'][0]['id']}", headers=backers[0].headers)
    url = f"{API}/projects/{project['id']}/backers"
    listed = await client.get(url, headers=creator.headers)
    assert listed.status_code == 200
    assert [b["backer_id"] for b in listed.json()["items"]] == [
        str(backers[2].user_id),
        str(backers[1].user_id),
    ]
    assert listed.json()["items"][0]["display_name"].startswith("Backer")
    assert (await client.get(url, headers=backers[1].headers)).status_code == 403
    assert (await client.get(url)).status_code == 401


@pytest.mark.feature("kickstarter", "backers")
async def test_a_backer_lists_only_their_own_pledges(
    client: httpx.AsyncClient, creator: Account, new_account: NewAccount
) -> None:
    first = await launched_project(client, creator)
    second = await launched_project(client, creator)
    alice, bob = await new_account(), await new_account()
    for account in (alice, bob):
        await top_up(client, account, 5_000)
    await pledge(client, alice, first["id"], 1_000)
    await pledge(client, alice, second["id"], 2_000)
    await pledge(client, bob, first["id"], 3_000)
    mine = (await client.get(f"{API}/pledges", headers=alice.headers)).json()["items"]
    assert [(p["project_id"], p["amount"]) for p in mine] == [
        (second["id"], 2_000),
        (first["id"], 1_000),
    ]
    assert {p["backer_id"] for p in mine} == {str(alice.user_id)}
