"""Prometheus metrics: request counts and latency per route template, served at GET /metrics.

`MetricsMiddleware` is a pure ASGI middleware installed outermost of the middlewares. The systems'
fast paths run in front of it (`casebook.app`) and record their answers in these same series
themselves; a handler mounted as a middleware inside it names its route as below. Series are
labelled by the route
*template*, never the raw path, so the number of series stays bounded:

- a FastAPI route: its path format with router prefixes, `/api/url-shortener/links/{link_id}`;
- a fast-path answer: the name its handler puts in `scope["casebook.route"]` (convention: the
  template it serves, e.g. `/{code}`) — a handler that answers must set it;
- a mounted app (static files): `<mount path>/{path}`;
- anything else (404s): `unmatched`.

Several uvicorn workers: set `PROMETHEUS_MULTIPROC_DIR` to an empty directory writable by all
workers, in the environment *before* the processes start (prometheus-client decides at import
time). Each worker then writes its samples to files there, and /metrics — answered by whichever
worker — aggregates all of them. Clear the directory between runs of the server.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casebook.platform.settings import Settings

ROUTE_KEY = "casebook.route"
"""Scope key a fast-path handler sets to the route template of a request it answered."""

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "casebook_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
LATENCY = Histogram(
    "casebook_http_request_duration_seconds",
    "Time from the request reaching the app to the end of its response, by route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
_UPPER_BOUNDS = (*LATENCY_BUCKETS, math.inf)


class AnswerSeries:
    """Answers counted and timed in process memory, added to `REQUESTS` and `LATENCY` in bulk.

    prometheus-client's `inc` and `observe` take a lock each and `observe` scans the buckets one
    by one: about 1.4 µs per request, more in multiprocess mode, where every sample is a write to
    a memory-mapped file. `record` here is two dict updates and a `bisect` (about 0.4 µs). The
    sums are folded into the Prometheus series `FOLD_AFTER_SECONDS` after the first answer since
    the last fold (a timer on the running loop, so an idle process leaves nothing behind), and
    at once before this process renders /metrics; another worker's answers reach the
    multiprocess files within `FOLD_AFTER_SECONDS`.
    """

    FOLD_AFTER_SECONDS = 0.5

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        """Per (method, route): the count in each bucket of `_UPPER_BOUNDS`, then the sum."""
        self._fold_pending = False
        _SERIES.add(self)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        counts = self._counts
        key = (method, route, status)
        counts[key] = counts.get(key, 0) + 1
        cells = self._latency.get((method, route))
        if cells is None:
            cells = self._latency[(method, route)] = [0.0] * (len(_UPPER_BOUNDS) + 1)
        cells[bisect_left(_UPPER_BOUNDS, seconds)] += 1
        cells[-1] += seconds
        if not self._fold_pending:
            self._fold_pending = True
            try:
                asyncio.get_running_loop().call_later(self.FOLD_AFTER_SECONDS, self.fold)
            except RuntimeError:  # no running loop (a synchronous caller): fold now
                self.fold()

    def fold(self) -> None:
        """Add what was recorded since the last fold to the Prometheus series. O(series)."""
        self._fold_pending = False
        counts, self._counts = self._counts, {}
        latency, self._latency = self._latency, {}
        for (method, route, status), count in counts.items():
            REQUESTS.labels(method, route, str(status)).inc(count)
        for (method, route), cells in latency.items():
            child = LATENCY.labels(method, route)
            # The histogram's own cells, as `Histogram.observe` increments them: one value per
            # bucket (not cumulative) and the sum. prometheus-client has no bulk observe.
            for bucket, hits in zip(child._buckets, cells[:-1], strict=True):
                if hits:
                    bucket.inc(hits)
            child._sum.inc(cells[-1])


_SERIES: weakref.WeakSet[AnswerSeries] = weakref.WeakSet()


def fold_all() -> None:
    """Fold every live `AnswerSeries` of this process now (before rendering /metrics)."""
    for series in list(_SERIES):
        series.fold()


def route_template(scope: Scope, root_path: str = "") -> str:
    """The route template that served a finished request (see the module docstring)."""
    named = scope.get(ROUTE_KEY)
    if named:
        return str(named)
    # FastAPI ≥ 0.120 resolves included routers lazily; the route's full path format (prefixes
    # included) is on the effective route context, as its own OpenTelemetry support reads it.
    context = scope.get("fastapi", {}).get("effective_route_context")
    if context is not None:
        path = getattr(context.starlette_route, "path_format", None) or context.path_format
        if path:
            return str(path)
    route = scope.get("route")
    path = getattr(route, "path_format", None)
    if path:
        return str(path)
    mounted: str = scope.get("root_path", "")
    if mounted != root_path and mounted.startswith(root_path):
        return mounted[len(root_path) :] + "/{path}"
    return UNMATCHED


class MetricsMiddleware:
    """Count and time every HTTP request. Per request: two clock reads and an
    `AnswerSeries.record`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series = AnswerSeries()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees if the app fails before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        root_path = scope.get("root_path", "")
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._record(scope, root_path, status, time.perf_counter() - started)

    def _record(self, scope: Scope, root_path: str, status: int, seconds: float) -> None:
        method = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        self._series.record(method, route_template(scope, root_path), status, seconds)


GC_PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
"""Upper bounds of `casebook_gc_pause_seconds`; 0.15 is the chat benchmark's p99 target."""


class GcPauses(Collector):
    """How long each collection of the cyclic garbage collector stopped the process, by
    generation: the histogram `casebook_gc_pause_seconds`.

    A collection stops every coroutine of the process until it ends; with 10,000 chat sockets
    open, young collections took up to 160 ms and middle ones 190 to 290 ms, and a server's
    tail latency is then its collector's pauses. The `gc.callbacks` hook only records into
    plain lists (no lock: it may run inside any allocation, in any thread, even while this
    process renders /metrics); the collector reads them at scrape time. O(log buckets) a
    collection.
    Per process: not aggregated across workers in multiprocess mode.
    """

    def __init__(self) -> None:
        self._started = 0.0
        self._cells = [[0.0] * (len(GC_PAUSE_BUCKETS) + 2) for _ in range(3)]
        """Per generation: a count per bucket (and one past the last bound), then the sum."""

    def hook(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        cells = self._cells[info["generation"]]
        cells[bisect_left(GC_PAUSE_BUCKETS, seconds)] += 1
        cells[-1] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "casebook_gc_pause_seconds",
            "Pauses of the cyclic garbage collector, by generation (0 youngest, 2 full).",
            labels=["generation"],
        )
        bounds = [*(str(b) for b in GC_PAUSE_BUCKETS), "+Inf"]
        for generation, cells in enumerate(self._cells):
            snapshot = list(cells)
            cumulative, buckets = 0.0, []
            for bound, hits in zip(bounds, snapshot[:-1], strict=True):
                cumulative += hits
                buckets.append((bound, cumulative))
            family.add_metric([str(generation)], buckets, snapshot[-1])
        yield family


_gc_pauses: GcPauses | None = None


def record_gc_pauses() -> GcPauses:
    """Time every garbage collection of this process from now on and serve the histogram at
    /metrics (`casebook serve` calls it with `app.tune_gc`); idempotent."""
    global _gc_pauses
    if _gc_pauses is None:
        _gc_pauses = GcPauses()
        gc.callbacks.append(_gc_pauses.hook)
        REGISTRY.register(_gc_pauses)
    return _gc_pauses


def render_metrics(settings: Settings) -> bytes:
    """The Prometheus text exposition of this process, or of all workers in multiprocess mode.
    Call `fold_all` first, on the event loop (the series are not thread-safe)."""
    if settings.prometheus_multiproc_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=str(settings.prometheus_multiproc_dir)
        )
        return generate_latest(registry)
    return generate_latest(REGISTRY)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus scrape endpoint (text format 0.0.4)."""
    settings: Settings = request.app.state.settings
    fold_all()  # here on the loop, where the answers are recorded; not in the thread below
    # Collection reads every worker's files in multiprocess mode: keep it off the event loop.
    body = await asyncio.to_thread(render_metrics, settings)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
