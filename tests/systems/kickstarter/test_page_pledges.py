"""Pledging from the project page: a signed-in backer pledges, changes and cancels through HTML
forms (same-origin only); refusals show the reason and change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.kickstarter.errors import InvalidPledgeForm
from casebook.systems.kickstarter.pages import parse_dollars, parse_reward
from tests.systems.kickstarter.conftest import (
    API,
    Account,
    NewAccount,
    get_project,
    launched_project,
    top_up,
    wallet,
)

SAME_ORIGIN = {"origin": "http://testserver"}


def sign_in(client: httpx.AsyncClient, account: Account) -> None:
    client.cookies.set("casebook_access", account.token)


async def project_with_reward(
    client: httpx.AsyncClient, creator: Account, quantity: int = 5
) -> tuple[dict[str, Any], dict[str, Any]]:
    project = await launched_project(client, creator)
    tier = await client.post(
        f"{API}/projects/{project['id']}/rewards",
        json={"title": "Telescope", "minimum": 3_000, "quantity": quantity},
        headers=creator.headers,
    )
    assert tier.status_code == 201, tier.text
    return project, tier.json()


async def tier_claimed(client: httpx.AsyncClient, project_id: str) -> int:
    tiers = (await client.get(f"{API}/projects/{project_id}/rewards")).json()
    return int(tiers[0]["claimed"])


@pytest.mark.feature("kickstarter", "pledges")
async def test_a_backer_pledges_changes_and_cancels_from_the_page(
    client: httpx.AsyncClient, creator: Account, backer: Account, platform: Platform
) -> None:
    project, tier = await project_with_reward(client, creator)
    await top_up(client, backer, 10_000)
    sign_in(client, backer)
    page = f"/kickstarter/projects/{project['id']}"
    form = await client.get(page)
    assert f'action="{page}/pledge"' in form.text and "Cancel my pledge" not in form.text

    placed = await client.post(
        f"{page}/pledge", data={"amount": "$30", "reward": tier["id"]}, headers=SAME_ORIGIN
    )
    assert placed.status_code == 303 and placed.headers["location"] == page
    assert (await get_project(client, project["id"]))["pledged"] == 3_000
    assert (await wallet(client, backer))["held"] == 3_000
    shown = await client.get(page)
    assert "You pledged <strong>$30.00</strong> for “Telescope”" in shown.text
    assert "Cancel my pledge" in shown.text

    changed = await client.post(
        f"{page}/pledge", data={"amount": "45.5", "reward": ""}, headers=SAME_ORIGIN
    )
    assert changed.status_code == 303
    assert (await get_project(client, project["id"]))["pledged"] == 4_550
    assert (await get_project(client, project["id"]))["backers"] == 1
    assert await tier_claimed(client, project["id"]) == 0
    assert (await wallet(client, backer))["held"] == 4_550

    cancelled = await client.post(f"{page}/pledge/cancel", headers=SAME_ORIGIN)
    assert cancelled.status_code == 303
    assert (await get_project(client, project["id"]))["pledged"] == 0
    after = await wallet(client, backer)
    assert (after["balance"], after["held"], after["available"]) == (10_000, 0, 10_000)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("kickstarter", "pledges")
async def test_a_refused_pledge_shows_why_and_changes_nothing(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project, tier = await project_with_reward(client, creator, quantity=1)
    await top_up(client, backer, 2_000)
    sign_in(client, backer)
    page = f"/kickstarter/projects/{project['id']}"
    # The reward is claimed before the wallet refuses; the page must undo that claim.
    short = await client.post(
        f"{page}/pledge", data={"amount": "30", "reward": tier["id"]}, headers=SAME_ORIGIN
    )
    assert short.status_code == 409
    assert 'role="alert"' in short.text and 'value="30"' in short.text
    assert await tier_claimed(client, project["id"]) == 0
    bad = await client.post(f"{page}/pledge", data={"amount": "lots"}, headers=SAME_ORIGIN)
    assert bad.status_code == 422 and "like 25 or 25.50" in bad.text
    nothing = await client.post(f"{page}/pledge/cancel", headers=SAME_ORIGIN)
    assert nothing.status_code == 404 and "no open pledge" in nothing.text
    assert (await get_project(client, project["id"]))["pledged"] == 0
    assert (await wallet(client, backer))["held"] == 0


@pytest.mark.feature("kickstarter", "pledges")
async def test_pledge_forms_refuse_other_sites_and_anonymous_visitors(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project, _ = await project_with_reward(client, creator)
    await top_up(client, backer, 5_000)
    page = f"/kickstarter/projects/{project['id']}"
    anonymous = await client.post(f"{page}/pledge", data={"amount": "10"}, headers=SAME_ORIGIN)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next=/kickstarter/projects/{project['id']}"
    sign_in(client, backer)
    forged = await client.post(
        f"{page}/pledge", data={"amount": "10"}, headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert forged.json()["type"].endswith("cross-site-request")
    missing = await client.post(f"{page}/pledge", data={"amount": "10"})
    assert missing.status_code == 403
    assert (await get_project(client, project["id"]))["pledged"] == 0


@pytest.mark.feature("kickstarter", "pledges")
async def test_one_backer_cannot_see_or_cancel_anothers_pledge_from_the_page(
    client: httpx.AsyncClient, creator: Account, backer: Account, new_account: NewAccount
) -> None:
    project, _ = await project_with_reward(client, creator)
    other = await new_account()
    await top_up(client, backer, 5_000)
    page = f"/kickstarter/projects/{project['id']}"
    sign_in(client, backer)
    await client.post(f"{page}/pledge", data={"amount": "12.34"}, headers=SAME_ORIGIN)
    sign_in(client, other)
    seen = await client.get(page)
    assert "You pledged" not in seen.text and "$12.34</strong> pledged" in seen.text
    refused = await client.post(f"{page}/pledge/cancel", headers=SAME_ORIGIN)
    assert refused.status_code == 404
    assert (await get_project(client, project["id"]))["pledged"] == 1_234
    sign_in(client, creator)
    own = await client.get(page)
    assert "creators cannot back their own" in own.text and f"{page}/pledge" not in own.text


def test_typed_dollar_amounts_become_cents_within_the_limits() -> None:
    assert parse_dollars("25") == 2_500
    assert parse_dollars(" $1,250.5 ") == 125_050
    for text in ("", "abc", "1.234", "-5", "0.99", "10000000"):
        with pytest.raises(InvalidPledgeForm):
            parse_dollars(text)
    assert parse_reward("") is None and parse_reward("42") == 42
    with pytest.raises(InvalidPledgeForm):
        parse_reward("nope")
