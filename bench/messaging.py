"""`casebook bench messaging`: chat delivery on one node, against a bare broadcast server.

What it does, for each target (the bare `websockets` ceiling of bench/ws_ceiling.py, then
Casebook's Instant Messenger on each backend):

1. Seeds `--connections` users, each with one device, in groups of `--group-size` (straight into
   the database: registering 10,000 users through argon2 would measure the password hash) and
   signs an access token for each with the server's key.
2. `--client-processes` load processes open one WebSocket per user (`/ws/instant-messenger`,
   hello with token and device) and wait until every socket is ready.
3. Saturation: every socket sends a message, waits for the server's `sent`, sends the next, for
   `--duration` seconds. Counts messages persisted (a `sent` answer means committed) and
   deliveries (message events received by the other members) per second.
4. Fixed rate: the processes send `--rate` messages a second in all (open loop, spread over the
   sockets) for `--duration` seconds; each received message's latency is now minus the send time
   carried in its body (one machine, one clock): p50/p95/p99 send-to-receive.

Clients behave like a phone: a socket acks the newest seq of each conversation a second after
the first message it has not acked yet arrived, so at most once a second (the gateway writes acks
to the database as device cursors), and pings every 20 s (the heartbeat that keeps presence; a
silent socket is closed after 60 s). Acks follow arrivals, as a phone's do: an earlier version
acked on a one-second tick that every socket started at the same moment, so 10,000 sockets acked
in the same few milliseconds each second and the server's latency showed that burst, which no
population of phones produces.

The load processes' garbage collector is off while they measure (collected and frozen between
the phases): with 5,000 sockets each, their full collections paused them for 340-670 ms every
~15 s, and every such pause was reported as send-to-receive latency of the server.

The server is pinned to CPU 0 and the load processes to CPU 1 (`--cpus`), so neither steals the
other's core; Casebook runs one worker, like the ceiling's one process, so the ratio compares one
core with one core. Figures go to bench/results/messaging-<date>.md and .json.

Run it as `casebook bench messaging [--connections N --group-size G --rate R …]` or
`python -m bench.messaging`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert
from tests.servers import Servers
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import record
from bench.casebook_server import CasebookServer
from bench.process import ScratchProcess, free_port, stop_process, wait_for_port
from casebook.platform.auth.models import User
from casebook.platform.auth.tokens import issue_access_token
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings

NAME = "messaging"
SLUG = "instant-messenger"
REPO = Path(__file__).resolve().parents[1]
SEED_RATES = {"Instant Messenger (seed 003)": 34_722, "Telegram (seed 002)": 46_296}
"""Average messages per second the seeds imply: 3 B and 4 B messages a day."""
TARGET_RATE = 5_000
TARGET_P99_MS = 150.0


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    connections: int
    group_size: int
    rate: int
    duration: float
    client_processes: int
    server_cpus: str
    client_cpus: str
    server: str = "uvicorn"
    """`casebook serve --server`: granian or uvicorn (the faster of the two for 10,000 chat
    sockets: saturated 4,703 against 4,352/s, and at a fixed 5,000/s p99 243 ms against 2.6 s
    with granian over capacity, one run each in session 17)."""


@dataclass(frozen=True)
class Seat:
    """One simulated client: who it is and where it sends."""

    user_id: str
    device_id: str
    token: str
    groups: tuple[str, ...]


# Seeding


async def seed(database_url: str, secret_key: str, options: Options) -> list[Seat]:
    """Users, devices, group conversations and memberships, inserted in bulk."""
    from casebook.engines.messaging.models import (
        MessagingConversation,
        MessagingDevice,
        MessagingMember,
    )

    settings = Settings(secret_key=secret_key, access_token_ttl_seconds=6 * 3600)
    db = Database(database_url)
    now = utcnow()
    users = [new_id() for _ in range(options.connections)]
    devices = [new_id() for _ in users]
    size = options.group_size
    groups = [new_id() for _ in range(-(-len(users) // size))]
    member_of: dict[int, list[int]] = defaultdict(list)
    member_rows: list[dict[str, Any]] = []
    for index, user in enumerate(users):
        group = groups[index // size]
        member_of[user].append(group)
        role = "owner" if index % size == 0 else "member"
        member_rows.append(
            {"conversation_id": group, "user_id": user, "role": role, "joined_at": now}
        )
    try:
        async with db.session() as session:
            for chunk in _chunks(
                [
                    {
                        "id": u,
                        "email": f"bench-{u}@example.com",
                        "display_name": f"Bench {i}",
                        "password_hash": "!",  # no password: these users only hold tokens
                        "created_at": now,
                    }
                    for i, u in enumerate(users)
                ]
            ):
                await session.execute(insert(User), chunk)
            for chunk in _chunks(
                [
                    {"id": d, "system": SLUG, "user_id": u, "name": "bench", "created_at": now}
                    for u, d in zip(users, devices, strict=True)
                ]
            ):
                await session.execute(insert(MessagingDevice), chunk)
            for chunk in _chunks(
                [
                    {
                        "id": g,
                        "system": SLUG,
                        "kind": "group",
                        "title": f"bench {i}",
                        "created_by": users[i * size],
                        "created_at": now,
                        "last_seq": 0,
                        "member_count": min(size, len(users) - i * size),
                        "member_limit": 200_000,
                    }
                    for i, g in enumerate(groups)
                ]
            ):
                await session.execute(insert(MessagingConversation), chunk)
            for chunk in _chunks(member_rows):
                await session.execute(insert(MessagingMember), chunk)
    finally:
        await db.dispose()
    return [
        Seat(
            str(u),
            str(d),
            issue_access_token(settings, u, now),
            tuple(str(g) for g in member_of[u]),
        )
        for u, d in zip(users, devices, strict=True)
    ]


def _chunks(rows: list[dict[str, Any]], size: int = 2000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


# The load processes


@dataclass
class _Stats:
    sent: int = 0
    delivered: int = 0
    errors: int = 0
    closed: int = 0
    """Sockets the server closed (e.g. 4429: the client read too slowly); they stop sending."""
    latencies_ms: list[float] | None = None


class _Client:
    """One socket: sends, counts `sent` answers and received messages, acks what arrived."""

    def __init__(
        self, seat: Seat, connection: ClientConnection, stats: _Stats, ceiling: bool
    ) -> None:
        self.seat = seat
        self.ceiling = ceiling
        """The bare server: no acks (it keeps no cursors)."""
        self.connection = connection
        self.stats = stats
        self.answered = asyncio.Event()
        self.newest: dict[str, int] = {}
        self.acked: dict[str, int] = {}
        self.acking: asyncio.Task[None] | None = None
        self.counter = 0
        self.closed = False

    def _lost(self) -> None:
        """The server closed this socket: count it once and release a waiting sender."""
        if not self.closed:
            self.closed = True
            self.stats.closed += 1
        self.answered.set()

    async def read(self, measuring: list[bool]) -> None:
        try:
            async for raw in self.connection:
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "message":
                    message = frame["message"]
                    conversation = str(frame["conversation_id"])
                    seq = int(frame["seq"])
                    if seq > self.newest.get(conversation, 0):
                        self.newest[conversation] = seq
                        if self.acking is None and not self.ceiling:
                            self.acking = asyncio.create_task(self._ack_soon())
                    if message.get("sender_id") == self.seat.user_id:
                        continue
                    self.stats.delivered += 1
                    if measuring[0] and self.stats.latencies_ms is not None:
                        body = message.get("body") or ""
                        sent_ns = int(body.split(" ", 1)[0]) if body[:1].isdigit() else 0
                        if sent_ns:
                            self.stats.latencies_ms.append((time.time_ns() - sent_ns) / 1e6)
                elif kind == "sent":
                    self.stats.sent += 1
                    self.answered.set()
                elif kind == "pong":
                    pass
                elif kind == "error":
                    self.stats.errors += 1
                    self.answered.set()
        except ConnectionClosed:
            pass
        self._lost()

    async def send(self, wait: bool) -> None:
        """Send one message (and with `wait`, wait for its `sent`); nothing once closed."""
        if self.closed:
            return
        self.counter += 1
        self.answered.clear()
        frame = {
            "type": "send",
            "conversation_id": self.seat.groups[0],
            "client_id": f"{self.seat.device_id}-{self.counter}",
            "ref": str(self.counter),
            "kind": "text",
            "body": f"{time.time_ns()} hello from the load generator",
        }
        try:
            await self.connection.send(orjson.dumps(frame).decode())
        except ConnectionClosed:
            self._lost()
            return
        if wait:
            await self.answered.wait()

    async def heartbeat(self, ceiling: bool, interval: float = 20.0) -> None:
        """Pings as the protocol asks (a silent socket is closed after the presence TTL)."""
        if ceiling:
            return
        await asyncio.sleep(interval * random.random())  # spread the sockets' beats
        while not self.closed:
            try:
                await self.connection.send('{"type":"ping"}')
            except ConnectionClosed:
                self._lost()
                return
            await asyncio.sleep(interval)

    async def _ack_soon(self, delay: float = 1.0) -> None:
        """A second after the first unacked arrival: ack the newest seq of each conversation."""
        await asyncio.sleep(delay)
        self.acking = None
        for conversation, seq in list(self.newest.items()):
            if self.closed:
                return
            if self.acked.get(conversation, 0) < seq:
                self.acked[conversation] = seq
                frame = {"type": "ack", "conversation_id": conversation, "seq": seq}
                try:
                    await self.connection.send(orjson.dumps(frame).decode())
                except ConnectionClosed:
                    self._lost()
                    return


async def _open(url: str, seat: Seat, ceiling: bool) -> ClientConnection:
    connection = await connect(
        url, compression=None, max_size=1 << 22, open_timeout=120, ping_interval=None
    )
    hello: dict[str, Any]
    if ceiling:
        hello = {"type": "hello", "groups": list(seat.groups), "user_id": seat.user_id}
    else:
        hello = {"type": "hello", "token": seat.token, "device_id": seat.device_id}
    await connection.send(orjson.dumps(hello).decode())
    while True:
        frame = orjson.loads(await connection.recv())
        if frame.get("type") == "ready" and ceiling:
            return connection
        if frame.get("type") == "resumed":
            return connection
        if frame.get("type") not in ("ready", "message", "receipt", "presence"):
            raise RuntimeError(f"unexpected frame while connecting: {frame}")


async def _load(
    url: str,
    seats: Sequence[Seat],
    ceiling: bool,
    options: Options,
    share: int,
    barrier: Barrier,
    results: Any,
) -> None:
    stats = _Stats(latencies_ms=[])
    measuring = [False]
    semaphore = asyncio.Semaphore(200)

    beats: list[asyncio.Task[None]] = []

    async def open_one(seat: Seat) -> _Client:
        async with semaphore:
            client = _Client(seat, await _open(url, seat, ceiling), stats, ceiling)
        # Beat from the start: opening 10,000 sockets can outlast the presence TTL.
        beats.append(asyncio.create_task(client.heartbeat(ceiling)))
        return client

    clients = list(await asyncio.gather(*(open_one(s) for s in seats)))
    connections = [c.connection for c in clients]
    readers = [asyncio.create_task(c.read(measuring)) for c in clients]
    ackers = beats
    # The load process must not pause: with 5,000 sockets its full collections took 340-670 ms
    # every ~15 s, and each one showed as that much send-to-receive latency (the messages sent
    # late by the open loop, the deliveries read late). So its collector is off while it
    # measures; what cyclic garbage the phases leave is collected between them, unmeasured.
    collected = _pause_collector()
    await asyncio.to_thread(barrier.wait)

    # Saturation: closed loop, one message in flight per socket.
    stop = time.monotonic() + options.duration
    stats.sent = stats.delivered = 0
    started = time.monotonic()

    async def closed_loop(client: _Client) -> None:
        while time.monotonic() < stop and not client.closed:
            await client.send(wait=True)

    await asyncio.gather(*(closed_loop(c) for c in clients))
    elapsed = time.monotonic() - started
    saturation = {"sent": stats.sent, "delivered": stats.delivered, "seconds": elapsed}
    await asyncio.sleep(2.0)  # let in-flight deliveries land before the next phase
    collected += _pause_collector()
    await asyncio.to_thread(barrier.wait)

    # Fixed rate: open loop, `share` messages a second from this process.
    stats.sent = stats.delivered = 0
    stats.latencies_ms = []
    measuring[0] = True
    interval = 1.0 / share if share else 1.0
    started = time.monotonic()
    stop = started + options.duration
    next_at = started
    index = 0
    # Past `stop` the loop ends even if the server is behind (its sockets push back on sends):
    # an overloaded server shows as offered < the rate, not as a run that never ends.
    while next_at < stop and time.monotonic() < stop:
        now = time.monotonic()
        if next_at > now:
            await asyncio.sleep(next_at - now)
        client = clients[index % len(clients)]
        index += 1
        await client.send(wait=False)
        next_at += interval
    elapsed = time.monotonic() - started
    await asyncio.sleep(2.0)
    measuring[0] = False
    collected += gc.collect()
    gc.enable()
    fixed = {
        "sent": stats.sent,
        "delivered": stats.delivered,
        "seconds": elapsed,
        "offered": index,
        "latencies_ms": stats.latencies_ms,
        "errors": stats.errors,
        "closed": stats.closed,
    }
    for task in (*readers, *ackers, *(c.acking for c in clients if c.acking is not None)):
        task.cancel()
    # The figures first: closing thousands of sockets of a server still digging out of a backlog
    # waits for each close handshake, which once outlasted the parent's patience.
    results.put({"saturation": saturation, "fixed": fixed, "client_garbage": collected})
    await asyncio.gather(*(connection.close() for connection in connections))


def _pause_collector() -> int:
    """Collect now, freeze what survives (later collections skip it) and stop the collector
    until the next call or the end of the run; returns the objects collected."""
    gc.enable()
    collected = gc.collect()
    gc.freeze()
    gc.disable()
    return collected


def _load_process(
    url: str,
    seats: Sequence[Seat],
    ceiling: bool,
    options: Options,
    share: int,
    barrier: Barrier,
    results: Any,
) -> None:
    if options.client_cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in options.client_cpus.split(",")})
    try:
        asyncio.run(_load(url, seats, ceiling, options, share, barrier, results))
    except BaseException as exc:
        results.put({"error": repr(exc)})  # the parent fails at once instead of timing out
        raise


def drive(
    url: str,
    seats: Sequence[Seat],
    ceiling: bool,
    options: Options,
    server_url: str | None = None,
) -> dict[str, Any]:
    """Run both phases from `--client-processes` processes; the merged figures. With
    `server_url` (a Casebook server), also the server's garbage-collector pauses during the
    fixed-rate phase (`gc_pauses`)."""
    processes = max(1, options.client_processes)
    context = mp.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    workers = []
    for index in range(processes):
        share = options.rate // processes + (1 if index < options.rate % processes else 0)
        worker = context.Process(
            target=_load_process,
            args=(url, seats[index::processes], ceiling, options, share, barrier, results),
        )
        worker.start()
        workers.append(worker)
    progress(f"  opening {len(seats):,} sockets …")
    opened = time.monotonic()
    barrier.wait(timeout=600)
    progress(f"  {len(seats):,} sockets ready in {time.monotonic() - opened:.1f} s; saturating …")
    barrier.wait(timeout=600)
    # The fixed-rate phase starts now (the load processes passed the same barrier).
    pauses_before = gc_pauses(server_url) if server_url else None
    progress(f"  sending {options.rate:,} messages/s for {options.duration:g} s …")
    parts = [results.get(timeout=options.duration * 4 + 120) for _ in workers]
    failed = [p["error"] for p in parts if "error" in p]
    if failed:
        raise RuntimeError(f"a load process failed: {failed[0]}")
    merged = _merge(parts)
    if server_url and pauses_before is not None:
        after = gc_pauses(server_url)
        merged["fixed"]["gc_pauses"] = {
            generation: [round(a - b, 3) for a, b in zip(after[generation], before, strict=True)]
            for generation, before in pauses_before.items()
        }
    for worker in workers:
        worker.join(timeout=30)
    return merged


def gc_pauses(server_url: str) -> dict[str, list[float]]:
    """The server's garbage-collector pauses so far, from its /metrics
    (`casebook_gc_pause_seconds`): per generation, [collections, seconds in all, collections
    over the p99 target]."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    with urlopen(f"{server_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    target = f"{TARGET_P99_MS / 1000:g}"  # a bucket bound of the histogram: "0.15"
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    within: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "casebook_gc_pause_seconds":
            continue
        for sample in family.samples:
            generation = sample.labels["generation"]
            if sample.name.endswith("_count"):
                counts[generation] = sample.value
            elif sample.name.endswith("_sum"):
                sums[generation] = sample.value
            elif sample.name.endswith("_bucket") and sample.labels.get("le") == target:
                within[generation] = sample.value
    return {g: [n, sums.get(g, 0.0), n - within.get(g, 0.0)] for g, n in counts.items()}


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    saturation_seconds = max(p["saturation"]["seconds"] for p in parts)
    fixed_seconds = max(p["fixed"]["seconds"] for p in parts)
    latencies = sorted(x for p in parts for x in p["fixed"]["latencies_ms"])

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        value: float = latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        return round(value, 1)

    return {
        "saturation": {
            "messages_per_s": round(
                sum(p["saturation"]["sent"] for p in parts) / saturation_seconds
            ),
            "deliveries_per_s": round(
                sum(p["saturation"]["delivered"] for p in parts) / saturation_seconds
            ),
        },
        "fixed": {
            "offered_per_s": round(sum(p["fixed"]["offered"] for p in parts) / fixed_seconds),
            "messages_per_s": round(sum(p["fixed"]["sent"] for p in parts) / fixed_seconds),
            "deliveries_per_s": round(sum(p["fixed"]["delivered"] for p in parts) / fixed_seconds),
            "errors": sum(p["fixed"]["errors"] for p in parts),
            "sockets_closed": sum(p["fixed"]["closed"] for p in parts),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "samples": len(latencies),
        },
        "client_garbage_objects": sum(p.get("client_garbage", 0) for p in parts),
    }


# Targets


class CeilingServer(ScratchProcess):
    def __init__(self, cpus: str) -> None:
        import tempfile

        super().__init__(Path(tempfile.mkdtemp(prefix="ws-ceiling-")))
        self.port = free_port()
        self._cpus = cpus

    def __enter__(self) -> CeilingServer:
        from bench.wrk import pinned

        self._process = subprocess.Popen(
            [
                *pinned(self._cpus),
                sys.executable,
                "-m",
                "bench.ws_ceiling",
                "--port",
                str(self.port),
            ],
            cwd=REPO,
        )
        wait_for_port(self.port, self._process)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            stop_process(self._process)
        super().__exit__(None, None, None)


def run_ceiling(options: Options) -> dict[str, Any]:
    progress("ceiling: bare websockets broadcast, 1 process")
    seats = [
        Seat(str(i), str(i), "", (f"g{i // options.group_size}",))
        for i in range(options.connections)
    ]
    with CeilingServer(options.server_cpus) as server:
        return drive(f"ws://127.0.0.1:{server.port}/", seats, True, options)


def run_casebook(backend: str, options: Options) -> dict[str, Any]:
    progress(f"casebook ({backend}): instant-messenger, 1 worker, {options.server}")
    secret = secrets.token_urlsafe(48)
    env = {"CASEBOOK_SECRET_KEY": secret, "CASEBOOK_ACCESS_TOKEN_TTL_SECONDS": str(6 * 3600)}
    if backend == "postgres":
        servers = Servers()
        try:
            progress("  starting a throwaway PostgreSQL (fsync on) and Redis")
            database_url, redis_url = servers.start_postgres(), servers.start_redis()
            with CasebookServer(
                [SLUG],
                database_url=database_url,
                redis_url=redis_url,
                env=env,
                cpus=options.server_cpus,
                server=options.server,
            ) as server:
                seats = asyncio.run(seed(database_url, secret, options))
                return drive(_ws_url(server.url), seats, False, options, server.url)
        finally:
            servers.stop()
    with CasebookServer([SLUG], env=env, cpus=options.server_cpus, server=options.server) as server:
        database_url = f"sqlite+aiosqlite:///{server.var_dir / 'casebook.db'}"
        seats = asyncio.run(seed(database_url, secret, options))
        return drive(_ws_url(server.url), seats, False, options, server.url)


def _ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + f"/ws/{SLUG}"


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def report(options: Options, results: dict[str, dict[str, Any]]) -> str:
    ceiling = results.get("ceiling")
    lines = [
        f"# Messaging delivery benchmark — {datetime.now(UTC).date()}",
        "",
        f"Machine: {record.machine()}  ",
        f"Commit: {record.git_commit(REPO)}  ",
        f"{options.connections:,} WebSocket connections in groups of {options.group_size}; "
        f"{options.client_processes} load processes on CPU {options.client_cpus}, server "
        f"({options.server}, one worker) on CPU {options.server_cpus}; fixed rate "
        f"{options.rate:,} messages/s for {options.duration:g} s.",
        "",
        "| target | saturated: messages/s | deliveries/s | vs ceiling | fixed rate: sent/s "
        "| delivered/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        sat, fixed = result["saturation"], result["fixed"]
        ratio = (
            f"{sat['messages_per_s'] / max(1, ceiling['saturation']['messages_per_s']):.0%}"
            if ceiling
            else "—"
        )
        lines.append(
            f"| {name} | {sat['messages_per_s']:,} | {sat['deliveries_per_s']:,} | "
            f"{ratio} | {fixed['messages_per_s']:,} | {fixed['deliveries_per_s']:,} | "
            f"{fixed['p50_ms']} | {fixed['p95_ms']} | {fixed['p99_ms']} | {fixed['errors']}"
            + (f" ({closed:,} sockets closed)" if (closed := fixed["sockets_closed"]) else "")
            + " |"
        )
    pauses = {n: r["fixed"]["gc_pauses"] for n, r in results.items() if r["fixed"].get("gc_pauses")}
    if pauses:
        lines += [
            "",
            "The server's garbage-collector pauses during the fixed-rate phase (every coroutine "
            f"stops for each; over {TARGET_P99_MS:g} ms is over the p99 target):",
            "",
        ]
        names = {"0": "young", "1": "middle", "2": "full"}
        for name, by_generation in pauses.items():
            parts = [
                f"{int(count)} {names.get(generation, generation)} ({seconds * 1000:,.0f} ms in "
                f"all, {int(over)} over {TARGET_P99_MS:g} ms)"
                for generation, (count, seconds, over) in sorted(by_generation.items())
            ]
            lines.append(f"- {name}: " + ", ".join(parts))
    garbage = ", ".join(
        f"{name} {result.get('client_garbage_objects', 0):,}" for name, result in results.items()
    )
    lines += [
        "",
        "The load processes' garbage collector is off while they measure (its full collections "
        "paused them for 340-670 ms, which showed as latency); the cyclic garbage they left, "
        f"collected between the phases, in objects: {garbage}.",
    ]
    lines += ["", "Nodes the seeds' average rates need at the measured saturated rate:", ""]
    for name, result in results.items():
        if name == "ceiling":
            continue
        rate = max(1, result["saturation"]["messages_per_s"])
        needs = ", ".join(f"{seed}: {-(-need // rate)}" for seed, need in SEED_RATES.items())
        lines.append(f"- {name} ({rate:,}/s a node): {needs}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--rate", type=int, default=TARGET_RATE)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--client-cpus", default="1")
    parser.add_argument(
        "--server",
        choices=("granian", "uvicorn"),
        default="uvicorn",
        help="casebook serve --server (uvicorn is the faster for chat: docs/engines/messaging.md)",
    )
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the bare server (e.g. while profiling)"
    )
    args = parser.parse_args(argv)
    options = Options(
        backends=tuple(b for b in args.backends.split(",") if b),
        connections=args.connections,
        group_size=args.group_size,
        rate=args.rate,
        duration=args.duration,
        client_processes=args.client_processes,
        server_cpus=args.server_cpus,
        client_cpus=args.client_cpus,
        server=args.server,
    )
    results: dict[str, dict[str, Any]] = {}
    if not args.no_ceiling:
        results["ceiling"] = run_ceiling(options)
    for backend in options.backends:
        results[f"casebook {backend}"] = run_casebook(backend, options)
    text = report(options, results)
    print(text)
    if not args.no_save:
        payload = {"options": options.__dict__, "results": results}
        paths = record.save(NAME, payload, text)
        progress(f"saved {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
