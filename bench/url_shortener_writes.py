"""`casebook bench url-shortener-writes`: how many links one node creates per second.

wrk drives `POST /api/url-shortener/links` closed-loop (each connection sends its next request as
soon as the last answer arrives) against `casebook serve`, embedded (SQLite) and on PostgreSQL +
Redis, with 1 and 2 worker processes. Every request is a real shorten through the public API:
JSON `{"url": …}` with a distinct 90-byte URL (the seed's average), `Authorization: Bearer
<API key>` and an `X-Forwarded-For` address, so it passes every check a user's shorten passes —
the API key lookup, both rate limits (per IP and per key: raised far out of the way, so they are
counted but never refuse), the URL rules, a counter value and the group commit. Any answer but
201 counts as an error.

Run it as `casebook bench url-shortener-writes [--duration S …]` or, from the checkout's root,
`python -m bench.url_shortener_writes`. Prints creates/s, p50 and p99 per target against the
seed's 926 writes/s; saves the figures with the machine and commit to
`bench/results/url-shortener-writes-<date>.md` and `.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import record
from bench.casebook_server import CasebookServer
from bench.url_shortener import _create_database, backing_services, progress
from bench.wrk import WrkMissing, WrkResult, run_wrk, with_result_hook, wrk_binary
from casebook.platform.loadgen import prepare
from casebook.systems.url_shortener.capacity import API, CAPACITY, URL_BYTES

NAME = "url-shortener-writes"
REPO = Path(__file__).resolve().parents[1]
UNLIMITED = str(10**9)
"""Shorten limits per minute on the measured server: counted on every request, never reached."""


@dataclass(frozen=True)
class Options:
    duration_s: float
    warmup_s: float
    threads: int
    connections: int
    workers: tuple[int, ...]
    backends: tuple[str, ...]
    save: bool


@dataclass(frozen=True)
class Run:
    label: str
    backend: str
    workers: int
    result: WrkResult | None
    failure: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "backend": self.backend,
            "workers": self.workers,
            "wrk": self.result.as_dict() if self.result else None,
            "failure": self.failure,
        }


def parse(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="casebook bench url-shortener-writes",
        description="Shorten throughput: POST /api/url-shortener/links with an API key.",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", default="1,2", help="Casebook worker counts, e.g. 1,2")
    parser.add_argument(
        "--backends", default="embedded,postgres", help="embedded and/or postgres (with Redis)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(list(argv))
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if set(backends) - {"embedded", "postgres"}:
        parser.error("--backends takes embedded and/or postgres")
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be 1..600 s and --warmup 0..60 s")
    if args.threads < 1 or args.connections < args.threads:
        parser.error("--threads must be ≥ 1 and --connections ≥ --threads")
    return Options(
        duration_s=args.duration,
        warmup_s=args.warmup,
        threads=args.threads,
        connections=args.connections,
        workers=tuple(int(w) for w in args.workers.split(",") if w.strip()),
        backends=backends,
        save=not args.no_save,
    )


def shorten_script(headers: dict[str, str]) -> str:
    """A wrk Lua script: each request creates a link to a distinct `URL_BYTES`-long URL."""
    listed = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    return with_result_hook(
        f'local headers = {{{listed}, ["Content-Type"] = "application/json"}}\n'
        f"local path = {json.dumps(API + '/links')}\n"
        f"local url_bytes = {URL_BYTES}\n"
        """local threads = 0
local sent = 0
local prefix = ""

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  prefix = string.format("https://example.com/load/t%d-", thread_number or 0)
end

function request()
  sent = sent + 1
  local url = prefix .. sent .. "-"
  url = url .. string.rep("x", url_bytes - #url)
  return wrk.format("POST", path, headers, '{"url": "' .. url .. '"}')
end
"""
    )


async def api_client_headers(base_url: str) -> dict[str, str]:
    """A registered user's API key and a client address, set up by the load mix's setup."""
    assert CAPACITY.load is not None, "the URL shortener's capacity model names no load mix"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        state = await prepare(CAPACITY.load, client, items=1, rate=0)
    return dict(state.clients[0].headers)


def measure(url: str, script: Path, options: Options) -> WrkResult:
    if options.warmup_s >= 1:
        run_wrk(
            url,
            script,
            duration_s=options.warmup_s,
            threads=options.threads,
            connections=options.connections,
        )
    return run_wrk(
        url,
        script,
        duration_s=options.duration_s,
        threads=options.threads,
        connections=options.connections,
    )


def runs(options: Options, workdir: Path) -> Iterator[Run]:
    labels = {"embedded": "SQLite", "postgres": "PostgreSQL + Redis"}
    for backend in options.backends:
        try:
            with backing_services(backend) as services:
                for number, workers in enumerate(options.workers, start=1):
                    label = f"Casebook {labels[backend]}, {workers} worker{'s' * (workers > 1)}"
                    yield _run(label, backend, workers, number, services, options, workdir)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            failure = f"could not start {backend} services: {exc}"
            yield Run(f"Casebook {labels[backend]}", backend, 0, None, failure)


def _run(
    label: str,
    backend: str,
    workers: int,
    number: int,
    services: tuple[str, str] | None,
    options: Options,
    workdir: Path,
) -> Run:
    database_url = redis_url = ""
    if services is not None:
        database_url = asyncio.run(_create_database(services[0], f"bench_writes_{number}"))
        redis_url = f"{services[1]}/{number}"
    limits = {
        "CASEBOOK_URL_SHORTENER_SHORTEN_PER_MINUTE_IP": UNLIMITED,
        "CASEBOOK_URL_SHORTENER_SHORTEN_PER_MINUTE_API_KEY": UNLIMITED,
    }
    progress(f"{label}: starting casebook serve")
    try:
        with CasebookServer(
            ["url-shortener"],
            workers=workers,
            database_url=database_url,
            redis_url=redis_url,
            env=limits,
        ) as server:
            try:
                headers = asyncio.run(api_client_headers(server.url))
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise RuntimeError(f"{exc!r}\n{server.log_tail()}") from exc
            script = workdir / f"{backend}-{workers}w.lua"
            script.write_text(shorten_script(headers))
            progress(f"{label}: wrk {options.warmup_s:g} s warm-up + {options.duration_s:g} s")
            result = measure(server.url, script, options)
    except RuntimeError as exc:
        progress(f"{label}: FAILED: {exc}")
        return Run(label, backend, workers, None, str(exc).splitlines()[0])
    progress(f"{label}: {result.requests_per_s:,.0f} requests/s")
    return Run(label, backend, workers, result)


def table(measured: Sequence[Run]) -> list[str]:
    seed = CAPACITY.writes_per_second
    lines = [
        f"| target | creates/s | p50 | p99 | vs seed's {seed:,.0f}/s | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in measured:
        if run.result is None:
            lines.append(f"| {run.label} | failed: {run.failure} | | | | |")
            continue
        r = run.result
        created = (r.requests - r.error_count) / r.duration_s
        errors = ", ".join(f"{k} {v:,}" for k, v in r.errors.items()) or "0"
        lines.append(
            f"| {run.label} | {created:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms "
            f"| {created / seed:.2f}x | {errors} |"
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
    with tempfile.TemporaryDirectory(prefix="casebook-bench-") as tmp:
        measured = list(runs(options, Path(tmp)))
    when = datetime.now(UTC)
    heading = [
        f"# URL Shortener shorten benchmark — {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {machine['nproc']} cores, {machine['cpu']}, {machine['memory_gb']} GB RAM, "
        f"Linux {machine['kernel']}, Python {machine['python']}",
        f"- commit: {commit}",
        f"- wrk: {options.threads} threads, {options.connections} connections (closed loop), "
        f"{options.warmup_s:g} s warm-up + {options.duration_s:g} s per target; "
        f"`POST {API}/links` with one API key and one client address, a distinct "
        f"{URL_BYTES}-byte URL each; shorten limits raised to {int(UNLIMITED):,}/min (checked, "
        "never reached); any answer but 201 is an error",
        "- wrk, the servers, PostgreSQL and Redis share this machine's cores.",
        f"- seed: {CAPACITY.writes_per_second:,.0f} writes/s (80 M a day)",
        "",
    ]
    markdown = "\n".join([*heading, *table(measured), ""])
    print()
    print(markdown)
    if options.save:
        report = {
            "benchmark": NAME,
            "date": when.isoformat(timespec="seconds"),
            "machine": machine,
            "commit": commit,
            "options": {
                "duration_s": options.duration_s,
                "warmup_s": options.warmup_s,
                "threads": options.threads,
                "connections": options.connections,
            },
            "seed": {"writes_per_second": CAPACITY.writes_per_second},
            "runs": [run.as_dict() for run in measured],
        }
        json_path, md_path = record.save(NAME, report, markdown)
        progress(f"saved {md_path.relative_to(REPO)} and {json_path.relative_to(REPO)}")
    return 0 if all(run.result is not None for run in measured) else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
