"""`casebook bench trading`: orders end to end through the Stock Exchange's HTTP API, settlement
on, one node, against the bare HTTP ceiling of the same server and client.

What it does, for each backend (`--backends`, default sqlite and postgres):

1. Starts `casebook serve --only stock-exchange` (one worker, pinned to `--server-cpus`) as a user
   would, with a throwaway PostgreSQL (fsync on) and Redis for the postgres backend.
2. Sets up through the API: a compliance officer (made staff in the database: there is no API to
   make the first officer), a listing BENCH at 100.00, and `--traders` traders who register with
   the seed's `/register`, pass KYC (submitted by them, verified by the officer) and deposit cash
   and shares (cash deposits are flagged for AML review, which does not stop them).
3. Load (`--client-processes` processes pinned to `--client-cpus`, aiohttp, one connection per
   trader, closed loop for `--duration` s after `--warmup` s): each trader keeps at most
   `--max-open` resting orders; at the limit it cancels its oldest (`DELETE /orders/{id}`), else
   it places (`POST /orders`): `--cross` of placements are IOC orders priced through the book
   (they trade against other traders' resting orders), the rest GTC orders 1 to 20 ticks away from
   100.00 that rest. A placement's answer comes after the writer's COMMIT: the order row, hold,
   journal entry, matching, every fill's linked ledger transfers and candles are durable.
4. Counts orders placed/s, cancels/s, operations/s, trades/s (from the venue's trades table),
   latency percentiles per operation, and errors; then runs the ledger's `verify` over the whole
   database (balances sum to zero per currency, holds consistent, linked chains whole).
5. The ceiling: a bare ASGI app on the same server (granian, one worker, same cores) that reads
   each request's body and answers a prebuilt 201 JSON, driven by the same client with the same
   requests: what HTTP alone costs here. Casebook's rate is reported as a ratio of it.

Figures go to bench/results/trading-<date>.md and .json. Run it as `casebook bench trading
[--traders N --duration S …]` or `python -m bench.trading`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send
from tests.servers import Servers

from bench import record
from bench.asgi_ceiling import AsgiCeiling
from bench.casebook_server import CasebookServer
from casebook.engines.ledger.verify import verify
from casebook.engines.matching.models import MatchingTrade
from casebook.platform.db import Database
from casebook.systems.stock_exchange import staff

NAME = "trading"
REPO = Path(__file__).resolve().parents[1]
API = "/api/stock-exchange"
SYMBOL = "BENCH"
MID_CENTS = 10_000  # 100.00


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    traders: int
    duration: float
    warmup: float
    max_open: int
    cross: float
    client_processes: int
    server_cpus: str
    client_cpus: str
    server: str
    save: bool


@dataclass(frozen=True)
class Trader:
    token: str


# -- the ceiling ----------------------------------------------------------------------------------

_CREATED = {
    "type": "http.response.start",
    "status": 201,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")],
}
_CREATED_BODY = {"type": "http.response.body", "body": b'{"status":"ok"}\n'}


async def ceiling_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole request body, then answer a prebuilt 201 JSON; ignore lifespan events.
    GET / answers it too (the readiness probe)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(_CREATED)
    await send(_CREATED_BODY)


# -- set-up through the API -----------------------------------------------------------------------


def _register(client: httpx.Client) -> tuple[int, str]:
    """A user through the seed's /register and /login: (user id, access token)."""
    email = f"bench-{secrets.token_hex(6)}@example.com"
    password = secrets.token_urlsafe(12)
    made = client.post(f"{API}/register", json={"username": email, "password": password})
    made.raise_for_status()
    login = client.post(f"{API}/login", json={"username": email, "password": password})
    login.raise_for_status()
    return int(made.json()["user_id"]), str(login.json()["access_token"])


async def _grant_staff(database_url: str, user_id: int) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session:
            await staff.grant(session, user_id)
    finally:
        await db.dispose()


def set_up(base: str, database_url: str, options: Options) -> list[Trader]:
    """The officer, the listing and the verified, funded traders."""
    with httpx.Client(base_url=base, timeout=60) as client:
        officer_id, officer_token = _register(client)
        asyncio.run(_grant_staff(database_url, officer_id))
        officer = {"Authorization": f"Bearer {officer_token}"}
        listed = client.post(
            f"{API}/instruments",
            json={"symbol": SYMBOL, "company_name": "Bench Corp", "reference_price": "100.00"},
            headers=officer,
        )
        listed.raise_for_status()
        traders = []
        for index in range(options.traders):
            user_id, token = _register(client)
            headers = {"Authorization": f"Bearer {token}"}
            client.post(
                f"{API}/kyc",
                json={"legal_name": "Bench Trader", "country": "US", "document_number": "B-1234"},
                headers=headers,
            ).raise_for_status()
            client.post(
                f"{API}/compliance/kyc/{user_id}/decision",
                json={"verdict": "verified", "note": "bench"},
                headers=officer,
            ).raise_for_status()
            for asset, amount in (("USD", 100_000_000), (SYMBOL, 1_000_000)):
                client.post(
                    f"{API}/account/deposits",
                    json={"asset": asset, "amount": amount},
                    headers=headers,
                ).raise_for_status()
            traders.append(Trader(token))
            if (index + 1) % 16 == 0 or index + 1 == options.traders:
                progress(f"  {index + 1}/{options.traders} traders verified and funded")
    return traders


# -- the load -------------------------------------------------------------------------------------


def _price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def _trade(
    session: aiohttp.ClientSession,
    base: str,
    trader: Trader,
    rng: random.Random,
    options: Options,
    start: float,
    stop: float,
    stats: dict[str, Any],
) -> None:
    """One trader's closed loop (see the module docstring)."""
    headers = {"Authorization": f"Bearer {trader.token}"}
    resting: deque[str] = deque()
    orders_url = f"{base}{API}/orders"
    while True:
        now = time.perf_counter()
        if now >= stop:
            return
        measured = now >= start
        if len(resting) >= options.max_open:
            op = "cancel"
            order_id = resting.popleft()
            began = time.perf_counter()
            async with session.delete(f"{orders_url}/{order_id}", headers=headers) as answer:
                await answer.read()
                status = answer.status
            ok = status in (204, 409)  # 409: it traded away before the cancel arrived
        else:
            side = "buy" if rng.random() < 0.5 else "sell"
            crossing = rng.random() < options.cross
            if crossing:
                op = "place_ioc"
                cents = MID_CENTS + (30 if side == "buy" else -30)
                body = {"symbol": SYMBOL, "side": side, "quantity": rng.randint(1, 5)}
                body |= {"price": _price(cents), "time_in_force": "ioc"}
            else:
                op = "place_gtc"
                away = rng.randint(1, 20)
                cents = MID_CENTS - away if side == "buy" else MID_CENTS + away
                body = {"symbol": SYMBOL, "side": side, "quantity": rng.randint(1, 10)}
                body |= {"price": _price(cents), "time_in_force": "gtc"}
            began = time.perf_counter()
            async with session.post(orders_url, json=body, headers=headers) as answer:
                payload = await answer.json(content_type=None)
                status = answer.status
            ok = status == 201
            if ok and payload.get("status") in ("open", "partially_filled"):
                resting.append(payload["id"])
        elapsed = time.perf_counter() - began
        if measured and time.perf_counter() < stop:
            stats["ops"][op] += 1
            stats["latency"][op].append(elapsed)
            if not ok:
                stats["errors"][f"{op} {status}"] += 1


async def _drive_async(
    base: str, traders: Sequence[Trader], options: Options, seed: int
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "ops": Counter(),
        "errors": Counter(),
        "latency": {op: [] for op in ("place_gtc", "place_ioc", "cancel")},
    }
    connector = aiohttp.TCPConnector(limit=len(traders) + 1)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter() + options.warmup
        stop = start + options.duration
        rng = random.Random(seed)
        await asyncio.gather(
            *(
                _trade(session, base, t, random.Random(rng.random()), options, start, stop, stats)
                for t in traders
            )
        )
    return {
        "ops": dict(stats["ops"]),
        "errors": dict(stats["errors"]),
        "latency": stats["latency"],
    }


def _drive_process(base: str, traders: list[Trader], options: Options, seed: int, out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out.put(asyncio.run(_drive_async(base, traders, options, seed)))


def drive(base: str, traders: list[Trader], options: Options) -> dict[str, Any]:
    """Run the load processes and merge their counts and latencies."""
    context = mp.get_context("spawn")
    out = context.Queue()
    shares = [traders[i :: options.client_processes] for i in range(options.client_processes)]
    processes = []
    for index, share in enumerate(shares):
        process = context.Process(target=_drive_process, args=(base, share, options, index, out))
        process.start()
        if options.client_cpus and process.pid is not None:
            os.sched_setaffinity(process.pid, {int(c) for c in options.client_cpus.split(",")})
        processes.append(process)
    results = [out.get(timeout=options.warmup + options.duration + 120) for _ in processes]
    for process in processes:
        process.join()
    ops: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latency: dict[str, list[float]] = {}
    for result in results:
        ops.update(result["ops"])
        errors.update(result["errors"])
        for op, samples in result["latency"].items():
            latency.setdefault(op, []).extend(samples)
    return {"ops": ops, "errors": errors, "latency": latency}


def summarise(raw: dict[str, Any], duration: float) -> dict[str, Any]:
    """Rates per second and latency percentiles (ms) per operation and overall."""

    def pct(samples: list[float], p: float) -> float:
        return round(1000 * samples[min(len(samples) - 1, int(p * len(samples)))], 2)

    per_op: dict[str, Any] = {}
    everything: list[float] = []
    for op, samples in raw["latency"].items():
        samples.sort()
        everything.extend(samples)
        if samples:
            per_op[op] = {
                "per_s": round(len(samples) / duration),
                "p50_ms": pct(samples, 0.50),
                "p95_ms": pct(samples, 0.95),
                "p99_ms": pct(samples, 0.99),
                "mean_ms": round(1000 * statistics.fmean(samples), 2),
            }
    everything.sort()
    placed = raw["ops"].get("place_gtc", 0) + raw["ops"].get("place_ioc", 0)
    return {
        "ops_per_s": round(sum(raw["ops"].values()) / duration),
        "orders_per_s": round(placed / duration),
        "p50_ms": pct(everything, 0.50) if everything else None,
        "p99_ms": pct(everything, 0.99) if everything else None,
        "per_op": per_op,
        "errors": dict(raw["errors"]),
    }


async def _after(database_url: str) -> dict[str, Any]:
    """Trades on the venue and the ledger's verdict."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            trades = int(await session.scalar(select(func.count()).select_from(MatchingTrade)) or 0)
            report = await verify(session)
        return {"trades": trades, "ledger_ok": report.ok, "ledger_breaks": report.breaks[:5]}
    finally:
        await db.dispose()


# -- targets --------------------------------------------------------------------------------------


def run_ceiling(traders: list[Trader], options: Options) -> dict[str, Any]:
    progress(f"ceiling: bare ASGI 201 on {options.server}, 1 worker, CPU {options.server_cpus}")
    with AsgiCeiling(
        cpus=options.server_cpus,
        server=options.server,
        app="bench.trading:ceiling_app",
        ready_status=201,
    ) as server:
        raw = drive(server.url, traders, options)
    # Against the ceiling nothing rests, so the loop only places: its rate is a placement's.
    return summarise(raw, options.duration)


def run_casebook(backend: str, options: Options) -> tuple[dict[str, Any], list[Trader]]:
    progress(f"casebook ({backend}): stock-exchange, 1 worker, {options.server}")
    servers = Servers() if backend == "postgres" else None
    try:
        database_url = redis_url = ""
        if servers:
            progress("  starting a throwaway PostgreSQL (fsync on) and Redis")
            database_url, redis_url = servers.start_postgres(), servers.start_redis()
        with CasebookServer(
            ["stock-exchange"],
            # every trader logs in from this one address while setting up
            env={"CASEBOOK_LOGIN_ATTEMPTS_PER_MINUTE": "100000"},
            database_url=database_url,
            redis_url=redis_url,
            cpus=options.server_cpus,
            server=options.server,
        ) as server:
            database_url = database_url or f"sqlite+aiosqlite:///{server.var_dir / 'casebook.db'}"
            traders = set_up(server.url, database_url, options)
            progress(f"  load: {options.traders} traders for {options.duration:g} s")
            raw = drive(server.url, traders, options)
            result = summarise(raw, options.duration)
            after = asyncio.run(_after(database_url))
            result |= after
            progress(
                f"  {result['orders_per_s']:,} orders/s, {result['ops_per_s']:,} ops/s, p99"
                f" {result['p99_ms']} ms; {after['trades']:,} trades; ledger"
                f" {'verified' if after['ledger_ok'] else 'BROKEN'}"
            )
            return result, traders
    finally:
        if servers:
            servers.stop()


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def markdown(options: Options, results: dict[str, dict[str, Any]], load: float) -> str:
    machine = record.machine()
    ceiling = results.get("ceiling")
    lines = [
        f"# Trading end-to-end benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- machine: {machine['nproc']} cores, {machine['cpu']}, {machine['memory_gb']} GB RAM,"
        f" Linux {machine['kernel']}, Python {machine['python']}; load average at the start"
        f" {load:.2f}",
        f"- commit: {record.git_commit(REPO)}",
        f"- `casebook serve --only stock-exchange`, 1 worker on {options.server}, CPU"
        f" {options.server_cpus}; {options.client_processes} aiohttp load process(es) on CPU"
        f" {options.client_cpus}; {options.traders} traders (one connection each), closed loop,"
        f" {options.duration:g} s measured after {options.warmup:g} s",
        f"- each trader keeps ≤ {options.max_open} resting orders (cancels its oldest at the"
        f" limit); {options.cross:.0%} of placements are IOC orders priced through the book, the"
        " rest GTC orders 1 to 20 ticks from 100.00",
        "- every 201 comes after the writer's COMMIT of order row, hold, journal entry, matching,"
        " the fills' linked ledger transfers and candles",
        "",
        "| target | orders/s | ops/s | vs ceiling | p50 ms | p99 ms | place GTC p99 |"
        " place IOC p99 | cancel p99 | trades | ledger | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, result in results.items():
        ratio = (
            f"{result['ops_per_s'] / max(1, ceiling['ops_per_s']):.1%}"
            if ceiling and name != "ceiling"
            else "—"
        )
        per_op = result["per_op"]

        def p99(op: str, per_op: dict[str, Any] = per_op) -> str:
            return str(per_op[op]["p99_ms"]) if op in per_op else "—"

        ledger = (
            "—" if "ledger_ok" not in result else ("verified" if result["ledger_ok"] else "BROKEN")
        )
        errors = ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "0"
        lines.append(
            f"| {name} | {result['orders_per_s']:,} | {result['ops_per_s']:,} | {ratio} |"
            f" {result['p50_ms']} | {result['p99_ms']} | {p99('place_gtc')} | {p99('place_ioc')} |"
            f" {p99('cancel')} | {result.get('trades', '—')} | {ledger} | {errors} |"
        )
    lines += [
        "",
        "The ceiling is a bare ASGI app that reads the body and answers a prebuilt 201 to the"
        " same requests from the same client: what HTTP costs on this machine before any work."
        " Against it nothing rests, so its loop only places.",
    ]
    return "\n".join(lines) + "\n"


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="casebook bench trading", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--traders", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--max-open", type=int, default=4)
    parser.add_argument("--cross", type=float, default=0.3, help="share of IOC placements")
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--client-cpus", default="1")
    parser.add_argument("--server", default="granian", choices=("granian", "uvicorn"))
    parser.add_argument("--no-save", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    backends = tuple(b for b in args.backends.split(",") if b)
    if unknown := set(backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    return Options(
        backends=backends,
        traders=args.traders,
        duration=args.duration,
        warmup=args.warmup,
        max_open=args.max_open,
        cross=args.cross,
        client_processes=args.client_processes,
        server_cpus=args.server_cpus,
        client_cpus=args.client_cpus,
        server=args.server,
        save=not args.no_save,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    load = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    traders: list[Trader] = []
    for backend in options.backends:
        results[backend], traders = run_casebook(backend, options)
    if traders:
        results = {"ceiling": run_ceiling(traders, options), **results}
    text = markdown(options, results, load)
    print(text)
    if options.save:
        report = {"options": asdict(options), "load_average": load, "results": results}
        report["machine"] = record.machine()
        report["commit"] = record.git_commit(REPO)
        json_path, md_path = record.save(NAME, report, text)
        print(f"saved {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
