"""The discovery page and a page per project."""

from __future__ import annotations

import httpx
import pytest

from tests.systems.kickstarter.conftest import (
    API,
    Account,
    create_project,
    launched_project,
    pledge,
    top_up,
)


@pytest.mark.feature("kickstarter", "discovery")
async def test_the_project_page_shows_progress_rewards_and_updates(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator, title="Moon <Lamp>")
    await client.post(
        f"{API}/projects/{project['id']}/rewards",
        json={"title": "Lamp", "minimum": 2_500, "quantity": 10},
        headers=creator.headers,
    )
    await client.post(
        f"{API}/projects/{project['id']}/updates",
        json={"title": "Shipping soon", "body": "Boxes ordered."},
        headers=creator.headers,
    )
    await top_up(client, backer, 5_000)
    await pledge(client, backer, project["id"], 2_500)
    page = await client.get(f"/kickstarter/projects/{project['id']}")
    assert page.status_code == 200
    html = page.text
    assert "Moon &lt;Lamp&gt;" in html and "<Lamp>" not in html
    assert "$25.00</strong> pledged of $100.00 goal" in html
    assert "10 of 10 left" in html and "Shipping soon" in html
    home = await client.get("/kickstarter/?category=technology")
    assert f"/kickstarter/projects/{project['id']}" in home.text
    draft = await create_project(client, creator)
    assert (await client.get(f"/kickstarter/projects/{draft['id']}")).status_code == 404
