"""Structured logs and request ids."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import multiprocessing
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from casebook.platform.context import Platform
from casebook.platform.errors import install_problem_handlers
from casebook.platform.jobs import Backoff, JobStatus, MemoryJobQueue
from casebook.platform.logging import (
    RequestIdMiddleware,
    configure_logging,
    current_request_id,
)
from casebook.platform.settings import Settings

GENERATED = re.compile(r"[0-9a-f]{12}-[0-9a-f]+")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Logging configured for JSON lines into a buffer the test can read."""
    stream = io.StringIO()
    configure_logging(Settings(log_json=True), stream=stream)
    yield stream
    configure_logging(Settings())


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON records logged, minus httpx's own line about each test request."""
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [r for r in records if r["logger"] != "httpx"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/hello")
    async def hello() -> dict[str, str | None]:
        structlog.get_logger("test").info("hello from structlog", n=1)
        logging.getLogger("test.stdlib").warning("hello from %s", "stdlib")
        return {"request_id": current_request_id()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_middleware(RequestIdMiddleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_a_sane_incoming_request_id_is_echoed_and_on_every_log_line(
    http: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    response = await http.get("/hello", headers={"X-Request-ID": "edge-7f3a.42_b"})
    assert response.headers["x-request-id"] == "edge-7f3a.42_b"
    assert response.json() == {"request_id": "edge-7f3a.42_b"}
    records = _records(log_lines)
    assert [(r["event"], r["logger"], r["request_id"], r["level"]) for r in records] == [
        ("hello from structlog", "test", "edge-7f3a.42_b", "info"),
        ("hello from stdlib", "test.stdlib", "edge-7f3a.42_b", "warning"),
    ]
    assert records[0]["n"] == 1
    assert "timestamp" in records[0]


@pytest.mark.parametrize("incoming", ["x" * 65, "has space", "semi;colon", "ünï", ""])
async def test_an_unsafe_incoming_request_id_is_replaced(
    http: httpx.AsyncClient, incoming: str
) -> None:
    response = await http.get("/hello", headers=[(b"X-Request-ID", incoming.encode())])
    assert GENERATED.fullmatch(response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_requests_without_an_id_get_distinct_ones(http: httpx.AsyncClient) -> None:
    ids = {(await http.get("/hello")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(GENERATED.fullmatch(i) for i in ids)


async def test_an_unhandled_error_is_logged_with_the_request_id_and_answered_500(
    http: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    response = await http.get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-500"
    body = response.json()
    assert body["type"] == "/problems/internal-error"
    assert body["request_id"] == "req-500"
    assert "kaboom" not in response.text  # internals stay in the log
    (record,) = _records(log_lines)
    assert record["event"] == "unhandled error"
    assert record["request_id"] == "req-500"
    assert (record["method"], record["path"]) == ("GET", "/boom")
    assert "RuntimeError: kaboom" in record["exception"]


async def test_the_request_id_is_unbound_once_the_request_is_answered(
    http: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    await http.get("/hello", headers={"X-Request-ID": "finished"})
    assert current_request_id() is None
    structlog.get_logger("test").info("between requests")
    assert "request_id" not in _records(log_lines)[-1]


async def test_job_log_lines_carry_the_job_id(log_lines: io.StringIO, settings: Settings) -> None:
    async def failing(_platform: Platform, _payload: dict[str, Any]) -> None:
        structlog.get_logger("test").info("working")
        raise ValueError("nope")

    platform = Platform.start(settings)
    queue = MemoryJobQueue()
    queue.bind(platform)
    queue.register("test.failing", failing, retries=0, backoff=Backoff(base=0.01))
    await queue.start()
    try:
        job_id = await queue.enqueue("test.failing", {})
        async with asyncio.timeout(5):
            assert (await queue.wait(job_id)).status is JobStatus.FAILED
    finally:
        await queue.close()
        await platform.close()
    working = [r for r in _records(log_lines) if r["event"] == "working"]
    assert [r["job_id"] for r in working] == [job_id]
    failed = [r for r in _records(log_lines) if r["event"] == "job failed"]
    assert failed[0]["job_id"] == job_id and "ValueError: nope" in failed[0]["exception"]


def test_console_mode_writes_readable_lines_and_configuring_again_replaces_the_handler() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_json=False, log_level="WARNING"), stream=stream)
    configure_logging(Settings(log_json=False, log_level="WARNING"), stream=stream)
    try:
        structlog.get_logger("test").info("too quiet to show")
        structlog.get_logger("test").warning("disk nearly full", free_mb=12)
    finally:
        configure_logging(Settings())
    (line,) = stream.getvalue().splitlines()
    assert "disk nearly full" in line and "free_mb=12" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def _child_request_id(pipe: Any) -> None:
    from casebook.platform.logging import _ids

    pipe.send(_ids.new())


def test_a_forked_worker_draws_its_own_request_id_prefix() -> None:
    from casebook.platform.logging import _ids

    parent_prefix = _ids.new().split("-")[0]
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child_request_id, args=(sender,))
    child.start()
    child_id = receiver.recv()
    child.join()
    assert GENERATED.fullmatch(child_id)
    assert child_id.split("-")[0] != parent_prefix


async def test_the_app_answers_with_request_ids(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "probe-1"})
    assert response.headers["x-request-id"] == "probe-1"
    assert GENERATED.fullmatch((await client.get("/healthz")).headers["x-request-id"])
