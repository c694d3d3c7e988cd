"""`casebook bench ledger`: durable ledger transfers per second, against naive SQL in the same run.

For each backend (SQLite in WAL mode, and a throwaway PostgreSQL with fsync and synchronous_commit
on, both as the product runs them) it opens `--accounts` funded wallets and measures, on the same
random pairs of accounts:

- naive SQL: the textbook transfer, one transaction per transfer — conditional
  `UPDATE balance = balance - a WHERE balance >= a`, `UPDATE balance + a`, `INSERT` the transfer,
  COMMIT (rows updated in id order so concurrent transfers cannot deadlock);
- ledger, single: `Ledger.create_transfers([t])`, one transfer per transaction;
- ledger, batched: `Ledger.create_transfers(batch)`, for each size of `--batches` (default 1,000
  and TigerBeetle's 8,190) transfers per transaction, 2 workers.

Each runs `--concurrency` concurrent workers (each with its own connection) until `--transfers`
transfers are done. A transfer's latency is from the start of its transaction to its COMMIT
returning (for a batch, every transfer of the batch gets the batch's latency). At the end
`verify` recomputes every ledger balance. Figures go to bench/results/ledger-<date>.md and .json.

Run it as `casebook bench ledger [--backends sqlite,postgres] [--transfers N …]` or
`python -m bench.ledger` from the checkout's root.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from tests.servers import Servers

from bench import record
from bench.url_shortener import progress
from casebook.engines.ledger import MAX_BATCH, Ledger, Outcome, Transfer
from casebook.engines.ledger.ledger import ACCOUNTS, TRANSFERS
from casebook.engines.ledger.verify import verify
from casebook.platform.db import Base, Database, utcnow
from casebook.platform.ids import new_id

NAME = "ledger"
REPO = Path(__file__).resolve().parents[1]
ALIPAY_SEED_RATE = 11_574
"""Alipay's seed: 1 billion transactions a day = 11,574/s on average."""
FUNDING = 10**9


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    transfers: int
    accounts: int
    batches: tuple[int, ...]
    concurrency: int
    save: bool


@dataclass
class Result:
    backend: str
    workload: str
    transfers: int
    seconds: float
    latencies_ms: list[float]
    refused: int

    @property
    def rate(self) -> float:
        return self.transfers / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "workload": self.workload,
            "transfers": self.transfers,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.rate),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "refused": self.refused,
        }


def parse(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="casebook bench ledger", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite and/or postgres")
    parser.add_argument("--transfers", type=int, default=20_000, help="transfers per workload")
    parser.add_argument("--accounts", type=int, default=10_000, help="funded wallets")
    parser.add_argument(
        "--batches", default="1000,8190", help="transfers per batched transaction, comma-separated"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent workers (connections)"
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if set(backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    try:
        batches = tuple(int(b) for b in args.batches.split(",") if b.strip())
    except ValueError:
        parser.error("--batches takes whole numbers, e.g. 1000,8190")
    if not batches or max(batches) > MAX_BATCH:
        parser.error(f"--batches takes 1 to {MAX_BATCH:,} transfers per batch")
    if min(args.transfers, args.accounts, *batches, args.concurrency) < 1 or args.accounts < 2:
        parser.error(
            "--transfers, --batches and --concurrency must be positive; --accounts at least 2"
        )
    return Options(
        backends, args.transfers, args.accounts, batches, args.concurrency, not args.no_save
    )


async def prepare(db: Database, accounts: int) -> list[int]:
    """Create the tables, `accounts` ledger wallets and naive accounts, all funded alike."""
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=[ACCOUNTS, TRANSFERS])
        if db.engine.dialect.name == "postgresql":
            await conn.execute(text("CREATE SEQUENCE IF NOT EXISTS ledger_transfer_seq"))
        await conn.execute(
            text(
                "CREATE TABLE naive_accounts"
                " (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0))"
            )
        )
        await conn.execute(
            text(
                "CREATE TABLE naive_transfers (id BIGINT PRIMARY KEY, debit_id BIGINT NOT NULL,"
                " credit_id BIGINT NOT NULL, amount BIGINT NOT NULL, created_at TIMESTAMP NOT NULL)"
            )
        )
    ids = [new_id() for _ in range(accounts)]
    mint = new_id()
    now = utcnow()
    base = {"currency": "USD", "debits_pending": 0, "credits_pending": 0, "created_at": now}
    rows = [
        {**base, "id": mint, "owner": "bench", "name": "mint", "kind": "equity",
         "credit_normal": True, "allow_negative": True, "debits_posted": 0, "credits_posted": 0},
        *(
            {**base, "id": i, "owner": f"bench:{i}", "name": "wallet", "kind": "liability",
             "credit_normal": True, "allow_negative": False, "debits_posted": 0,
             "credits_posted": 0}
            for i in ids
        ),
    ]  # fmt: skip
    async with db.session(write=True) as session:
        await session.execute(insert(ACCOUNTS), rows)
        await session.execute(
            text("INSERT INTO naive_accounts (id, balance) VALUES (:id, :balance)"),
            [{"id": i, "balance": FUNDING} for i in ids],
        )
    for start in range(0, len(ids), 5_000):
        async with db.session(write=True) as session:
            outcomes = await Ledger(session).create_transfers(
                [Transfer(new_id(), mint, i, FUNDING) for i in ids[start : start + 5_000]]
            )
            assert all(o is Outcome.OK for o in outcomes)
    return ids


def pairs(ids: list[int], count: int, seed: int) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    plan = []
    for _ in range(count):
        debit, credit = rng.sample(ids, 2)
        plan.append((debit, credit, rng.randint(1, 10_000)))
    return plan


async def run_workers(
    count: int,
    concurrency: int,
    unit: int,
    work: Callable[[int, int], Awaitable[tuple[float, int]]],
) -> tuple[float, list[float], int]:
    """Run `work(start, size)` over [0, count) in units of `unit`, `concurrency` at a time."""
    cursor = 0
    latencies: list[float] = []
    refused = 0

    async def worker() -> None:
        nonlocal cursor, refused
        while cursor < count:
            start = cursor
            size = min(unit, count - start)
            cursor += size
            latency, failed = await work(start, size)
            latencies.extend([latency] * size)
            refused += failed

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies, refused


async def naive(
    db: Database, plan: list[tuple[int, int, int]], concurrency: int
) -> tuple[float, list[float], int]:
    async def work(start: int, size: int) -> tuple[float, int]:
        debit, credit, amount = plan[start]
        began = time.perf_counter()
        async with db.session(write=True) as session:
            first, second = sorted((debit, credit))
            refused = 0
            for account in (first, second):
                if account == debit:
                    moved = await session.execute(
                        text(
                            "UPDATE naive_accounts SET balance = balance - :a"
                            " WHERE id = :id AND balance >= :a"
                        ),
                        {"a": amount, "id": debit},
                    )
                    if moved.rowcount != 1:  # type: ignore[attr-defined]
                        refused = 1
                        await session.rollback()
                        break
                else:
                    await session.execute(
                        text("UPDATE naive_accounts SET balance = balance + :a WHERE id = :id"),
                        {"a": amount, "id": credit},
                    )
            if not refused:
                await session.execute(
                    text(
                        "INSERT INTO naive_transfers (id, debit_id, credit_id, amount, created_at)"
                        " VALUES (:id, :d, :c, :a, CURRENT_TIMESTAMP)"
                    ),
                    {"id": new_id(), "d": debit, "c": credit, "a": amount},
                )
        return (time.perf_counter() - began) * 1000, refused

    return await run_workers(len(plan), concurrency, 1, work)


async def ledger(
    db: Database, plan: list[tuple[int, int, int]], concurrency: int, batch: int
) -> tuple[float, list[float], int]:
    async def work(start: int, size: int) -> tuple[float, int]:
        transfers = [Transfer(new_id(), d, c, a) for d, c, a in plan[start : start + size]]
        began = time.perf_counter()
        async with db.session(write=True) as session:
            outcomes = await Ledger(session).create_transfers(transfers)
        return (time.perf_counter() - began) * 1000, sum(o is not Outcome.OK for o in outcomes)

    return await run_workers(len(plan), concurrency, batch, work)


async def measure_backend(backend: str, url: str, options: Options) -> list[Result]:
    db = Database(url, pool_size=max(options.concurrency, 2))
    try:
        progress(f"{backend}: opening {options.accounts:,} funded accounts")
        ids = await prepare(db, options.accounts)
        results = []
        workloads: list[
            tuple[
                str,
                Callable[[list[tuple[int, int, int]]], Awaitable[tuple[float, list[float], int]]],
            ]
        ] = [
            ("naive SQL, 1 transfer per transaction", lambda p: naive(db, p, options.concurrency)),
            ("ledger, 1 transfer per transaction", lambda p: ledger(db, p, options.concurrency, 1)),
            *(
                (
                    f"ledger, batches of {size:,}",
                    lambda p, size=size: ledger(db, p, min(options.concurrency, 2), size),
                )
                for size in options.batches
            ),
        ]
        sizes = [1, 1, *options.batches]
        for n, ((label, run), size) in enumerate(zip(workloads, sizes, strict=True)):
            # At least 8 batches of each size, so one slow commit cannot decide the figure.
            count = max(options.transfers, 8 * size)
            progress(f"{backend}: {label} x {count:,}")
            seconds, latencies, refused = await run(pairs(ids, count, seed=n))
            result = Result(backend, label, count, seconds, latencies, refused)
            progress(
                f"  {result.rate:,.0f} transfers/s, p50 {result.percentile(0.5):.2f} ms,"
                f" p99 {result.percentile(0.99):.2f} ms"
            )
            results.append(result)
        progress(f"{backend}: verifying the books")
        async with db.session() as session:
            report = await verify(session)
        if not report.ok:
            raise RuntimeError(f"the ledger does not balance: {report.breaks[:5]}")
        progress(f"  ok: {report.accounts:,} accounts, {report.transfers:,} transfers balance")
        return results
    finally:
        await db.dispose()


async def run(options: Options) -> list[Result]:
    results: list[Result] = []
    for backend in options.backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="casebook-bench-ledger-") as tmp:
                results += await measure_backend(
                    backend, f"sqlite+aiosqlite:///{tmp}/ledger.db", options
                )
        else:
            servers = Servers()
            try:
                progress("starting a throwaway PostgreSQL (fsync on)")
                url = servers.start_postgres()
                results += await measure_backend(backend, url, options)
            finally:
                servers.stop()
    return results


def markdown(options: Options, results: list[Result], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        f"# Ledger benchmark — {meta['date']}",
        "",
        f"- machine: {m['nproc']} cores, {m['cpu']}, {m['memory_gb']} GB RAM,"
        f" Linux {m['kernel']}, Python {m['python']}",
        f"- commit: {meta['commit']}",
        f"- {options.transfers:,} transfers per workload (at least 8 batches) between random"
        f" pairs of {options.accounts:,} funded accounts; {options.concurrency} concurrent workers"
        " (2 for batches), each with its own connection",
        "- SQLite: WAL, synchronous=NORMAL (durable across a process crash; FULL would also"
        " survive power loss). PostgreSQL 15: fsync=on, synchronous_commit=on, same machine.",
        "- target: 20,000 durable transfers/s batched on PostgreSQL; Alipay's seed needs"
        f" {ALIPAY_SEED_RATE:,}/s",
        "",
        "| backend | workload | transfers/s | vs naive SQL | p50 | p99 | refused |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        base = next(x for x in results if x.backend == r.backend and x.workload.startswith("naive"))
        lines.append(
            f"| {r.backend} | {r.workload} | {r.rate:,.0f} | {r.rate / base.rate:.1f}x |"
            f" {r.percentile(0.5):.2f} ms | {r.percentile(0.99):.2f} ms | {r.refused} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    options = parse(sys.argv[1:] if argv is None else argv)
    results = asyncio.run(run(options))
    meta = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": record.machine(),
        "commit": record.git_commit(REPO),
    }
    text_md = markdown(options, results, meta)
    print(text_md)
    if options.save:
        json_path, md_path = record.save(
            NAME, {**meta, "options": vars(options), "results": [r.row() for r in results]}, text_md
        )
        print(f"saved {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
