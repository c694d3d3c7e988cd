"""Paid subscriptions on the ledger: monthly/annual plans, the paywall on the web, renewals,
lapses that end access, cancellations, contributions, and exact money under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.substack import payments
from casebook.systems.substack.models import PaidSubscription
from tests.systems.substack.conftest import API, CARD, Account, top_up, write_post

paid = pytest.mark.feature("substack", "paid-subscriptions")
BODY = "Everyone reads this.\n<!-- paywall -->\n\nOnly paid readers read this."


async def paid_post(client: httpx.AsyncClient, writer: Account, pub_id: str) -> str:
    created = await write_post(
        client, writer, pub_id, publish="now", audience="paid", body=BODY, send_email=False
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def read(client: httpx.AsyncClient, post_id: str, account: Account | None) -> dict[str, Any]:
    response = await client.get(
        f"{API}/posts/{post_id}", headers=account.headers if account else {}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def expire(platform: Platform, user_id: int) -> None:
    """Time passes: the reader's paid period ends now."""
    async with platform.db.session() as session:
        await session.execute(
            update(PaidSubscription)
            .where(PaidSubscription.user_id == user_id)
            .values(current_period_end=utcnow() - timedelta(seconds=1))
        )


@paid
async def test_paying_opens_paid_posts_and_a_lapse_closes_them(
    client: httpx.AsyncClient,
    platform: Platform,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
) -> None:
    post_id = await paid_post(client, writer, publication["id"])
    anonymous = await read(client, post_id, None)
    assert anonymous["paywalled"] is True and "Only paid" not in anonymous["html"]
    assert "Everyone reads this." in anonymous["html"]
    assert (await read(client, post_id, writer))["paywalled"] is False

    poor = await client.post(
        f"{API}/publications/{publication['id']}/paid-subscription",
        json={"plan": "monthly"},
        headers=reader.headers,
    )
    assert poor.status_code == 409 and poor.json()["type"] == "/problems/ledger/exceeds-credits"
    assert (await read(client, post_id, reader))["paywalled"] is True

    await top_up(client, reader, 700)
    bought = await client.post(
        f"{API}/publications/{publication['id']}/paid-subscription",
        json={"plan": "monthly"},
        headers=reader.headers,
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["amount"] == 500 and bought.json()["status"] == "active"
    full = await read(client, post_id, reader)
    assert full["paywalled"] is False and "Only paid readers" in full["html"]
    wallet = await client.get(f"{API}/wallet", headers=reader.headers)
    assert wallet.json()["balance"] == 200
    async with platform.db.session() as session:
        assert await payments.earnings_balance(session, int(publication["id"])) == 450

    # The month ends with $2 in the wallet: the renewal fails and access ends.
    await expire(platform, reader.user_id)
    report = await payments.renew_due(platform.db)
    assert (report.renewed, report.lapsed) == (0, 1)
    assert (await read(client, post_id, reader))["paywalled"] is True
    mine = await client.get(f"{API}/subscriptions", headers=reader.headers)
    assert mine.json()[0]["paid_status"] == "lapsed"
    assert (await client.get(f"{API}/wallet", headers=reader.headers)).json()["balance"] == 200
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@paid
async def test_renewals_charge_once_per_period_even_when_sweeps_race(
    client: httpx.AsyncClient,
    platform: Platform,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
) -> None:
    await top_up(client, reader, 20_000)
    bought = await client.post(
        f"{API}/publications/{publication['id']}/paid-subscription",
        json={"plan": "annual"},
        headers=reader.headers,
    )
    assert bought.status_code == 201
    await expire(platform, reader.user_id)
    reports = await asyncio.gather(*(payments.renew_due(platform.db) for _ in range(4)))
    assert sum(r.renewed for r in reports) == 1
    assert (await client.get(f"{API}/wallet", headers=reader.headers)).json()["balance"] == 10_000
    async with platform.db.session() as session:
        assert await payments.earnings_balance(session, int(publication["id"])) == 9_000
        row = await payments.paid_subscription_of(session, reader.user_id, int(publication["id"]))
        assert row is not None and row.renewals == 1
        assert row.current_period_end > utcnow() + timedelta(days=360)
        assert (await verify(session)).ok


@paid
async def test_a_canceled_subscription_runs_to_the_end_of_its_period(
    client: httpx.AsyncClient,
    platform: Platform,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
) -> None:
    post_id = await paid_post(client, writer, publication["id"])
    await top_up(client, reader, 5_000)
    url = f"{API}/publications/{publication['id']}/paid-subscription"
    assert (
        await client.post(url, json={"plan": "monthly"}, headers=reader.headers)
    ).status_code == 201
    again = await client.post(url, json={"plan": "monthly"}, headers=reader.headers)
    assert again.status_code == 409
    canceled = await client.post(f"{url}/cancel", headers=reader.headers)
    assert canceled.json()["status"] == "canceled"
    assert (await read(client, post_id, reader))["paywalled"] is False
    await expire(platform, reader.user_id)
    assert (await payments.renew_due(platform.db)).renewed == 0
    assert (await read(client, post_id, reader))["paywalled"] is True
    assert (await client.get(f"{API}/wallet", headers=reader.headers)).json()["balance"] == 4_500


@paid
async def test_contributions_cards_and_bad_input(
    client: httpx.AsyncClient,
    platform: Platform,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
) -> None:
    declined = await client.post(
        f"{API}/wallet/top-ups",
        json={"amount": 1000, "card": {**CARD, "number": "4000000000000002"}},
        headers=reader.headers,
    )
    assert declined.status_code == 402 and declined.json()["code"] == "card_declined"
    bad = await client.post(
        f"{API}/wallet/top-ups", json={"amount": 5, "card": CARD}, headers=reader.headers
    )
    assert bad.status_code == 422
    assert (await client.get(f"{API}/wallet", headers=reader.headers)).json()["balance"] == 0
    await top_up(client, reader, 1_000)
    url = f"{API}/publications/{publication['id']}/contributions"
    gifts = await asyncio.gather(
        *(client.post(url, json={"amount": 300}, headers=reader.headers) for _ in range(4))
    )
    assert sorted(g.status_code for g in gifts) == [201, 201, 201, 409]
    assert (await client.get(f"{API}/wallet", headers=reader.headers)).json()["balance"] == 100
    async with platform.db.session() as session:
        assert await payments.earnings_balance(session, int(publication["id"])) == 810
        assert (await verify(session)).ok
    free = await client.post(
        f"{API}/publications",
        json={"slug": "free-only", "name": "Free"},
        headers=writer.headers,
    )
    refused = await client.post(
        f"{API}/publications/{free.json()['id']}/paid-subscription",
        json={"plan": "monthly"},
        headers=reader.headers,
    )
    assert refused.status_code == 422


def test_months_are_calendar_months() -> None:
    from datetime import UTC, datetime

    assert payments.add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert payments.add_months(datetime(2026, 11, 22, tzinfo=UTC), 12) == datetime(
        2027, 11, 22, tzinfo=UTC
    )
