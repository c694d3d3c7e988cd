"""Open-loop HTTP load generator: drive a system's `LoadMix` at a fixed rate against a server.

Open loop means requests are sent on a schedule (request *i* at `start + i / rate`) whatever the
server does; a slow server does not slow the sender down. Latency is measured from each request's
*scheduled* send time, not from when it actually left, so time spent queued behind a stalled
server counts against the server (the "coordinated omission" correction, as in wrk2).

The generator only talks to loopback addresses (127.0.0.0/8, ::1, localhost): it is for measuring
one's own node, not for pointing at anyone else's. Runs are bounded to `MAX_DURATION_S`.

Due requests wait in a queue per action, served by that action's connections (one worker each),
so queueing costs O(1) per request however far behind the server falls.

Speed of the generator itself. A request through httpx's own machinery cost 570-700 µs of CPU on
this machine (330 µs with a transport that does nothing), so one process of plain httpx clients
topped out near 630 requests/s, far below a seed's 8,333/s. Two things lift that: the run's
connections are `LoopbackClient`s, an `httpx.AsyncClient` whose plain requests (the ones load
actions send: GET/POST with headers and a JSON or bytes body) skip httpx's request machinery and go
straight over one keep-alive connection, with responses parsed by httptools (C); and above
`PROCESS_RATE` requests/s the schedule is split over several processes (one per core at most,
`LoadPlan.processes`), each running every action's lanes on its share — request *i* of the global
schedule goes to process *i mod N* — whose tallies (latency histograms, counts, errors by kind) are
merged into one report. Measured: one process drives 3,000 requests/s on a quarter of a core (about
80 µs per request, schedule and tallies included). The mix's state is set up once and copied to
every process, so it must pickle. The generator still watches its own CPU use (its busiest process)
and how late it queues requests, and says so (`client_bound`) rather than blame the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import multiprocessing
import os
import queue
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as EventType
from typing import Any, Generic, TypeVar, cast

import httptools
import httpx
import orjson

from casebook.platform.capacity import CapacityModel, LoadAction, LoadMix, LoadSetup

MAX_DURATION_S = 600.0
HELD_FRACTION = 0.95
"""A node holds a rate when it completes at least this share of it successfully…"""
CLIENT_CPU_LIMIT = 0.9
"""…and the generator is client-bound once its own process uses this share of a core…"""
CLIENT_LAG_LIMIT_S = 0.010
"""…or queues its 99th-percentile request this late after the scheduled time."""

SETUP_CONNECTIONS = 16
"""Connections the setup may use (its requests run up to this many at a time)."""
PROCESS_RATE = 3000.0
"""Requests/s one generator process is given at most when the count is chosen automatically:
about a third of what one `LoopbackClient` process can send, so it keeps its schedule."""
SCHEDULER_TICK_S = 0.001
"""The scheduler wakes at most once per millisecond and queues every request due by then, so a
request may leave up to 1 ms after its time (measured, as `send_lag_p99`, and counted in its
latency): uvloop's timers have millisecond resolution, and finer sleeps made it spin."""
PROCESS_START_TIMEOUT_S = 60.0
"""How long generator processes may take to start (import, connect) before the run is given up."""

State = TypeVar("State")


class TargetRefused(ValueError):
    """The URL is not a loopback HTTP address, so the generator will not send to it."""


def require_loopback(url: str) -> httpx.URL:
    """`url` parsed, if it is http(s) on 127.0.0.0/8, ::1 or `localhost`.

    Names other than `localhost` are refused without resolving them: a name can point anywhere.
    Raises TargetRefused otherwise.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise TargetRefused(f"not a URL: {url!r} ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise TargetRefused(f"only http(s) targets are allowed, not {parsed.scheme or url!r}")
    host = parsed.host
    if host == "localhost":
        return parsed
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise TargetRefused(
            f"refusing {host!r}: load tests only target loopback (127.0.0.0/8, ::1, localhost)"
        ) from None
    if not address.is_loopback:
        raise TargetRefused(
            f"refusing {host}: load tests only target loopback (127.0.0.0/8, ::1, localhost)"
        )
    return parsed


class LatencyHistogram:
    """Latencies in log-spaced buckets 1 % wide, from 1 µs up: bounded memory at any rate.

    `record` is O(1); `percentile` is O(b log b) in the number of occupied buckets (a few
    hundred). Percentiles are accurate to 1 %; `max` is exact.
    """

    _FLOOR = 1e-6
    _LOG_GROWTH = math.log(1.01)

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0

    def record(self, seconds: float) -> None:
        index = (
            0
            if seconds <= self._FLOOR
            else 1 + int(math.log(seconds / self._FLOOR) / self._LOG_GROWTH)
        )
        self._buckets[index] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        """Add `other`'s samples to this histogram (percentiles of the union). O(b)."""
        self._buckets.update(other._buckets)
        self.count += other.count
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float:
        """The `q`-quantile (0 < q ≤ 1) in seconds: the upper edge of its bucket, capped at max.

        Returns 0.0 when nothing was recorded.
        """
        if not 0 < q <= 1:
            raise ValueError("q must be in (0, 1]")
        if self.count == 0:
            return 0.0
        rank = math.ceil(q * self.count)
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                upper = self._FLOOR * math.exp(index * self._LOG_GROWTH)
                return min(upper, self.max)
        return self.max


@dataclass(frozen=True)
class LoadPlan:
    """What to run: `rate` requests/s for `duration` s against `base_url`.

    `connections` is the number of connections (and requests in flight) per action and process;
    `max_backlog` bounds the due requests waiting for one of them, per action and process (once
    the server falls that far behind, further sends are counted as errors rather than queued
    without limit); `drain_s` is how long to wait for stragglers after the window. `processes`
    is how many generator processes share the schedule (None: one per `PROCESS_RATE` requests/s,
    at most one per core).
    Raises TargetRefused for a non-loopback URL, ValueError for out-of-range numbers.
    """

    base_url: str
    rate: float
    duration: float
    connections: int = 64
    p99_threshold_ms: float = 100.0
    setup_size: int | None = None
    max_backlog: int = 10_000
    drain_s: float = 5.0
    request_timeout_s: float = 10.0
    processes: int | None = None

    def __post_init__(self) -> None:
        require_loopback(self.base_url)
        if not 0 < self.duration <= MAX_DURATION_S:
            raise ValueError(f"duration must be in (0, {MAX_DURATION_S:g}] seconds")
        if not 0 < self.rate < math.inf:
            raise ValueError("rate must be a positive number of requests per second")
        if self.connections < 1 or self.max_backlog < 1:
            raise ValueError("connections and max_backlog must be at least 1")
        if self.p99_threshold_ms <= 0:
            raise ValueError("p99 threshold must be positive")
        if self.processes is not None and not 1 <= self.processes <= 64:
            raise ValueError("processes must be between 1 and 64")

    def process_count(self) -> int:
        """Generator processes for this plan: `processes`, else enough for the rate."""
        if self.processes is not None:
            return self.processes
        return max(1, min(os.cpu_count() or 1, math.ceil(self.rate / PROCESS_RATE)))


@dataclass(frozen=True)
class Tick:
    """One second of a run, for progress output."""

    second: int
    sent: int
    ok: int
    errors: int
    in_flight: int


@dataclass(frozen=True)
class ActionReport:
    """One action's share of a run: successes, errors, latency percentiles (seconds)."""

    ok: int
    errors: int
    p50: float
    p99: float


@dataclass(frozen=True)
class LoadReport:
    """The outcome of a run. Rates are per second; latencies in seconds from scheduled send."""

    target_rate: float
    duration: float
    p99_threshold_ms: float
    scheduled: int
    ok: int
    ok_in_window: int
    errors: dict[str, int]
    by_action: dict[str, ActionReport]
    p50: float
    p95: float
    p99: float
    max: float
    send_lag_p99: float
    client_cpu: float
    processes: int = 1

    @property
    def achieved_rate(self) -> float:
        """Successful responses completed within the send window, per second."""
        return self.ok_in_window / self.duration

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def client_bound(self) -> bool:
        """True when the generator, not the server, may have limited the run."""
        return self.client_cpu >= CLIENT_CPU_LIMIT or self.send_lag_p99 > CLIENT_LAG_LIMIT_S

    @property
    def held(self) -> bool:
        """The node kept up: ≥ 95 % of the target rate succeeded, p99 under the threshold."""
        return (
            self.achieved_rate >= HELD_FRACTION * self.target_rate
            and self.p99 * 1000 <= self.p99_threshold_ms
        )

    def nodes_for(self, rate: float) -> int:
        """Nodes needed for `rate` at this node's measured throughput (≥ 1).

        When the node held its target, its true capacity is at least what it did, so the answer
        is an upper bound; the same holds when the generator was the bottleneck.
        """
        per_node = self.achieved_rate
        if per_node <= 0:
            raise ValueError("no successful requests: throughput per node is unknown")
        return max(1, math.ceil(rate / per_node - 1e-9))

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_rate": self.target_rate,
            "achieved_rate": self.achieved_rate,
            "duration_s": self.duration,
            "scheduled": self.scheduled,
            "ok": self.ok,
            "errors": self.errors,
            "by_action": {
                name: {
                    "ok": a.ok,
                    "errors": a.errors,
                    "p50_ms": a.p50 * 1000,
                    "p99_ms": a.p99 * 1000,
                }
                for name, a in self.by_action.items()
            },
            "latency_ms": {
                "p50": self.p50 * 1000,
                "p95": self.p95 * 1000,
                "p99": self.p99 * 1000,
                "max": self.max * 1000,
            },
            "p99_threshold_ms": self.p99_threshold_ms,
            "held": self.held,
            "client_bound": self.client_bound,
            "client_cpu": self.client_cpu,
            "send_lag_p99_ms": self.send_lag_p99 * 1000,
            "processes": self.processes,
        }


class WeightedRotation(Generic[State]):
    """Smooth weighted round-robin (as nginx balances upstreams): weights 8 and 1 give eight
    reads and one write in every nine picks, interleaved rather than bunched. O(n) per pick in
    the number of actions."""

    def __init__(self, actions: Sequence[LoadAction[State]]) -> None:
        self._actions = list(actions)
        self._current = [0] * len(self._actions)
        self._total = sum(a.weight for a in self._actions)

    def next(self) -> LoadAction[State]:
        best = 0
        for i, action in enumerate(self._actions):
            self._current[i] += action.weight
            if self._current[i] > self._current[best]:
                best = i
        self._current[best] -= self._total
        return self._actions[best]


class _Exchange(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time; responses are parsed
    by httptools (llhttp, in C) as the bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.open = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio.Transport, but is one).
        self.transport = cast(asyncio.Transport, transport)
        self.open = True

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(httpx.RemoteProtocolError(f"malformed response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.fail(httpx.ReadError("the server closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        headers, self.headers = self.headers, []
        body, self.body = b"".join(self.body), []
        if waiter is not None and not waiter.done():
            waiter.set_result((status, headers, body))
        if not self.keep_alive:
            self.close()

    def fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class LoopbackClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` of one connection, with a lean path for a load test's requests.

    A request with only a method other than HEAD, a path under the base URL, headers, and a `json`
    or bytes/str `content` body, on a plain-http base URL, is written straight to one keep-alive
    connection and its response parsed by httptools, skipping httpx's request machinery (most of its
    300-700 µs a request). The response is a real `httpx.Response` (status, headers, content,
    `.json()`; no `.request`). Anything else (query params, forms, files, cookies, auth, redirects,
    TLS, per-request timeouts) goes through httpx unchanged. Transport failures raise httpx's own
    exceptions (ConnectError, ReadError, ReadTimeout, RemoteProtocolError), so they are counted by
    the same names either way.
    """

    def __init__(self, base_url: str, *, timeout_s: float, verify: ssl.SSLContext | bool = True):
        super().__init__(
            base_url=base_url,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            verify=verify,
        )
        url = httpx.URL(base_url)
        self._lean = url.scheme == "http"
        self._address = (url.host, url.port or 80)
        self._base_path = url.raw_path.rstrip(b"/")
        self._fixed_headers = (
            b"host: " + url.netloc + b"\r\nuser-agent: casebook-load\r\naccept: */*\r\n"
        )
        self._timeout_s = timeout_s
        self._exchange: _Exchange | None = None

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: httpx._types.RequestContent | None = None,
        data: httpx._types.RequestData | None = None,
        files: httpx._types.RequestFiles | None = None,
        json: Any | None = None,
        params: httpx._types.QueryParamTypes | None = None,
        headers: httpx._types.HeaderTypes | None = None,
        cookies: httpx._types.CookieTypes | None = None,
        auth: httpx._types.AuthTypes | httpx._client.UseClientDefault | None = (
            httpx.USE_CLIENT_DEFAULT
        ),
        follow_redirects: bool | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT,
        # httpx's own signature, so any caller's keywords keep working.
        timeout: httpx._types.TimeoutTypes  # noqa: ASYNC109
        | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT,
        extensions: httpx._types.RequestExtensions | None = None,
    ) -> httpx.Response:
        lean = (
            self._lean
            and isinstance(url, str)
            and url.startswith("/")
            and url.isascii()
            and method != "HEAD"
            and data is None
            and files is None
            and params is None
            and cookies is None
            and extensions is None
            and auth is httpx.USE_CLIENT_DEFAULT
            and follow_redirects is httpx.USE_CLIENT_DEFAULT
            and timeout is httpx.USE_CLIENT_DEFAULT
            and isinstance(content, bytes | str | None)
            and (
                headers is None
                or (
                    isinstance(headers, dict)
                    and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
                )
            )
        )
        if not lean:
            return await super().request(
                method,
                url,
                content=content,
                data=data,
                files=files,
                json=json,
                params=params,
                headers=headers,
                cookies=cookies,
                auth=auth,
                follow_redirects=follow_redirects,
                timeout=timeout,
                extensions=extensions,
            )
        assert isinstance(url, str) and (headers is None or isinstance(headers, dict))
        assert isinstance(content, bytes | str | None)
        body = _body(content, json)
        head = [
            method.encode("ascii"),
            b" ",
            self._base_path,
            url.encode("ascii"),
            b" HTTP/1.1\r\n",
            self._fixed_headers,
        ]
        if json is not None:
            head.append(b"content-type: application/json\r\n")
        for name, value in (headers or {}).items():
            head += [name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n"]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(b"content-length: %d\r\n" % len(body))
        head += [b"\r\n", body]
        status, raw_headers, payload = await self._exchange_once(b"".join(head))
        return httpx.Response(status, headers=raw_headers, content=payload)

    async def _exchange_once(self, message: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        exchange = self._exchange
        if exchange is None or not exchange.open:
            exchange = self._exchange = await self._connect()
        loop = asyncio.get_running_loop()
        waiter = exchange.waiter = loop.create_future()
        assert exchange.transport is not None
        exchange.transport.write(message)
        try:
            return await asyncio.wait_for(waiter, self._timeout_s)
        except TimeoutError:
            exchange.close()  # a late answer must not be taken for the next request's
            raise httpx.ReadTimeout(f"no response within {self._timeout_s:g} s") from None

    async def _connect(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        try:
            _, exchange = await asyncio.wait_for(
                loop.create_connection(_Exchange, *self._address), self._timeout_s
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {self._timeout_s:g} s") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        return exchange

    async def aclose(self) -> None:
        if self._exchange is not None:
            self._exchange.close()
            self._exchange = None
        await super().aclose()


def _body(content: bytes | str | None, json: Any) -> bytes:
    if json is not None:
        return orjson.dumps(json)
    if isinstance(content, str):
        return content.encode()
    return content or b""


@dataclass
class _Lane(Generic[State]):
    """One action's queue of due requests (their scheduled times) and its tallies.

    Each lane has its own workers, one per connection, so a slow action (a write waiting on the
    database) cannot hold up another's requests in the client: the users behind different
    requests are independent. Only the server is shared.
    """

    action: LoadAction[State]
    queue: asyncio.Queue[float]
    clients: list[httpx.AsyncClient]
    """One client of one connection per worker: httpx's shared pool slows down sharply with
    many requests in flight, separate clients do not."""
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    ok: int = 0
    errors: int = 0
    busy: int = 0

    @property
    def pending(self) -> int:
        return self.queue.qsize() + self.busy


@dataclass
class _ActionTally:
    ok: int
    errors: int
    latency: LatencyHistogram


@dataclass
class _Tally:
    """What one generator process measured; tallies of several processes add up (`merge`)."""

    sent: int = 0
    ok: int = 0
    ok_in_window: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    lag: LatencyHistogram = field(default_factory=LatencyHistogram)
    actions: dict[str, _ActionTally] = field(default_factory=dict)
    client_cpu: float = 0.0
    """This process's CPU time over the window, as a share of one core."""

    def merge(self, other: _Tally) -> None:
        self.sent += other.sent
        self.ok += other.ok
        self.ok_in_window += other.ok_in_window
        self.errors.update(other.errors)
        self.latency.merge(other.latency)
        self.lag.merge(other.lag)
        for name, theirs in other.actions.items():
            mine = self.actions.setdefault(name, _ActionTally(0, 0, LatencyHistogram()))
            mine.ok += theirs.ok
            mine.errors += theirs.errors
            mine.latency.merge(theirs.latency)
        # Each process runs on at most one core: the busiest one says whether any was saturated.
        self.client_cpu = max(self.client_cpu, other.client_cpu)

    def report(self, plan: LoadPlan, processes: int) -> LoadReport:
        return LoadReport(
            target_rate=plan.rate,
            duration=plan.duration,
            p99_threshold_ms=plan.p99_threshold_ms,
            scheduled=self.sent,
            ok=self.ok,
            ok_in_window=self.ok_in_window,
            errors=dict(self.errors),
            by_action={
                name: ActionReport(
                    ok=a.ok,
                    errors=a.errors,
                    p50=a.latency.percentile(0.50),
                    p99=a.latency.percentile(0.99),
                )
                for name, a in self.actions.items()
            },
            p50=self.latency.percentile(0.50),
            p95=self.latency.percentile(0.95),
            p99=self.latency.percentile(0.99),
            max=self.latency.max,
            send_lag_p99=self.lag.percentile(0.99),
            client_cpu=self.client_cpu,
            processes=processes,
        )


@dataclass
class _Run(Generic[State]):
    """Mutable tallies of one process's run; touched only from the event loop's thread."""

    state: State
    window_end: float
    lanes: dict[str, _Lane[State]]
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    lag: LatencyHistogram = field(default_factory=LatencyHistogram)
    """How late the scheduler queued each request: the generator's own slowness."""
    sent: int = 0
    ok: int = 0
    ok_in_window: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def pending(self) -> int:
        return sum(lane.pending for lane in self.lanes.values())

    def fail(self, lane: _Lane[State], kind: str) -> None:
        self.errors[kind] += 1
        lane.errors += 1

    async def work(self, lane: _Lane[State], client: httpx.AsyncClient) -> None:
        """One connection's worth of a lane: take the next due request, issue it, repeat."""
        loop = asyncio.get_running_loop()
        while True:
            scheduled = await lane.queue.get()
            lane.busy += 1
            try:
                response = await lane.action.request(client, self.state)
            except Exception as exc:
                # Transport failures (ConnectError, ReadTimeout…) and an action's own complaints
                # about a malformed answer are both errors of the run, reported by kind.
                self.fail(lane, type(exc).__name__)
            else:
                done = loop.time()
                if response.status_code in lane.action.expected:
                    self.latency.record(done - scheduled)
                    lane.latency.record(done - scheduled)
                    lane.ok += 1
                    self.ok += 1
                    self.ok_in_window += done <= self.window_end
                else:
                    self.fail(lane, f"HTTP {response.status_code}")
            finally:
                lane.busy -= 1
                lane.queue.task_done()

    def tally(self, client_cpu: float) -> _Tally:
        return _Tally(
            sent=self.sent,
            ok=self.ok,
            ok_in_window=self.ok_in_window,
            errors=self.errors,
            latency=self.latency,
            lag=self.lag,
            actions={
                name: _ActionTally(lane.ok, lane.errors, lane.latency)
                for name, lane in self.lanes.items()
            },
            client_cpu=client_cpu,
        )


async def prepare(
    mix: LoadMix[State], client: httpx.AsyncClient, *, items: int | None, rate: float
) -> State:
    """Run the mix's setup against the server behind `client` for a run at `rate` requests/s
    reading over `items` items (the mix's default when None); returns the actions' state."""
    size = mix.setup_size if items is None else items
    return await mix.setup(client, LoadSetup(items=size, rate=rate))


async def run_load(
    mix: LoadMix[State],
    plan: LoadPlan,
    *,
    on_tick: Callable[[Tick], None] | None = None,
    on_setup_done: Callable[[float], None] | None = None,
) -> LoadReport:
    """Set up `mix` on the server, then drive it open-loop at `plan.rate` for `plan.duration`.

    Each action gets `plan.connections` connections of its own in each of the plan's
    generator processes (`LoadPlan.process_count`; with more than one, the setup's state must
    pickle). Progress goes to `on_tick` once a second; `on_setup_done` gets the setup's
    duration. Errors from setup (the server is down, the API refuses: `SetupFailed`) propagate,
    and RuntimeError when generator processes fail; errors during the run are counted by kind
    (`HTTP 503`, `ConnectError`, `client backlog full`, …) in the report.
    """
    base_url = str(require_loopback(plan.base_url))
    tls = ssl.create_default_context()
    async with _client(base_url, SETUP_CONNECTIONS, plan, tls) as client:
        began = time.perf_counter()
        state = await prepare(mix, client, items=plan.setup_size, rate=plan.rate)
        if on_setup_done is not None:
            on_setup_done(time.perf_counter() - began)
    processes = plan.process_count()
    if processes == 1:
        loop = asyncio.get_running_loop()
        tally = await _drive_lanes(
            mix, state, plan, base_url, lambda: loop.time() + 0.01, 0, 1, on_tick
        )
    else:
        tally = await _drive_processes(mix, state, plan, base_url, processes, on_tick)
    return tally.report(plan, processes)


def _client(
    base_url: str, connections: int, plan: LoadPlan, tls: ssl.SSLContext
) -> httpx.AsyncClient:
    # One TLS context for all clients: building one per client costs milliseconds each.
    return httpx.AsyncClient(
        base_url=base_url,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(plan.request_timeout_s),
        follow_redirects=False,
        verify=tls,
    )


async def _drive_lanes(
    mix: LoadMix[State],
    state: State,
    plan: LoadPlan,
    base_url: str,
    start_time: Callable[[], float],
    first: int,
    stride: int,
    on_tick: Callable[[Tick], None] | None,
    on_ready: Callable[[], None] | None = None,
) -> _Tally:
    """Open every lane's clients, call `on_ready`, then run this process's share of the
    schedule from `start_time()` (loop time, read after `on_ready` returns)."""
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        lanes = [
            _Lane(
                action,
                asyncio.Queue(maxsize=plan.max_backlog),
                [
                    await stack.enter_async_context(
                        LoopbackClient(base_url, timeout_s=plan.request_timeout_s, verify=tls)
                    )
                    for _ in range(plan.connections)
                ],
            )
            for action in mix.actions
        ]
        if on_ready is not None:
            on_ready()
        start = start_time()
        return await _drive(lanes, state, plan, on_tick, start=start, first=first, stride=stride)


async def _drive(
    lanes: list[_Lane[State]],
    state: State,
    plan: LoadPlan,
    on_tick: Callable[[Tick], None] | None,
    *,
    start: float,
    first: int = 0,
    stride: int = 1,
) -> _Tally:
    """Send requests `first`, `first + stride`, … of the global schedule (request i due at
    `start + i / plan.rate`, in loop time) and tally them."""
    loop = asyncio.get_running_loop()
    total = int(plan.rate * plan.duration)
    mine = len(range(first, total, stride))
    interval = 1.0 / plan.rate
    by_name = {lane.action.name: lane for lane in lanes}
    run = _Run(state=state, window_end=start + plan.duration, lanes=by_name)
    workers = [
        asyncio.create_task(run.work(lane, client)) for lane in lanes for client in lane.clients
    ]
    rotation = WeightedRotation([lane.action for lane in lanes])
    await asyncio.sleep(max(0.0, start - loop.time()))
    cpu_start = time.process_time()
    reporter = asyncio.create_task(_report_progress(run, start, plan.duration, on_tick))

    # The schedule: this process's j-th request is global request first + j * stride. Each
    # wake-up queues every one that has come due (several at high rates, or when the loop woke
    # late), then sleeps until the next one.
    j = 0
    while j < mine:
        now = loop.time()
        due = min(mine, math.floor(((now - start) * plan.rate - first) / stride) + 1)
        while j < due:
            scheduled = start + (first + j * stride) * interval
            lane = by_name[rotation.next().name]
            run.lag.record(max(0.0, now - scheduled))
            run.sent += 1
            try:
                lane.queue.put_nowait(scheduled)
            except asyncio.QueueFull:
                run.fail(lane, "client backlog full")
            j += 1
        # At most one wake-up per millisecond: a timer finer than the loop's clock would spin.
        await asyncio.sleep(
            max(SCHEDULER_TICK_S, start + (first + j * stride) * interval - loop.time())
        )

    await asyncio.sleep(max(0.0, run.window_end - loop.time()))
    client_cpu = (time.process_time() - cpu_start) / max(1e-9, loop.time() - start)
    await reporter
    drained = asyncio.gather(*(lane.queue.join() for lane in lanes))
    try:
        await asyncio.wait_for(drained, timeout=plan.drain_s)
    except TimeoutError:
        run.errors[f"unfinished after {plan.drain_s:g} s drain"] += run.pending
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return run.tally(client_cpu)


async def _report_progress(
    run: _Run[Any], start: float, duration: float, on_tick: Callable[[Tick], None] | None
) -> None:
    if on_tick is None:
        return
    loop = asyncio.get_running_loop()
    last_sent = last_ok = last_errors = 0
    for second in range(1, math.ceil(duration) + 1):
        await asyncio.sleep(max(0.0, start + second - loop.time()))
        errors = sum(run.errors.values())
        on_tick(
            Tick(
                second=second,
                sent=run.sent - last_sent,
                ok=run.ok - last_ok,
                errors=errors - last_errors,
                in_flight=run.pending,
            )
        )
        last_sent, last_ok, last_errors = run.sent, run.ok, errors


async def _drive_processes(
    mix: LoadMix[State],
    state: State,
    plan: LoadPlan,
    base_url: str,
    processes: int,
    on_tick: Callable[[Tick], None] | None,
) -> _Tally:
    """Run the schedule over `processes` spawned generator processes and merge their tallies.

    The processes start, open their connections and report ready; then all are given one
    wall-clock start time. Their per-second ticks are summed into one tick per second once every
    process has sent it. Raises RuntimeError if a process fails or does not finish in time.
    """
    context = multiprocessing.get_context("spawn")  # no fork of a running event loop
    messages: multiprocessing.Queue[tuple[str, int, Any]] = context.Queue()
    go = context.Event()
    start_at = context.Value("d", 0.0)
    children = [
        context.Process(
            target=_generator_process,
            args=(mix, state, plan, base_url, index, processes, start_at, go, messages),
            name=f"casebook-load-{index}",
            daemon=True,
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    try:
        ready = 0
        deadline = time.monotonic() + PROCESS_START_TIMEOUT_S
        while ready < processes:
            kind, index, payload = await _next_message(messages, deadline, children)
            if kind == "failed":
                raise RuntimeError(f"load generator process {index} failed: {payload}")
            ready += kind == "ready"
        start_at.value = time.time() + 0.05
        go.set()
        merged = _Tally()
        finished = 0
        ticks: dict[int, list[Tick]] = {}
        deadline = time.monotonic() + plan.duration + plan.drain_s + PROCESS_START_TIMEOUT_S
        while finished < processes:
            kind, index, payload = await _next_message(messages, deadline, children)
            if kind == "failed":
                raise RuntimeError(f"load generator process {index} failed: {payload}")
            if kind == "tick":
                seconds = ticks.setdefault(payload.second, [])
                seconds.append(payload)
                if len(seconds) == processes and on_tick is not None:
                    on_tick(_sum_ticks(ticks.pop(payload.second)))
            elif kind == "done":
                merged.merge(payload)
                finished += 1
        return merged
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join()


async def _next_message(
    messages: multiprocessing.Queue[tuple[str, int, Any]],
    deadline: float,
    children: Sequence[multiprocessing.process.BaseProcess],
) -> tuple[str, int, Any]:
    """The next message of the generator processes; RuntimeError past `deadline` or when a
    process died without saying why."""
    while True:
        try:
            return await asyncio.to_thread(messages.get, True, 0.2)
        except queue.Empty:
            dead = [c.name for c in children if c.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"load generator processes died: {', '.join(dead)}") from None
            if time.monotonic() > deadline:
                raise RuntimeError("load generator processes did not report in time") from None


def _sum_ticks(ticks: Sequence[Tick]) -> Tick:
    return Tick(
        second=ticks[0].second,
        sent=sum(t.sent for t in ticks),
        ok=sum(t.ok for t in ticks),
        errors=sum(t.errors for t in ticks),
        in_flight=sum(t.in_flight for t in ticks),
    )


def _generator_process(
    mix: LoadMix[State],
    state: State,
    plan: LoadPlan,
    base_url: str,
    index: int,
    processes: int,
    start_at: Any,
    go: EventType,
    messages: multiprocessing.Queue[tuple[str, int, Any]],
) -> None:
    """Entry point of one spawned generator process: requests index, index + processes, …"""
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None

    def ready() -> None:
        messages.put(("ready", index, None))
        # Nothing is in flight yet: block until the parent gives every process the start time.
        go.wait()

    def start_time() -> float:
        return asyncio.get_running_loop().time() + (float(start_at.value) - time.time())

    def tick(t: Tick) -> None:
        messages.put(("tick", index, t))

    async def main() -> _Tally:
        return await _drive_lanes(
            mix, state, plan, base_url, start_time, index, processes, tick, on_ready=ready
        )

    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            tally = runner.run(main())
    except BaseException as exc:
        messages.put(("failed", index, repr(exc)))
        raise
    messages.put(("done", index, tally))


def format_load_report(report: LoadReport, model: CapacityModel) -> str:
    """The report as text: rates, latency percentiles, errors, verdict and nodes needed."""

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms"

    achieved = report.achieved_rate
    share = achieved / report.target_rate
    lines = [
        f"target     {report.target_rate:,.0f}/s for {report.duration:g} s "
        f"({report.scheduled:,} requests scheduled)",
        f"achieved   {achieved:,.0f}/s successful ({share:.1%} of target)",
        f"latency    p50 {ms(report.p50)}  p95 {ms(report.p95)}  p99 {ms(report.p99)}  "
        f"max {ms(report.max)}  (from each request's scheduled send time)",
    ]
    if report.errors:
        kinds = ", ".join(f"{k}: {n:,}" for k, n in sorted(report.errors.items()))
        lines.append(f"errors     {report.error_count:,} ({kinds})")
    else:
        lines.append("errors     none")
    for name, action in sorted(report.by_action.items()):
        lines.append(
            f"  {name:<12} ok {action.ok:>9,}  errors {action.errors:>7,}  "
            f"p50 {ms(action.p50)}  p99 {ms(action.p99)}"
        )
    verdict = "HELD" if report.held else "did NOT hold"
    lines.append(
        f"verdict    one node {verdict} {report.target_rate:,.0f}/s (needs ≥ "
        f"{HELD_FRACTION:.0%} of target and p99 ≤ {report.p99_threshold_ms:g} ms)"
    )
    lines.append(
        f"generator  {report.client_cpu:.0%} of a core, p99 send lag {ms(report.send_lag_p99)}"
    )
    if report.client_bound:
        lines.append(
            "           the generator itself was saturated: the server may do more than "
            "measured; lower the rate or run `casebook load` on other cores"
        )
    if achieved > 0:
        seed, peak = model.requests_per_second, model.peak_requests_per_second
        if report.held:
            caveat = "the node held its target, so its capacity is higher; raise --rate to find it"
        elif report.client_bound:
            caveat = "the generator, not the node, may have been the limit"
        else:
            caveat = ""
        bound = "at most " if caveat else ""
        lines.append(
            f"nodes      at {achieved:,.0f}/s per node: seed average {seed:,.0f}/s needs "
            f"{bound}{report.nodes_for(seed)}, peak {peak:,.0f}/s {bound}{report.nodes_for(peak)}"
        )
        if caveat:
            lines.append(f"           (upper bounds: {caveat})")
    return "\n".join(lines)
