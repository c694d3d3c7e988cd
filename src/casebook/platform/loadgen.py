"""Open-loop HTTP load generator: drive a system's `LoadMix` at a fixed rate against a server.

Open loop means requests are sent on a schedule (request *i* at `start + i / rate`) whatever the
server does; a slow server does not slow the sender down. Latency is measured from each request's
*scheduled* send time, not from when it actually left, so time spent queued behind a stalled
server counts against the server (the "coordinated omission" correction, as in wrk2).

The generator only talks to loopback addresses (127.0.0.0/8, ::1, localhost): it is for measuring
one's own node, not for pointing at anyone else's. Runs are bounded to `MAX_DURATION_S`.

Due requests wait in a queue per action, served by that action's connections (one worker each),
so queueing costs O(1) per request however far behind the server falls. The generator is itself
one Python process; at high rates it can become the bottleneck. It watches its own CPU use and how
late it queues requests, and says so (`client_bound`) rather than blame the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

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

    `connections` is the number of connections (and requests in flight) per action;
    `max_backlog` bounds the due requests waiting for one of them, per action (once the server
    falls that far behind, further sends are counted as errors rather than queued without
    limit); `drain_s` is how long to wait for stragglers after the window.
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
class _Run(Generic[State]):
    """Mutable tallies of one run; touched only from the event loop's thread."""

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

    Each action gets `plan.connections` connections of its own. Progress goes to `on_tick` once a
    second; `on_setup_done` gets the setup's duration. Errors from setup (the server is down, the
    API refuses: `SetupFailed`) propagate; errors during the run are counted by kind (`HTTP 503`,
    `ConnectError`, `client backlog full`, …) in the report.
    """
    base_url = str(require_loopback(plan.base_url))
    tls = ssl.create_default_context()
    async with _client(base_url, SETUP_CONNECTIONS, plan, tls) as client:
        began = time.perf_counter()
        state = await prepare(mix, client, items=plan.setup_size, rate=plan.rate)
        if on_setup_done is not None:
            on_setup_done(time.perf_counter() - began)
    async with contextlib.AsyncExitStack() as stack:
        lanes = [
            _Lane(
                action,
                asyncio.Queue(maxsize=plan.max_backlog),
                [
                    await stack.enter_async_context(_client(base_url, 1, plan, tls))
                    for _ in range(plan.connections)
                ],
            )
            for action in mix.actions
        ]
        return await _drive(lanes, state, plan, on_tick)


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


async def _drive(
    lanes: list[_Lane[State]],
    state: State,
    plan: LoadPlan,
    on_tick: Callable[[Tick], None] | None,
) -> LoadReport:
    loop = asyncio.get_running_loop()
    total = int(plan.rate * plan.duration)
    interval = 1.0 / plan.rate
    start = loop.time() + 0.01
    by_name = {lane.action.name: lane for lane in lanes}
    run = _Run(state=state, window_end=start + plan.duration, lanes=by_name)
    workers = [
        asyncio.create_task(run.work(lane, client)) for lane in lanes for client in lane.clients
    ]
    rotation = WeightedRotation([lane.action for lane in lanes])
    cpu_start = time.process_time()
    reporter = asyncio.create_task(_report_progress(run, start, plan.duration, on_tick))

    # The schedule: request i is due at start + i * interval. Each wake-up queues every request
    # that has come due (several when the loop woke late), then sleeps until the next one.
    index = 0
    while index < total:
        now = loop.time()
        due = min(total, math.floor((now - start) * plan.rate) + 1)
        while index < due:
            scheduled = start + index * interval
            lane = by_name[rotation.next().name]
            run.lag.record(max(0.0, now - scheduled))
            run.sent += 1
            try:
                lane.queue.put_nowait(scheduled)
            except asyncio.QueueFull:
                run.fail(lane, "client backlog full")
            index += 1
        await asyncio.sleep(max(0.0, start + index * interval - loop.time()))

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

    return LoadReport(
        target_rate=plan.rate,
        duration=plan.duration,
        p99_threshold_ms=plan.p99_threshold_ms,
        scheduled=run.sent,
        ok=run.ok,
        ok_in_window=run.ok_in_window,
        errors=dict(run.errors),
        by_action={
            name: ActionReport(
                ok=lane.ok,
                errors=lane.errors,
                p50=lane.latency.percentile(0.50),
                p99=lane.latency.percentile(0.99),
            )
            for name, lane in by_name.items()
        },
        p50=run.latency.percentile(0.50),
        p95=run.latency.percentile(0.95),
        p99=run.latency.percentile(0.99),
        max=run.latency.max,
        send_lag_p99=run.lag.percentile(0.99),
        client_cpu=client_cpu,
    )


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
