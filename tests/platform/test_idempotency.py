"""Idempotency-Key: replay, conflicts, concurrency, scoping, expiry — on a test-only router."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth import service
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.db import get_session, utcnow
from casebook.platform.errors import Conflict, install_problem_handlers
from casebook.platform.idempotency import (
    PURGE_JOB,
    IdempotencyRecord,
    Idempotent,
    install_idempotency,
    purge_expired_keys,
    request_fingerprint,
)
from casebook.platform.ids import new_id
from casebook.platform.jobs import JobStatus
from casebook.platform.logging import configure_logging
from casebook.platform.settings import Settings

PASSWORD = "correct horse battery"


class TransferIn(BaseModel):
    amount: int
    hold: bool = False


class AccountIn(BaseModel):
    email: str


@dataclass
class Ledger:
    """What the test endpoints did, so tests can count executions."""

    executions: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    failures_left: int = 0


def build_app(platform: Platform, ledger: Ledger, *, with_middleware: bool = True) -> FastAPI:
    router = APIRouter()

    @router.post("/transfers", status_code=201, dependencies=[Idempotent])
    async def create_transfer(body: TransferIn, response: Response) -> dict[str, Any]:
        ledger.executions += 1
        if body.hold:
            ledger.entered.set()
            await ledger.release.wait()
        transfer_id = str(new_id())
        response.headers["Location"] = f"/transfers/{transfer_id}"
        response.set_cookie("seen", "yes")
        return {"id": transfer_id, "amount": body.amount}

    @router.post("/flaky", status_code=201, dependencies=[Idempotent])
    async def flaky(body: TransferIn) -> dict[str, Any]:
        ledger.executions += 1
        if ledger.failures_left > 0:
            ledger.failures_left -= 1
            raise Conflict("The account is locked; try again.")
        return {"amount": body.amount}

    @router.post("/crash", dependencies=[Idempotent])
    async def crash(body: TransferIn) -> dict[str, Any]:
        ledger.executions += 1
        if ledger.failures_left > 0:
            ledger.failures_left -= 1
            raise RuntimeError("the disk caught fire")
        return {"amount": body.amount}

    @router.post("/mine", status_code=201, dependencies=[Idempotent])
    async def mine(body: TransferIn, principal: CurrentPrincipal) -> dict[str, Any]:
        ledger.executions += 1
        return {"user": str(principal.user_id), "amount": body.amount}

    @router.post("/accounts", status_code=201, dependencies=[Idempotent])
    async def open_account(
        body: AccountIn, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> dict[str, Any]:
        ledger.executions += 1
        user = await service.register_user(
            session, body.email, PASSWORD, "U", settings=platform.settings
        )
        return {"id": str(user.id)}

    app = FastAPI()
    app.state.platform = platform
    install_problem_handlers(app)
    if with_middleware:
        install_idempotency(app)
    app.include_router(router)
    return app


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def plain_tracebacks(app: FastAPI, settings: Settings) -> None:
    """JSON logs for tests that crash an endpoint: the console renderer's rich tracebacks (with
    every local variable) take seconds to render. After `app`, which configures logging too."""
    configure_logging(settings.model_copy(update={"log_json": True}))


@pytest.fixture
async def http(platform: Platform, ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(platform, ledger), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def count(platform: Platform, model: type[Any]) -> int:
    async with platform.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_same_key_and_body_replays_the_recorded_response(
    http: httpx.AsyncClient, ledger: Ledger
) -> None:
    first = await http.post("/transfers", json={"amount": 500}, headers=keyed("k-1"))
    again = await http.post("/transfers", json={"amount": 500}, headers=keyed("k-1"))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert ledger.executions == 1


async def test_cookies_set_by_the_first_response_are_not_recorded(
    http: httpx.AsyncClient,
) -> None:
    first = await http.post("/transfers", json={"amount": 1}, headers=keyed("k-cookie"))
    again = await http.post("/transfers", json={"amount": 1}, headers=keyed("k-cookie"))
    assert "set-cookie" in first.headers
    assert "set-cookie" not in again.headers


async def test_same_key_with_a_different_body_is_a_422_problem(
    http: httpx.AsyncClient, ledger: Ledger
) -> None:
    await http.post("/transfers", json={"amount": 500}, headers=keyed("k-2"))
    response = await http.post("/transfers", json={"amount": 900}, headers=keyed("k-2"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/idempotency-key-reused"
    assert ledger.executions == 1


async def test_same_key_on_another_endpoint_is_a_422_problem(http: httpx.AsyncClient) -> None:
    await http.post("/transfers", json={"amount": 5}, headers=keyed("k-3"))
    response = await http.post("/flaky", json={"amount": 5}, headers=keyed("k-3"))
    assert response.status_code == 422


async def test_duplicate_while_the_first_is_in_flight_is_a_409_problem(
    http: httpx.AsyncClient, ledger: Ledger
) -> None:
    body = {"amount": 70, "hold": True}
    first = asyncio.create_task(http.post("/transfers", json=body, headers=keyed("k-4")))
    await asyncio.wait_for(ledger.entered.wait(), timeout=5)
    duplicates = await asyncio.gather(
        *(http.post("/transfers", json=body, headers=keyed("k-4")) for _ in range(8))
    )
    assert [d.status_code for d in duplicates] == [409] * 8
    assert duplicates[0].json()["type"] == "/problems/idempotency-key-in-use"
    ledger.release.set()
    original = await first
    assert original.status_code == 201
    replay = await http.post("/transfers", json=body, headers=keyed("k-4"))
    assert replay.status_code == 201 and replay.content == original.content
    assert ledger.executions == 1


async def test_many_concurrent_requests_with_one_key_execute_once(
    http: httpx.AsyncClient, ledger: Ledger
) -> None:
    responses = await asyncio.gather(
        *(http.post("/transfers", json={"amount": 3}, headers=keyed("k-5")) for _ in range(20))
    )
    assert ledger.executions == 1
    assert {r.status_code for r in responses} <= {201, 409}
    created = {r.content for r in responses if r.status_code == 201}
    assert len(created) == 1, "every 201 is the same response"


async def test_concurrent_requests_with_distinct_keys_all_execute(
    http: httpx.AsyncClient, ledger: Ledger
) -> None:
    responses = await asyncio.gather(
        *(http.post("/transfers", json={"amount": 3}, headers=keyed(f"d-{i}")) for i in range(15))
    )
    assert [r.status_code for r in responses] == [201] * 15
    assert ledger.executions == 15


async def test_concurrent_account_openings_with_one_key_create_one_row(
    http: httpx.AsyncClient, platform: Platform, ledger: Ledger
) -> None:
    body = {"email": "ada@example.com"}
    responses = await asyncio.gather(
        *(http.post("/accounts", json=body, headers=keyed("open-1")) for _ in range(10))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    async with platform.db.session() as session:
        created = await session.scalar(
            select(func.count()).select_from(User).where(User.email == body["email"])
        )
    assert created == 1
    replay = await http.post("/accounts", json=body, headers=keyed("open-1"))
    assert replay.status_code == 201
    async with platform.db.session() as session:
        stored_id = await session.scalar(select(User.id).where(User.email == body["email"]))
    assert replay.json() == {"id": str(stored_id)}, "the replay names the committed row"
    assert ledger.executions == 1


async def test_error_responses_are_not_recorded_so_the_key_can_be_retried(
    http: httpx.AsyncClient, ledger: Ledger
) -> None:
    ledger.failures_left = 1
    failed = await http.post("/flaky", json={"amount": 1}, headers=keyed("k-6"))
    assert failed.status_code == 409 and failed.json()["type"] == "/problems/conflict"
    retried = await http.post("/flaky", json={"amount": 1}, headers=keyed("k-6"))
    assert retried.status_code == 201
    assert ledger.executions == 2


@pytest.mark.usefixtures("plain_tracebacks")
async def test_a_crashed_request_releases_its_key(
    http: httpx.AsyncClient, platform: Platform, ledger: Ledger
) -> None:
    ledger.failures_left = 1
    crashed = await http.post("/crash", json={"amount": 1}, headers=keyed("k-7"))
    assert crashed.status_code == 500
    assert await count(platform, IdempotencyRecord) == 0
    retried = await http.post("/crash", json={"amount": 1}, headers=keyed("k-7"))
    assert retried.status_code == 200
    assert ledger.executions == 2


async def test_invalid_request_bodies_do_not_consume_the_key(
    http: httpx.AsyncClient, platform: Platform
) -> None:
    bad = await http.post("/transfers", json={"amount": "lots"}, headers=keyed("k-8"))
    assert bad.status_code == 422
    assert await count(platform, IdempotencyRecord) == 0


async def test_requests_without_the_header_always_execute(
    http: httpx.AsyncClient, ledger: Ledger
) -> None:
    for _ in range(3):
        assert (await http.post("/transfers", json={"amount": 1})).status_code == 201
    assert ledger.executions == 3


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\tkey", "ümlaut"])
async def test_malformed_keys_are_422(http: httpx.AsyncClient, key: str) -> None:
    response = await http.post(
        "/transfers",
        json={"amount": 1},
        headers=[(b"Idempotency-Key", key.encode("utf-8"))],
    )
    assert response.status_code == 422


async def test_keys_belong_to_the_authenticated_user(
    client: httpx.AsyncClient, http: httpx.AsyncClient, ledger: Ledger
) -> None:
    tokens = []
    for email in ("ada@example.com", "bob@example.com"):
        await client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": "U"}
        )
        login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        tokens.append(login.json()["access_token"])
    ada, bob = ({"Authorization": f"Bearer {t}", **keyed("shared")} for t in tokens)
    from_ada = await http.post("/mine", json={"amount": 1}, headers=ada)
    from_bob = await http.post("/mine", json={"amount": 2}, headers=bob)
    assert from_ada.status_code == from_bob.status_code == 201
    assert from_ada.json()["user"] != from_bob.json()["user"]
    assert ledger.executions == 2
    anonymous = await http.post("/transfers", json={"amount": 9}, headers=keyed("shared"))
    assert anonymous.status_code == 201, "anonymous callers have their own key space"


async def test_unauthenticated_attempt_does_not_consume_the_key(
    http: httpx.AsyncClient, platform: Platform
) -> None:
    response = await http.post("/mine", json={"amount": 1}, headers=keyed("k-9"))
    assert response.status_code == 401
    assert await count(platform, IdempotencyRecord) == 0


async def test_a_key_older_than_24_hours_is_free_again(
    http: httpx.AsyncClient, platform: Platform, ledger: Ledger
) -> None:
    await http.post("/transfers", json={"amount": 1}, headers=keyed("k-10"))
    async with platform.db.session() as session:
        await session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=24, seconds=1))
        )
    response = await http.post("/transfers", json={"amount": 2}, headers=keyed("k-10"))
    assert response.status_code == 201 and response.json()["amount"] == 2
    assert ledger.executions == 2


async def test_purge_deletes_only_expired_records(
    http: httpx.AsyncClient, platform: Platform
) -> None:
    for key in ("old", "new"):
        await http.post("/transfers", json={"amount": 1}, headers=keyed(key))
    async with platform.db.session() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "old")
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    async with platform.db.session() as session:
        assert await purge_expired_keys(session) == 1
    async with platform.db.session() as session:
        assert list(await session.scalars(select(IdempotencyRecord.key))) == ["new"]


async def test_the_app_purges_hourly_and_each_purge_schedules_the_next(
    http: httpx.AsyncClient, platform: Platform
) -> None:
    # The app's startup registered the job and scheduled the first run for the next full hour.
    first = await platform.jobs.list_jobs()
    purges = [job for job in first if job.name == PURGE_JOB]
    assert len(purges) == 1
    due = purges[0].run_at
    assert due is not None and due.minute == 0 and due.second == 0

    await http.post("/transfers", json={"amount": 1}, headers=keyed("stale"))
    async with platform.db.session() as session:
        await session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25))
        )
    # Run it now, as the worker will at that hour: it purges, then schedules the hour after.
    await platform.jobs.enqueue(PURGE_JOB, {}, key="now")
    async with asyncio.timeout(5):
        done = await platform.jobs.wait(f"{PURGE_JOB}:now")
    assert done.status == JobStatus.COMPLETE
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    waiting = [
        job
        for job in await platform.jobs.list_jobs(status=JobStatus.SCHEDULED)
        if job.name == PURGE_JOB
    ]
    assert len(waiting) == 1  # the next hour's run, enqueued by every purge under one key


@pytest.mark.usefixtures("plain_tracebacks")
async def test_an_idempotent_route_without_the_middleware_fails_loudly(
    platform: Platform, ledger: Ledger
) -> None:
    app = build_app(platform, ledger, with_middleware=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/transfers", json={"amount": 1}, headers=keyed("k"))
    assert response.status_code == 500
    assert ledger.executions == 0


def test_fingerprint_frames_fields_so_they_cannot_be_shifted() -> None:
    assert request_fingerprint("POST", "/a", "", b"bc") != request_fingerprint(
        "POST", "/ab", "", b"c"
    )
    assert request_fingerprint("POST", "/a", "x=1", b"") != request_fingerprint(
        "POST", "/a", "", b"x=1"
    )
