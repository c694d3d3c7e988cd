"""`casebook bench url-shortener`: the redirect hot path against nginx, side by side.

Measures, with wrk on this machine, in one run:

1. nginx answering every path with a static 302: the physical ceiling for a redirect here;
2. a bare ASGI callable answering a prebuilt 302, served exactly as `casebook serve --server …`
   serves Casebook (`bench/asgi_ceiling.py`), with 1 and 2 worker processes: the ceiling for
   any Python redirect on that server (granian, the default, and uvicorn);
3. Casebook's redirect fast path `GET /s/<code>`, with real lookups spread uniformly over N codes
   created beforehand through the public API (so it is not one hot key), served
   - embedded: SQLite + in-process cache, with 1 and 2 worker processes;
   - at scale: PostgreSQL + Redis (throwaway servers), with 1 and 2 worker processes;
   each on every server of `--servers` (default granian and uvicorn);
4. the same server's redirect listener (`casebook serve --redirect-port`, `edge.py`) with the
   same codes, beside a bare asyncio + httptools protocol answering a prebuilt 302 with 1 and 2
   processes (`bench/protocol_ceiling.py`), the ceiling of that design.

With `--pin`, each single-process target (nginx with one worker, the bare ASGI app and Casebook
with one worker) is measured a second time with the server pinned to core 0 and wrk to core 1
(`taskset`), so neither steals the other's core; PostgreSQL and Redis are not pinned.

Run it as `casebook bench url-shortener [--duration S …]` or, from the checkout's root,
`python -m bench.url_shortener`. Every target gets the same wrk script, threads and
connections, a warm-up, then a measured run.
Prints requests/s, p50 and p99 for each, the share of nginx's rate and of the bare ASGI app's
(same worker count and pinning), and the seed's 7,440 redirects per second for comparison; saves
the figures with the machine and commit to `bench/results/url-shortener-<date>.md` and `.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.servers import Servers

from bench import record
from bench.asgi_ceiling import AsgiCeiling
from bench.casebook_server import CasebookServer
from bench.nginx import NginxRedirect
from bench.process import free_port
from bench.protocol_ceiling import ProtocolCeiling
from bench.wrk import WrkMissing, WrkResult, paths_script, run_wrk, wrk_binary
from casebook.platform.capacity import Unit, format_quantity
from casebook.platform.loadgen import prepare
from casebook.systems.url_shortener.capacity import CAPACITY

SLUG = "url-shortener"
REPO = Path(__file__).resolve().parents[1]
SERVER_CPU = "0"
CLIENT_CPU = "1"
"""With `--pin`: the core of the measured server and the core of wrk."""


@dataclass(frozen=True)
class Options:
    duration_s: float
    warmup_s: float
    threads: int
    connections: int
    codes: int
    workers: tuple[int, ...]
    backends: tuple[str, ...]
    servers: tuple[str, ...]
    save: bool
    pin: bool


@dataclass(frozen=True)
class Run:
    """One measured target: its wrk figures, or why it could not be measured."""

    key: str
    label: str
    backend: str
    workers: int | None
    result: WrkResult | None
    failure: str = ""
    pinned: bool = False
    server: str = ""
    """granian or uvicorn for the bare ASGI app and Casebook; empty for nginx."""

    @property
    def rate(self) -> float | None:
        return self.result.requests_per_s if self.result else None

    def as_dict(self, runs: Sequence[Run]) -> dict[str, Any]:
        nginx, asgi = references(self, runs)
        rate = self.rate
        return {
            "key": self.key,
            "label": self.label,
            "backend": self.backend,
            "workers": self.workers,
            "pinned": self.pinned,
            "server": self.server,
            "wrk": self.result.as_dict() if self.result else None,
            "share_of_nginx": rate / nginx if rate and nginx else None,
            "share_of_bare_asgi": rate / asgi if rate and asgi else None,
            "failure": self.failure,
        }


def references(run: Run, runs: Sequence[Run]) -> tuple[float | None, float | None]:
    """The rates `run` is compared with: nginx's and the bare ASGI app's (same server and
    workers) under the same pinning. None when that reference was not measured."""
    nginx = next((r.rate for r in runs if r.backend == "nginx" and r.pinned == run.pinned), None)
    if run.key.endswith("-edge") or run.backend == "protocol":
        # The redirect listener is below ASGI: its ceiling is the bare protocol server.
        kind, server = "protocol", "protocol"
    else:
        kind, server = "asgi", run.server
    asgi = next(
        (
            r.rate
            for r in runs
            if r.backend == kind
            and r.pinned == run.pinned
            and r.workers == run.workers
            and r.server == server
        ),
        None,
    )
    return nginx, asgi


def parse(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="casebook bench url-shortener",
        description="Redirect throughput: nginx's static 302 vs Casebook's /s/<code>.",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--codes", type=int, default=1000, help="short codes to spread reads over")
    parser.add_argument("--workers", default="1,2", help="Casebook worker counts, e.g. 1,2")
    parser.add_argument(
        "--backends", default="embedded,postgres", help="embedded and/or postgres (with Redis)"
    )
    parser.add_argument(
        "--servers", default="granian,uvicorn", help="HTTP servers: granian and/or uvicorn"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help=f"also measure single-process targets pinned to core {SERVER_CPU}, wrk to core "
        f"{CLIENT_CPU}",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(list(argv))
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if set(backends) - {"embedded", "postgres"}:
        parser.error("--backends takes embedded and/or postgres")
    servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    if not servers or set(servers) - {"granian", "uvicorn"}:
        parser.error("--servers takes granian and/or uvicorn")
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be 1..600 s and --warmup 0..60 s")
    if args.codes < 1 or args.threads < 1 or args.connections < args.threads:
        parser.error("--codes and --threads must be ≥ 1 and --connections ≥ --threads")
    return Options(
        duration_s=args.duration,
        warmup_s=args.warmup,
        threads=args.threads,
        connections=args.connections,
        codes=args.codes,
        workers=tuple(int(w) for w in args.workers.split(",") if w.strip()),
        backends=backends,
        servers=servers,
        save=not args.no_save,
        pin=args.pin,
    )


def progress(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def measure(url: str, script: Path, options: Options, *, pinned: bool = False) -> WrkResult:
    """A warm-up run (discarded: caches fill, connections open), then the measured run."""
    cpus = CLIENT_CPU if pinned else None
    if options.warmup_s >= 1:
        run_wrk(
            url,
            script,
            duration_s=options.warmup_s,
            threads=options.threads,
            connections=options.connections,
            cpus=cpus,
        )
    return run_wrk(
        url,
        script,
        duration_s=options.duration_s,
        threads=options.threads,
        connections=options.connections,
        cpus=cpus,
    )


def pinning(options: Options) -> list[bool]:
    """Whether to measure single-process targets unpinned only, or unpinned and pinned."""
    return [False, True] if options.pin else [False]


def pin_suffix(pinned: bool) -> str:
    return f", pinned (server core {SERVER_CPU}, wrk core {CLIENT_CPU})" if pinned else ""


def nginx_runs(options: Options, script: Path) -> Iterator[Run]:
    """nginx with one worker per core, then (with --pin) one worker pinned beside wrk."""
    for pinned in pinning(options):
        key = "nginx-pinned" if pinned else "nginx"
        label = "nginx static 302" + (", 1 worker" + pin_suffix(True) if pinned else " (ceiling)")
        progress(f"{label}: wrk {options.warmup_s:g} s warm-up + {options.duration_s:g} s")
        try:
            with NginxRedirect(
                cpus=SERVER_CPU if pinned else None, workers=1 if pinned else None
            ) as nginx:
                result = measure(nginx.url, script, options, pinned=pinned)
        except (FileNotFoundError, RuntimeError) as exc:
            yield Run(key, label, "nginx", None, None, str(exc), pinned=pinned)
            continue
        progress(f"{label}: {result.requests_per_s:,.0f} requests/s")
        yield Run(key, label, "nginx", 1 if pinned else None, result, pinned=pinned)


def asgi_runs(options: Options, script: Path) -> Iterator[Run]:
    """The bare ASGI 302 on each server with each worker count (and pinned with one)."""
    targets = [(w, False) for w in options.workers]
    if options.pin and 1 in options.workers:
        targets.append((1, True))
    for server in options.servers:
        for workers, pinned in targets:
            key = f"asgi-{server}-{workers}w" + ("-pinned" if pinned else "")
            label = f"bare ASGI 302 ({server}), {workers} worker{'s' * (workers > 1)}"
            label += pin_suffix(pinned)
            progress(f"{label}: wrk {options.warmup_s:g} s warm-up + {options.duration_s:g} s")
            try:
                with AsgiCeiling(
                    workers=workers, cpus=SERVER_CPU if pinned else None, server=server
                ) as ceiling:
                    result = measure(ceiling.url, script, options, pinned=pinned)
            except RuntimeError as exc:
                failure = str(exc).splitlines()[0]
                yield Run(key, label, "asgi", workers, None, failure, pinned, server)
                continue
            progress(f"{label}: {result.requests_per_s:,.0f} requests/s")
            yield Run(key, label, "asgi", workers, result, pinned=pinned, server=server)


def protocol_runs(options: Options, script: Path) -> Iterator[Run]:
    """The bare asyncio + httptools 302 (the redirect listener's ceiling) with each worker
    count (and pinned with one)."""
    targets = [(w, False) for w in options.workers]
    if options.pin and 1 in options.workers:
        targets.append((1, True))
    for workers, pinned in targets:
        key = f"protocol-{workers}w" + ("-pinned" if pinned else "")
        label = f"bare asyncio protocol 302 (uvloop + httptools), {workers} process"
        label += "es" * (workers > 1) + pin_suffix(pinned)
        progress(f"{label}: wrk {options.warmup_s:g} s warm-up + {options.duration_s:g} s")
        try:
            with ProtocolCeiling(workers=workers, cpus=SERVER_CPU if pinned else None) as bare:
                result = measure(bare.url, script, options, pinned=pinned)
        except RuntimeError as exc:
            failure = str(exc).splitlines()[0]
            yield Run(key, label, "protocol", workers, None, failure, pinned, "protocol")
            continue
        progress(f"{label}: {result.requests_per_s:,.0f} requests/s")
        yield Run(key, label, "protocol", workers, result, pinned=pinned, server="protocol")


async def create_codes(base_url: str, count: int) -> list[str]:
    """`count` short codes created through the server's public API by the load mix's setup."""
    assert CAPACITY.load is not None, "the URL shortener's capacity model names no load mix"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        state = await prepare(CAPACITY.load, client, items=count, rate=0)
    codes: list[str] = list(state.codes)
    return codes


async def _create_database(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def backing_services(backend: str) -> Iterator[tuple[str, str] | None]:
    """PostgreSQL and Redis admin URLs for the postgres backend (started here), else None."""
    if backend == "embedded":
        yield None
        return
    servers = Servers()
    try:
        progress("starting throwaway PostgreSQL and Redis")
        yield servers.start_postgres(), servers.start_redis()
    finally:
        servers.stop()


def casebook_runs(options: Options, workdir: Path) -> Iterator[Run]:
    labels = {"embedded": "SQLite + memory cache", "postgres": "PostgreSQL + Redis"}
    for backend in options.backends:
        try:
            with backing_services(backend) as services:
                targets = [(w, False) for w in options.workers]
                if options.pin and 1 in options.workers:
                    targets.append((1, True))
                number = 0
                for server in options.servers:
                    for workers, pinned in targets:
                        number += 1
                        key = f"casebook-{backend}-{server}-{workers}w"
                        key += "-pinned" if pinned else ""
                        label = (
                            f"Casebook {labels[backend]} ({server}), {workers} "
                            f"worker{'s' * (workers > 1)}" + pin_suffix(pinned)
                        )
                        target = _Target(key, label, backend, server, workers, pinned, number)
                        yield from _casebook_runs(target, services, options, workdir)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            yield Run(
                f"casebook-{backend}",
                f"Casebook {labels[backend]}",
                backend,
                None,
                None,
                failure=f"could not start {backend} services: {exc}",
            )


@dataclass(frozen=True)
class _Target:
    key: str
    label: str
    backend: str
    server: str
    workers: int
    pinned: bool
    number: int
    """Distinguishes the target's database and Redis database from the others'."""


def _casebook_runs(
    target: _Target, services: tuple[str, str] | None, options: Options, workdir: Path
) -> Iterator[Run]:
    """One server, measured twice: `/s/<code>` on its main port (the ASGI fast path in front of
    FastAPI), then on its redirect listener's port (`--redirect-port`, `edge.py`)."""
    label, pinned = target.label, target.pinned
    edge_key, edge_label = target.key + "-edge", label.replace("Casebook ", "Casebook edge ", 1)
    database_url = redis_url = ""
    if services is not None:
        database_url = asyncio.run(_create_database(services[0], f"bench_{target.number}"))
        redis_url = f"{services[1]}/{target.number}"
    progress(f"{label}: starting casebook serve --server {target.server} --redirect-port …")
    edge_port = free_port()
    results: list[tuple[str, str, WrkResult]] = []
    try:
        with CasebookServer(
            [SLUG],
            workers=target.workers,
            database_url=database_url,
            redis_url=redis_url,
            cpus=SERVER_CPU if pinned else None,
            server=target.server,
            env={"CASEBOOK_URL_SHORTENER_REDIRECT_PORT": str(edge_port)},
        ) as server:
            progress(f"{label}: creating {options.codes:,} links through the API")
            try:
                codes = asyncio.run(create_codes(server.url, options.codes))
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise RuntimeError(f"{exc!r}\n{server.log_tail()}") from exc
            script = workdir / f"{target.key}.lua"
            script.write_text(paths_script([f"/s/{code}" for code in codes]))
            for key, name, url in (
                (target.key, label, server.url),
                (edge_key, edge_label, f"http://127.0.0.1:{edge_port}"),
            ):
                progress(f"{name}: wrk {options.warmup_s:g} s warm-up + {options.duration_s:g} s")
                result = measure(url, script, options, pinned=pinned)
                progress(f"{name}: {result.requests_per_s:,.0f} requests/s")
                results.append((key, name, result))
    except RuntimeError as exc:
        progress(f"{label}: FAILED: {exc}")
        failure = str(exc).splitlines()[0]
        yield Run(
            target.key, label, target.backend, target.workers, None, failure, pinned, target.server
        )
        return
    for key, name, result in results:
        yield Run(
            key,
            name,
            target.backend,
            target.workers,
            result,
            pinned=pinned,
            server=target.server,
        )


def table(runs: Sequence[Run]) -> list[str]:
    """Markdown table rows: one per run, rate, latency, shares of nginx, of the bare ASGI app and
    of the seed's rate."""
    seed = CAPACITY.seed["reads_per_second"].value
    lines = [
        "| target | requests/s | p50 | p99 | vs nginx | vs bare server | vs seed's 7,440/s "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        if run.result is None:
            lines.append(f"| {run.label} | failed: {run.failure} | | | | | | |")
            continue
        r = run.result
        nginx, asgi = references(run, runs)
        share = f"{r.requests_per_s / nginx:.1%}" if nginx else "—"
        asgi_share = f"{r.requests_per_s / asgi:.1%}" if asgi and run.backend != "nginx" else "—"
        errors = ", ".join(f"{k} {v:,}" for k, v in r.errors.items()) or "0"
        lines.append(
            f"| {run.label} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms "
            f"| {share} | {asgi_share} | {r.requests_per_s / seed:.1f}x | {errors} |"
        )
    return lines


def main(argv: Sequence[str]) -> int:
    """Run the benchmark; returns the exit status (0 all measured, 1 a run failed, 2 no wrk)."""
    options = parse(argv)
    try:
        wrk_binary()
    except WrkMissing as exc:
        print(exc)
        return 2
    machine = record.machine()
    commit = record.git_commit(REPO)
    progress(f"machine: {machine['nproc']} cores, {machine['cpu']}, {machine['memory_gb']} GB")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="casebook-bench-") as tmp:
        workdir = Path(tmp)
        # The same random paths are asked of nginx as of Casebook, so the client's work matches.
        script = workdir / "paths.lua"
        script.write_text(paths_script([f"/s/nginx{i}" for i in range(options.codes)]))
        runs.extend(nginx_runs(options, script))
        runs.extend(asgi_runs(options, script))
        runs.extend(protocol_runs(options, script))
        runs.extend(casebook_runs(options, workdir))

    stated = CAPACITY.seed["reads_per_second"].value
    when = datetime.now(UTC)
    heading = [
        f"# URL Shortener redirect benchmark — {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {machine['nproc']} cores, {machine['cpu']}, {machine['memory_gb']} GB RAM, "
        f"Linux {machine['kernel']}, Python {machine['python']}",
        f"- commit: {commit}",
        f"- wrk: {options.threads} threads, {options.connections} connections, "
        f"{options.warmup_s:g} s warm-up + {options.duration_s:g} s per target, "
        f"uniform over {options.codes:,} codes (`GET /s/<code>`; nginx: the same number of paths)",
        "- wrk and the servers share this machine's cores, as they would not in production"
        + (
            f"; rows marked pinned run the server on core {SERVER_CPU} and wrk on core "
            f"{CLIENT_CPU} (PostgreSQL and Redis unpinned)."
            if options.pin
            else "."
        ),
        "- bare ASGI 302: a Python callable answering a prebuilt 302 on the named server with "
        "the settings of `casebook serve --server …`: the ceiling of a Python redirect on that "
        "server. Casebook rows are compared with the bare app on the same server.",
        "- bare asyncio protocol 302: the same prebuilt 302 from an asyncio.Protocol over "
        "httptools on uvloop, SO_REUSEPORT per process (`bench/protocol_ceiling.py`): the ceiling "
        "of the redirect listener. `Casebook edge` rows are `casebook serve --redirect-port`'s "
        "listener (`url_shortener/edge.py`) in the same server as the row above it, compared "
        "with that ceiling.",
        f"- seed: {stated:,.0f} redirects/s stated (corrected "
        f"{format_quantity(CAPACITY.reads_per_second, Unit.RATE)}), peak "
        f"{format_quantity(CAPACITY.reads_per_second * CAPACITY.peak_factor, Unit.RATE)} at "
        f"{CAPACITY.peak_factor:g}x",
        "",
    ]
    markdown = "\n".join([*heading, *table(runs), ""])
    print()
    print(markdown)
    if options.save:
        report = {
            "benchmark": SLUG,
            "date": when.isoformat(timespec="seconds"),
            "machine": machine,
            "commit": commit,
            "options": {
                "duration_s": options.duration_s,
                "warmup_s": options.warmup_s,
                "threads": options.threads,
                "connections": options.connections,
                "codes": options.codes,
                "pin": options.pin,
                "servers": list(options.servers),
            },
            "seed": {
                "reads_per_second_stated": stated,
                "reads_per_second": CAPACITY.reads_per_second,
                "peak_reads_per_second": CAPACITY.reads_per_second * CAPACITY.peak_factor,
            },
            "runs": [run.as_dict(runs) for run in runs],
        }
        json_path, md_path = record.save(SLUG, report, markdown)
        progress(f"saved {md_path.relative_to(REPO)} and {json_path.relative_to(REPO)}")
    return 0 if all(run.result is not None for run in runs) else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
