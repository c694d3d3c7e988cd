"""The group-commit writer of new links: batching, per-row outcomes, failure isolation, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.url_shortener.models import MAIN_DOMAIN, Domain, Link
from casebook.systems.url_shortener.runtime import Shortener
from casebook.systems.url_shortener.safety import RejectedUrl
from casebook.systems.url_shortener.writer import LinkWriter, WriterClosed
from tests.systems.url_shortener.conftest import API, Account

NewAccount = Callable[[], Awaitable[Account]]


def row(
    code: str, *, owner_id: int | None = None, url: str = "https://example.com/"
) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": new_id(),
        "domain_id": MAIN_DOMAIN,
        "code": code,
        "is_alias": True,
        "owner_id": owner_id,
        "target_url": url,
        "redirect_type": 302,
        "created_at": now,
        "updated_at": now,
        "expires_at": None,
        "inactivity_days": None,
        "last_click_at": None,
        "click_count": 0,
        "deleted_at": None,
    }


async def stored_codes(platform: Platform) -> set[str]:
    async with platform.db.session() as session:
        return set(await session.scalars(select(Link.code)))


async def test_concurrent_creates_are_all_committed_in_fewer_transactions(
    client: httpx.AsyncClient,
    platform: Platform,
    state: Shortener,
    new_account: NewAccount,
) -> None:
    alice = await new_account()
    state.configure(state.config.model_copy(update={"shorten_per_minute_ip": 10_000}))
    before = state.writer.batches
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/links", json={"url": f"https://example.com/{n}"}, headers=alice.headers
            )
            for n in range(60)
        )
    )
    assert [r.status_code for r in responses] == [201] * 60
    codes = {r.json()["code"] for r in responses}
    assert len(codes) == 60
    assert codes <= await stored_codes(platform)
    assert state.writer.batches - before < 60, "concurrent creates shared transactions"


async def test_a_failing_row_fails_only_its_own_request(
    platform: Platform, state: Shortener, caplog: pytest.LogCaptureFixture
) -> None:
    """A row whose owner does not exist breaks the batch's INSERT (foreign key); the writer
    retries the rows one by one, so only that row's caller sees the error."""
    good = [row(f"good{n}") for n in range(5)]
    bad = row("orphan", owner_id=new_id())
    outcomes = await asyncio.gather(
        *(state.writer.insert(values, "example.com") for values in [*good[:2], bad, *good[2:]]),
        return_exceptions=True,
    )
    assert any("link batch failed" in r.getMessage() for r in caplog.records), "one batch"
    assert isinstance(outcomes[2], IntegrityError)
    links = [o for i, o in enumerate(outcomes) if i != 2]
    assert all(isinstance(link, Link) for link in links)
    assert [link.code for link in links if isinstance(link, Link)] == [v["code"] for v in good]
    stored = await stored_codes(platform)
    assert {v["code"] for v in good} <= stored and "orphan" not in stored


async def test_two_rows_with_one_code_in_one_batch_one_wins(
    platform: Platform, state: Shortener
) -> None:
    first, second = row("twins", url="https://example.com/1"), row("twins")
    outcomes = await asyncio.gather(
        state.writer.insert(first, "example.com"), state.writer.insert(second, "example.com")
    )
    assert isinstance(outcomes[0], Link) and outcomes[1] is None
    async with platform.db.session() as session:
        urls = list(await session.scalars(select(Link.target_url).where(Link.code == "twins")))
    assert urls == ["https://example.com/1"]


async def test_a_target_on_a_verified_short_domain_is_refused_alone(
    platform: Platform, state: Shortener, new_account: NewAccount
) -> None:
    owner = await new_account()
    async with platform.db.session() as session:
        session.add(
            Domain(
                id=new_id(),
                owner_id=owner.user_id,
                host="go.brand.example",
                verification_token="t",
                verified_at=utcnow(),
            )
        )
    loop, fine = row("loops", url="https://go.brand.example/x"), row("fine")
    outcomes = await asyncio.gather(
        state.writer.insert(loop, "go.brand.example"),
        state.writer.insert(fine, "example.com"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], RejectedUrl) and outcomes[0].extensions["reason"] == "loop"
    assert isinstance(outcomes[1], Link)
    assert await stored_codes(platform) == {"fine"}


async def test_stop_commits_every_queued_row_then_refuses_new_ones(platform: Platform) -> None:
    writer = LinkWriter(platform.db, max_batch=4)
    writer.start()
    waiting = [
        asyncio.create_task(writer.insert(row(f"drain{n}"), "example.com")) for n in range(10)
    ]
    await asyncio.sleep(0)  # every row is queued, none committed yet
    await writer.stop()
    assert all(task.done() and isinstance(task.result(), Link) for task in waiting)
    assert writer.batches >= 3, "at most 4 rows a transaction"
    assert {f"drain{n}" for n in range(10)} <= await stored_codes(platform)
    with pytest.raises(WriterClosed):
        await writer.insert(row("late"), "example.com")
    async with platform.db.session() as session:
        late = await session.scalar(select(func.count()).where(Link.code == "late"))
    assert late == 0
