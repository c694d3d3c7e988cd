"""Projects: creation as a draft, creator-only edits, launch freezing goal and deadline, and
creators' progress updates."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from casebook.platform.db import utcnow
from tests.systems.kickstarter.conftest import (
    API,
    Account,
    create_project,
    launched_project,
    project_body,
)


@pytest.mark.feature("kickstarter", "user-accounts")
async def test_one_account_is_creator_and_backer(
    client: httpx.AsyncClient, creator: Account
) -> None:
    project = await create_project(client, creator)
    assert project["creator_id"] == str(creator.user_id)
    assert (await client.get(f"{API}/wallet", headers=creator.headers)).status_code == 200
    anonymous = await client.post(f"{API}/projects", json=project_body())
    assert anonymous.status_code == 401


@pytest.mark.feature("kickstarter", "project-creation")
async def test_a_draft_is_private_until_launched(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await create_project(client, creator, video_url="https://video.example/p.mp4")
    assert (project["status"], project["pledged"], project["backers"]) == ("draft", 0, 0)
    assert project["video_url"] == "https://video.example/p.mp4"
    url = f"{API}/projects/{project['id']}"
    assert (await client.get(url, headers=creator.headers)).status_code == 200
    assert (await client.get(url, headers=backer.headers)).status_code == 404
    assert (await client.get(url)).status_code == 404
    assert (await client.get(f"{API}/projects")).json()["items"] == []
    launched = await client.post(f"{url}/launch", headers=creator.headers)
    assert launched.status_code == 200
    body = launched.json()
    assert body["status"] == "live" and 0 < body["seconds_left"] <= 10 * 86_400
    assert (await client.get(url)).json()["title"] == "A pocket telescope"
    twice = await client.post(f"{url}/launch", headers=creator.headers)
    assert twice.status_code == 409


@pytest.mark.feature("kickstarter", "project-creation")
async def test_bad_projects_get_a_clear_422(client: httpx.AsyncClient, creator: Account) -> None:
    for override in (
        {"category": "weapons"},
        {"goal": 0},
        {"goal": 99.5},
        {"title": ""},
        {"deadline": "2099-01-01T00:00:00"},  # naive
        {"video_url": "not a url"},
    ):
        response = await client.post(
            f"{API}/projects", json=project_body(**override), headers=creator.headers
        )
        assert response.status_code == 422, override
        assert response.headers["content-type"] == "application/problem+json"
    too_far = await create_project(
        client, creator, deadline=(utcnow() + timedelta(days=61)).isoformat()
    )
    launched = await client.post(f"{API}/projects/{too_far['id']}/launch", headers=creator.headers)
    assert launched.status_code == 422
    assert launched.json()["type"] == "/problems/kickstarter/invalid-project"


@pytest.mark.feature("kickstarter", "project-updates")
async def test_only_the_creator_edits_and_goal_and_deadline_freeze_at_launch(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await create_project(client, creator)
    url = f"{API}/projects/{project['id']}"
    edited = await client.patch(url, json={"goal": 20_000}, headers=creator.headers)
    assert edited.status_code == 200 and edited.json()["goal"] == 20_000
    await client.post(f"{url}/launch", headers=creator.headers)
    stranger = await client.patch(url, json={"title": "Mine now"}, headers=backer.headers)
    assert stranger.status_code == 403
    assert stranger.json()["type"] == "/problems/kickstarter/not-the-creator"
    for change in ({"goal": 1_000}, {"deadline": (utcnow() + timedelta(days=20)).isoformat()}):
        frozen = await client.patch(url, json=change, headers=creator.headers)
        assert frozen.status_code == 409
        assert frozen.json()["type"] == "/problems/kickstarter/project-frozen"
    described = await client.patch(
        url, json={"description": "Now with a tripod."}, headers=creator.headers
    )
    assert described.status_code == 200
    shown = (await client.get(url)).json()
    assert (shown["title"], shown["goal"], shown["description"]) == (
        "A pocket telescope",
        20_000,
        "Now with a tripod.",
    )


@pytest.mark.feature("kickstarter", "project-updates")
async def test_creators_post_updates_that_anyone_reads(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    url = f"{API}/projects/{project['id']}/updates"
    for n in range(3):
        response = await client.post(
            url, json={"title": f"Week {n}", "body": "Lenses arrived."}, headers=creator.headers
        )
        assert response.status_code == 201
    refused = await client.post(url, json={"title": "x", "body": "y"}, headers=backer.headers)
    assert refused.status_code == 403
    first = (await client.get(f"{url}?limit=2")).json()
    assert [u["title"] for u in first["items"]] == ["Week 2", "Week 1"]
    rest = (await client.get(f"{url}?limit=2&cursor={first['next_cursor']}")).json()
    assert [u["title"] for u in rest["items"]] == ["Week 0"] and rest["next_cursor"] is None
    empty = await client.post(url, json={"title": "x", "body": ""}, headers=creator.headers)
    assert empty.status_code == 422
