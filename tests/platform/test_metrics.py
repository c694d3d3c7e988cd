"""Prometheus metrics: per-template counts and latencies, fast paths, multiprocess mode."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from casebook.platform.metrics import (
    LATENCY_BUCKETS,
    ROUTE_KEY,
    AnswerSeries,
    MetricsMiddleware,
    fold_all,
    record_gc_pauses,
)

ROOT = Path(__file__).resolve().parents[2]


def _requests(route: str, status: int, method: str = "GET") -> float:
    fold_all()  # as rendering /metrics does
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("casebook_http_requests_total", labels) or 0.0


def _timed(route: str, method: str = "GET") -> float:
    fold_all()
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("casebook_http_request_duration_seconds_count", labels) or 0.0


class _RedirectFastPath:
    """A lean handler like a system's fast path: answers GET /r/<code>, passes the rest on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/r/"):
            scope[ROUTE_KEY] = "/r/{code}"
            location = b"https://example.org/" + scope["path"][3:].encode()
            await send(
                {"type": "http.response.start", "status": 302, "headers": [(b"location", location)]}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


async def _static(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("body { }")(scope, receive, send)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    links = APIRouter()

    @links.get("/links/{link_id}")
    async def get_link(link_id: int) -> dict[str, int]:
        return {"id": link_id}

    @links.post("/links/{link_id}/boom")
    async def boom(link_id: int) -> None:
        raise RuntimeError("unexpected")

    app = FastAPI()
    app.include_router(links, prefix="/api/url-shortener")
    app.router.routes.append(Mount("/assets", app=_static))
    app.add_middleware(_RedirectFastPath)
    app.add_middleware(MetricsMiddleware)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_requests_are_counted_by_route_template_not_raw_path(
    http: httpx.AsyncClient,
) -> None:
    template = "/api/url-shortener/links/{link_id}"
    before, timed_before = _requests(template, 200), _timed(template)
    for link_id in (1, 2, 3):
        assert (await http.get(f"/api/url-shortener/links/{link_id}")).status_code == 200
    assert _requests(template, 200) == before + 3
    assert _timed(template) == timed_before + 3
    assert _requests("/api/url-shortener/links/1", 200) == 0
    invalid = _requests(template, 422)
    await http.get("/api/url-shortener/links/not-a-number")
    assert _requests(template, 422) == invalid + 1


async def test_unknown_paths_share_the_unmatched_label(http: httpx.AsyncClient) -> None:
    before = _requests("unmatched", 404)
    await http.get("/nothing/here")
    await http.get("/nor/here/42")
    assert _requests("unmatched", 404) == before + 2


async def test_fast_path_answers_are_counted_under_the_route_they_name(
    http: httpx.AsyncClient,
) -> None:
    before = _requests("/r/{code}", 302)
    response = await http.get("/r/abc123", follow_redirects=False)
    assert response.status_code == 302
    assert _requests("/r/{code}", 302) == before + 1


async def test_an_unhandled_error_is_counted_as_a_500(http: httpx.AsyncClient) -> None:
    template = "/api/url-shortener/links/{link_id}/boom"
    before = _requests(template, 500, "POST")
    assert (await http.post("/api/url-shortener/links/9/boom")).status_code == 500
    assert _requests(template, 500, "POST") == before + 1


async def test_mounted_apps_and_odd_methods_keep_labels_bounded(http: httpx.AsyncClient) -> None:
    mounted = _requests("/assets/{path}", 200)
    other = _requests("unmatched", 404, "OTHER")
    await http.get("/assets/site.css")
    await http.get("/assets/img/logo.svg")
    await http.request("PROPFIND", "/anything")
    assert _requests("/assets/{path}", 200) == mounted + 2
    assert _requests("unmatched", 404, "OTHER") == other + 1


async def test_the_app_serves_metrics_and_counts_with_its_outermost_middleware(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    outermost: object = app.user_middleware[0].cls
    assert outermost is MetricsMiddleware
    assert (await client.get("/healthz")).status_code == 200
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'casebook_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        response.text
    )
    assert "casebook_http_request_duration_seconds_bucket" in response.text


def test_multiprocess_mode_adds_up_every_worker(tmp_path: Path) -> None:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tests.platform.metrics_multiproc"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = 'casebook_http_requests_total{method="GET",route="/items/{item_id}",status="200"} 7.0'
    assert line in result.stdout.splitlines()
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per worker process


async def test_answer_series_fold_into_the_same_samples_as_observing_each_answer() -> None:
    """Answers summed in memory land in the same buckets (`le` inclusive), count and sum as
    prometheus-client's own `observe` puts them, within the fold delay and at once on fold_all."""
    route = "/series/{id}"

    def bucket(le: float) -> float:
        labels = {"method": "GET", "route": route, "le": str(le)}
        return (
            REGISTRY.get_sample_value("casebook_http_request_duration_seconds_bucket", labels)
            or 0.0
        )

    def total() -> float:
        labels = {"method": "GET", "route": route}
        return (
            REGISTRY.get_sample_value("casebook_http_request_duration_seconds_sum", labels) or 0.0
        )

    series = AnswerSeries()
    answers = [0.0001, LATENCY_BUCKETS[0], 0.0007, 0.003, 0.003, 20.0]
    for seconds in answers:
        series.record("GET", route, 302, seconds)
    assert (
        REGISTRY.get_sample_value(
            "casebook_http_requests_total", {"method": "GET", "route": route, "status": "302"}
        )
        is None
    )  # not folded yet
    await asyncio.sleep(AnswerSeries.FOLD_AFTER_SECONDS + 0.2)
    assert _requests(route, 302) == len(answers)
    assert bucket(0.0005) == 2  # 0.0001 and exactly 0.0005
    assert bucket(0.001) == 3
    assert bucket(0.005) == 5
    assert bucket(10.0) == 5
    assert (
        REGISTRY.get_sample_value(
            "casebook_http_request_duration_seconds_bucket",
            {"method": "GET", "route": route, "le": "+Inf"},
        )
        == 6
    )
    assert total() == pytest.approx(sum(answers))
    series.record("GET", route, 404, 0.002)
    fold_all()
    assert _requests(route, 404) == 1


def test_every_garbage_collection_is_timed_by_generation() -> None:
    """The server's collector pauses (`record_gc_pauses`, installed with `tune_gc`) show up in
    the histogram of their generation, with a sum and cumulative buckets."""
    pauses = record_gc_pauses()
    assert record_gc_pauses() is pauses  # idempotent: one hook, one collector

    def sample(name: str, generation: int, **labels: str) -> float:
        value = REGISTRY.get_sample_value(
            f"casebook_gc_pause_seconds_{name}", {"generation": str(generation), **labels}
        )
        return value or 0.0

    before = [sample("count", g) for g in range(3)]
    gc.collect(0)
    gc.collect(2)
    gc.collect(2)
    after = [sample("count", g) for g in range(3)]
    assert after[0] - before[0] >= 1 and after[2] - before[2] >= 2
    assert sample("sum", 2) > 0
    # Cumulative buckets: +Inf holds every pause of the generation, and none holds more.
    assert sample("bucket", 2, le="+Inf") == after[2]
    assert sample("bucket", 2, le="0.001") <= sample("bucket", 2, le="0.1") <= after[2]
