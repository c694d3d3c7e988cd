"""The open-loop load generator against a real HTTP server on a loopback port."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from typer.testing import CliRunner

from casebook.app import create_app
from casebook.cli import app as cli
from casebook.platform.capacity import LoadAction, LoadMix, LoadSetup
from casebook.platform.loadgen import (
    MAX_DURATION_S,
    LatencyHistogram,
    LoadPlan,
    LoadReport,
    LoopbackClient,
    TargetRefused,
    Tick,
    WeightedRotation,
    format_load_report,
    require_loopback,
    run_load,
)
from casebook.platform.settings import Settings
from casebook.systems.url_shortener.capacity import CAPACITY
from casebook.systems.url_shortener.capacity import LOAD_MIX as URL_SHORTENER_MIX
from tests.servers import free_port


class TinyShortener:
    """A minimal ASGI link store: `POST /links` → 201 {"code"}, `GET /r/<code>` → 302 or 404.

    `GET /stall` sleeps `stall_s` the first time it is called and answers 200 at once after.
    """

    def __init__(self, stall_s: float = 0.0) -> None:
        self.codes: set[str] = set()
        self._next = itertools.count(1)
        self._stall_s = stall_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        while (await receive()).get("more_body"):
            pass
        path, method = scope["path"], scope["method"]
        headers: list[tuple[bytes, bytes]] = []
        body = b""
        if method == "POST" and path == "/links":
            code = f"c{next(self._next)}"
            self.codes.add(code)
            status, body = 201, json.dumps({"code": code}).encode()
        elif method == "GET" and path.startswith("/r/"):
            found = path.removeprefix("/r/") in self.codes
            status = 302 if found else 404
            if found:
                headers.append((b"location", b"https://example.com/"))
        elif path == "/stall":
            if self._stall_s:
                stall, self._stall_s = self._stall_s, 0.0
                await asyncio.sleep(stall)
            status = 200
        else:
            status = 404
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def serve(asgi: ASGIApp) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("uvicorn did not start within 5 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def shortener_url() -> AsyncIterator[str]:
    async for url in serve(TinyShortener()):
        yield url


@pytest.fixture
async def stalling_url() -> AsyncIterator[str]:
    async for url in serve(TinyShortener(stall_s=0.15)):
        yield url


@dataclass
class Links:
    codes: list[str] = field(default_factory=list)
    cursor: itertools.count[int] = field(default_factory=itertools.count)


async def create_links(client: httpx.AsyncClient, setup: LoadSetup) -> Links:
    links = Links()
    for _ in range(setup.items):
        response = await client.post("/links")
        links.codes.append(response.json()["code"])
    return links


async def follow(client: httpx.AsyncClient, links: Links) -> httpx.Response:
    return await client.get(f"/r/{links.codes[next(links.cursor) % len(links.codes)]}")


async def shorten(client: httpx.AsyncClient, links: Links) -> httpx.Response:
    response = await client.post("/links")
    if response.status_code == 201:
        links.codes.append(response.json()["code"])
    return response


MIX = LoadMix(
    setup=create_links,
    actions=(
        LoadAction("follow", "read", 8, follow, frozenset({301, 302})),
        LoadAction("shorten", "write", 1, shorten, frozenset({201})),
    ),
    setup_size=5,
)


async def test_an_open_loop_run_sends_the_mix_at_the_rate_and_reports_sane_latencies(
    shortener_url: str,
) -> None:
    ticks: list[Tick] = []
    report = await run_load(
        MIX, LoadPlan(base_url=shortener_url, rate=100, duration=1.0), on_tick=ticks.append
    )

    assert report.scheduled == 100
    assert report.errors == {}
    assert report.ok == 100
    # Smooth weighted round-robin gives the exact 8:1 mix: 11 blocks of 9, then one more read.
    assert {name: (a.ok, a.errors) for name, a in report.by_action.items()} == {
        "follow": (89, 0),
        "shorten": (11, 0),
    }
    assert 0 < report.p50 <= report.p95 <= report.p99 <= report.max
    assert 0 < report.achieved_rate <= 100
    assert [t.second for t in ticks] == [1]
    assert ticks[0].sent == 100


async def test_latency_counts_from_the_scheduled_send_so_a_stall_delays_the_queue_behind_it(
    stalling_url: str,
) -> None:
    async def setup(client: httpx.AsyncClient, plan: LoadSetup) -> None:
        return None

    async def stall(client: httpx.AsyncClient, state: None) -> httpx.Response:
        return await client.get("/stall")

    mix = LoadMix(setup=setup, actions=(LoadAction("stall", "read", 1, stall, frozenset({200})),))
    report = await run_load(
        mix, LoadPlan(base_url=stalling_url, rate=100, duration=0.5, connections=1)
    )

    assert report.ok == 50
    assert report.max >= 0.15
    # The ~15 requests scheduled during the 150 ms stall waited for the one connection; measured
    # from when each was due (not when it got the connection) they are slow too.
    assert report.p95 >= 0.05


async def test_failures_are_counted_by_kind_and_the_node_does_not_hold() -> None:
    async def setup(client: httpx.AsyncClient, plan: LoadSetup) -> None:
        return None

    async def get(client: httpx.AsyncClient, state: None) -> httpx.Response:
        return await client.get("/")

    mix = LoadMix(setup=setup, actions=(LoadAction("get", "read", 1, get, frozenset({200})),))
    closed_port = free_port()
    report = await run_load(
        mix, LoadPlan(base_url=f"http://127.0.0.1:{closed_port}", rate=50, duration=0.2)
    )

    assert report.ok == 0
    assert report.errors == {"ConnectError": 10}
    assert not report.held
    with pytest.raises(ValueError, match="no successful requests"):
        report.nodes_for(100)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://127.9.8.7",
        "https://localhost:8443/x",
        "http://[::1]:8000/",
    ],
)
def test_loopback_targets_are_accepted(url: str) -> None:
    assert require_loopback(url).host in {"127.0.0.1", "127.9.8.7", "localhost", "::1"}


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8000",
        "http://0.0.0.0:8000",
        "http://example.com",
        "http://127.0.0.1.nip.io",
        "http://[::ffff:8.8.8.8]/",
        "ftp://127.0.0.1/",
        "127.0.0.1:8000",
    ],
)
def test_non_loopback_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        require_loopback(url)
    with pytest.raises(TargetRefused):
        LoadPlan(base_url=url, rate=10, duration=1)


def test_the_cli_refuses_a_non_loopback_target_before_sending_anything() -> None:
    result = CliRunner().invoke(
        cli, ["load", "url-shortener", "--url", "http://192.0.2.10:8000", "--duration", "1"]
    )
    assert result.exit_code == 2
    assert "only target loopback" in result.output


def test_runs_are_bounded_in_time_and_rate() -> None:
    with pytest.raises(ValueError, match="duration"):
        LoadPlan(base_url="http://127.0.0.1", rate=10, duration=MAX_DURATION_S + 1)
    with pytest.raises(ValueError, match="rate"):
        LoadPlan(base_url="http://127.0.0.1", rate=0, duration=1)


def test_weighted_rotation_interleaves_reads_and_writes_in_their_ratio() -> None:
    actions = MIX.actions
    rotation = WeightedRotation(actions)
    picks = [rotation.next().name for _ in range(18)]
    assert picks.count("follow") == 16
    assert picks.count("shorten") == 2
    # The write is not bunched at the start or end of a block of nine.
    assert picks.index("shorten") not in (0, 8)


def test_latency_histogram_percentiles_are_within_one_percent() -> None:
    histogram = LatencyHistogram()
    for ms in range(1, 1001):
        histogram.record(ms / 1000)
    assert histogram.count == 1000
    assert histogram.percentile(0.5) == pytest.approx(0.500, rel=0.011)
    assert histogram.percentile(0.99) == pytest.approx(0.990, rel=0.011)
    assert histogram.percentile(1.0) == histogram.max == 1.0
    assert LatencyHistogram().percentile(0.99) == 0.0


def report(achieved: float, p99_ms: float, target: float = 1000) -> LoadReport:
    return LoadReport(
        target_rate=target,
        duration=10,
        p99_threshold_ms=50,
        scheduled=int(target * 10),
        ok=int(achieved * 10),
        ok_in_window=int(achieved * 10),
        errors={},
        by_action={},
        p50=0.001,
        p95=0.002,
        p99=p99_ms / 1000,
        max=p99_ms / 1000,
        send_lag_p99=0.0001,
        client_cpu=0.3,
    )


def test_a_node_holds_a_rate_only_at_95_percent_of_it_with_p99_under_the_threshold() -> None:
    assert report(achieved=960, p99_ms=40).held
    assert not report(achieved=940, p99_ms=40).held
    assert not report(achieved=1000, p99_ms=60).held


def test_nodes_needed_follow_the_measured_per_node_throughput() -> None:
    measured = report(achieved=3000, p99_ms=40, target=4000)
    assert measured.nodes_for(8333) == 3
    assert measured.nodes_for(9000) == 3
    assert measured.nodes_for(9001) == 4
    assert measured.nodes_for(10) == 1


async def test_the_url_shortener_mix_drives_the_real_api_and_redirects(
    settings: Settings,
) -> None:
    """Setup registers a user, creates an API key and links through the real API; the run then
    shortens and follows redirects at the seed's 8:1 without a single error."""
    application = create_app(settings, only=["url-shortener"])
    async with application.router.lifespan_context(application):
        async for url in serve(application):
            report = await run_load(
                URL_SHORTENER_MIX,
                LoadPlan(base_url=url, rate=36, duration=0.5, setup_size=5),
            )
    assert report.errors == {}
    assert {name: (a.ok, a.errors) for name, a in report.by_action.items()} == {
        "redirect": (16, 0),
        "shorten": (2, 0),
    }


def test_the_report_states_the_verdict_and_the_nodes_the_seed_needs() -> None:
    overloaded = format_load_report(report(achieved=3000, p99_ms=40, target=4000), CAPACITY)
    assert "one node did NOT hold 4,000/s" in overloaded
    assert "seed average 8,333/s needs 3, peak 16,667/s 6" in overloaded
    assert "upper bounds" not in overloaded

    held = format_load_report(report(achieved=1000, p99_ms=20), CAPACITY)
    assert "one node HELD 1,000/s" in held
    assert "needs at most 9, peak 16,667/s at most 17" in held
    assert "raise --rate" in held


async def test_several_generator_processes_share_one_schedule_and_merge_their_tallies() -> None:
    shortener = TinyShortener()
    ticks: list[Tick] = []
    async for url in serve(shortener):
        report = await run_load(
            MIX,
            LoadPlan(base_url=url, rate=200, duration=0.5, processes=2),
            on_tick=ticks.append,
        )
    assert report.processes == 2
    assert report.scheduled == 100
    assert report.errors == {}
    # Each process sends every other request of the schedule (50), in its own 8:1 rotation,
    # whose write comes fifth in each block of nine: 44 follows and 6 shortens each. The server
    # saw every write.
    assert {name: (a.ok, a.errors) for name, a in report.by_action.items()} == {
        "follow": (88, 0),
        "shorten": (12, 0),
    }
    assert len(shortener.codes) == MIX.setup_size + 12
    assert 0 < report.p50 <= report.p95 <= report.p99 <= report.max
    assert [(t.second, t.sent, t.errors) for t in ticks] == [(1, 100, 0)]


class Echo:
    """Answers every request with a JSON account of what it received."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = json.dumps(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"].decode(),
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "body": body.decode(),
                "client_port": scope["client"][1],
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"x-echo", b"1")]
        await send({"type": "http.response.start", "status": 207, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


async def test_the_loopback_client_sends_real_http_on_one_kept_alive_connection() -> None:
    async for url in serve(Echo()):
        async with LoopbackClient(url, timeout_s=5) as client:
            got = await client.get("/a/b", headers={"Authorization": "Bearer k"})
            posted = await client.post("/links", json={"url": "https://example.com/é"})
            raw = await client.post("/raw", content=b"abc")
            queried = await client.get("/q", params={"x": "1"})  # httpx's own path
    assert got.status_code == 207 and got.headers["x-echo"] == "1"
    seen = got.json()
    assert (seen["method"], seen["path"], seen["body"]) == ("GET", "/a/b", "")
    assert seen["headers"]["authorization"] == "Bearer k"
    assert seen["headers"]["host"] == url.removeprefix("http://")
    sent = posted.json()
    assert sent["headers"]["content-type"] == "application/json"
    assert json.loads(sent["body"]) == {"url": "https://example.com/é"}
    assert int(sent["headers"]["content-length"]) == len(sent["body"].encode())
    assert raw.json()["body"] == "abc"
    assert queried.json()["query"] == "x=1"
    # The lean requests shared one connection (one client port).
    assert got.json()["client_port"] == posted.json()["client_port"] == raw.json()["client_port"]


async def test_the_loopback_client_raises_httpx_errors_by_kind() -> None:
    async with LoopbackClient(f"http://127.0.0.1:{free_port()}", timeout_s=1) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/")
    async for url in serve(TinyShortener(stall_s=0.15)):
        async with LoopbackClient(url, timeout_s=0.05) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/stall")
            # The connection that timed out is dropped; the next request gets a fresh one.
            assert (await client.get("/stall")).status_code == 200
