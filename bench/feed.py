"""`casebook bench feed`: fan-out throughput and home-feed reads of the feed engine.

For each backend (SQLite + the table timeline store, as `casebook serve` runs by default; and a
throwaway PostgreSQL + Redis sorted sets, as a cluster runs) it builds a social graph of `--users`
users who each follow `--follows` others chosen with Zipf-like popularity (weight 1/rank^1.1),
so a few users have a large share of all followers; those with more than
`--celebrity-threshold` followers are "celebrities" (pulled at read time). Then:

- fan-out: `--posts` posts by authors drawn by the same popularity, written in bulk, each fanned
  out by the engine's own job function (`fanout.fan_out`) with `--concurrency` workers: posts
  fanned out per second and timeline inserts per second;
- reads: `--reads` first pages (20 posts) of home feeds of random users through
  `timeline.home_page` + hydration (the HTTP endpoint's work without HTTP), with
  `--concurrency` workers: reads per second and p50/p99 latency;
- the same reads twice more through the read cache (`readcache.home_views`, what `GET /feed`
  serves): first with a cold cache (most readers read once, so their graph facts are read
  then), then warm. All read workloads run in the same process one after the other, so the
  before/after figures are measured under the same load;
- the warm reads once more while new posts arrive: a writer in the same process publishes
  `--post-rate` posts a second (authors by popularity) and fans each out as the job does, so
  pages the posts reach are recomputed; the notes give the share of pages served whole from
  memory (embedded mode keeps pages; cluster mode does not).

The seed's target (Facebook Newsfeed, seed 000) is 8,100 feed reads/s with p99 < 50 ms on one
node; the issue's full scale (100,000 users, 1,000,000 posts) is `--users 100000 --posts
1000000` and takes long on a shared 2-core machine. Figures go to bench/results/feed-<date>.md
and .json. Run it as `casebook bench feed [--backends sqlite,postgres] [--users N …]` or
`python -m bench.feed` from the checkout's root.
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

from sqlalchemy import func, insert, select
from tests.servers import Servers

from bench import record
from bench.url_shortener import progress
from casebook.engines.feed import fanout, posts, readcache, runtime, timeline
from casebook.engines.feed.models import FeedFollow, FeedPost, FeedProfile
from casebook.platform import sqlite_plans
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.db import Base, utcnow
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings
from casebook.systems import import_models

NAME = "feed"
SYSTEM = "facebook-newsfeed"
REPO = Path(__file__).resolve().parents[1]
SEED_READS_PER_SECOND = 8_100
PAGE = 20
INSERT_BATCH = 2_000
MIXED_SECONDS = 15


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    users: int
    follows: int
    posts: int
    reads: int
    concurrency: int
    celebrity_threshold: int
    post_rate: float
    save: bool


@dataclass
class Result:
    backend: str
    workload: str
    operations: int
    seconds: float
    latencies_ms: list[float]
    extra: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.operations / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def row(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "workload": self.workload,
            "operations": self.operations,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.rate, 1),
            "p50_ms": round(self.percentile(0.5), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            **self.extra,
        }


def parse(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="casebook bench feed", description=__doc__)
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgres")
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--follows", type=int, default=50, help="followees per user")
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--celebrity-threshold",
        type=int,
        default=1_000,
        help="users with more followers than this are pulled at read time, not pushed",
    )
    parser.add_argument(
        "--post-rate",
        type=float,
        default=50.0,
        help="posts a second published and fanned out during the last (mixed) read pass",
    )
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    backends = tuple(b for b in args.backends.split(",") if b)
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown or args.users < 10 or args.follows < 1 or args.follows >= args.users:
        parser.error("backends are sqlite,postgres; users >= 10; 1 <= follows < users")
    if args.post_rate <= 0:
        parser.error("--post-rate must be above 0")
    return Options(
        backends,
        args.users,
        args.follows,
        args.posts,
        args.reads,
        args.concurrency,
        args.celebrity_threshold,
        args.post_rate,
        not args.no_save,
    )


def popularity(users: int, seed: int = 7) -> list[float]:
    """Zipf-like weights (1/rank^1.1) over a shuffled user order."""
    ranks = list(range(1, users + 1))
    random.Random(seed).shuffle(ranks)
    return [1.0 / r**1.1 for r in ranks]


async def build_graph(platform: Platform, options: Options) -> tuple[list[int], list[float]]:
    """Users, profiles with exact follower counts, and follow edges, written in bulk."""
    rng = random.Random(11)
    weights = popularity(options.users)
    ids = [new_id() for _ in range(options.users)]
    followers = [0] * options.users
    edges: list[dict[str, Any]] = []
    for i, user_id in enumerate(ids):
        chosen: set[int] = set()
        while len(chosen) < options.follows:
            for j in rng.choices(range(options.users), weights=weights, k=options.follows):
                if j != i and len(chosen) < options.follows:
                    chosen.add(j)
        for j in chosen:
            followers[j] += 1
            edges.append(
                {
                    "system": SYSTEM,
                    "follower_id": user_id,
                    "followee_id": ids[j],
                    "followee_kind": "user",
                    "status": "active",
                    "created_at": utcnow(),
                }
            )
    now = utcnow()
    users = [
        {
            "id": user_id,
            "email": f"bench-{user_id}@example.com",
            "display_name": f"bench {i}",
            "password_hash": "bench: no login",
            "created_at": now,
        }
        for i, user_id in enumerate(ids)
    ]
    profiles = [
        {
            "system": SYSTEM,
            "user_id": user_id,
            "handle": f"bench_{i}",
            "display_name": f"bench {i}",
            "private": False,
            "follower_count": followers[i],
            "created_at": now,
        }
        for i, user_id in enumerate(ids)
    ]
    for table, rows in ((User, users), (FeedProfile, profiles), (FeedFollow, edges)):
        for start in range(0, len(rows), INSERT_BATCH):
            async with platform.db.session() as session:
                await session.execute(insert(table), rows[start : start + INSERT_BATCH])
    return ids, weights


async def write_posts(
    platform: Platform, ids: list[int], weights: list[float], count: int
) -> list[int]:
    rng = random.Random(13)
    authors = rng.choices(ids, weights=weights, k=count)
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "system": SYSTEM,
            "author_id": author,
            "source_id": author,
            "body": f"bench post {n}",
            "audience": "public",
            "created_at": now,
        }
        for n, author in enumerate(authors)
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        async with platform.db.session() as session:
            await session.execute(insert(FeedPost), rows[start : start + INSERT_BATCH])
    return [post_id for row in rows if isinstance(post_id := row["id"], int)]


async def run_workers(
    items: Sequence[Any], concurrency: int, work: Callable[[Any], Awaitable[int]]
) -> tuple[float, list[float], int]:
    """Run `work(item)` over `items` with `concurrency` workers: (seconds, latencies ms, sum)."""
    queue = list(reversed(items))
    latencies: list[float] = []
    total = 0

    async def worker() -> None:
        nonlocal total
        while queue:
            item = queue.pop()
            began = time.perf_counter()
            # Not `total += await work(item)`: that reads `total` before awaiting, so
            # concurrent workers would overwrite each other's additions.
            done = await work(item)
            total += done
            latencies.append((time.perf_counter() - began) * 1000)
            # A read served from memory never suspends: yield, as a server does between
            # requests, so other tasks (the mixed pass's writer) get the loop.
            await asyncio.sleep(0)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies, total


async def measure_backend(backend: str, settings: Settings, options: Options) -> list[Result]:
    platform = Platform.start(settings)
    try:
        async with platform.db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            if platform.db.is_sqlite:  # the planner statistics `casebook migrate` writes
                await conn.run_sync(sqlite_plans.write_statistics)
        await platform.db.engine.dispose()  # connections opened from now on read them
        threshold = options.celebrity_threshold
        feed = await runtime.start(
            platform, SYSTEM, runtime.FeedConfig(celebrity_threshold=threshold)
        )
        progress(f"{backend}: {options.users:,} users following {options.follows} each")
        ids, weights = await build_graph(platform, options)
        async with platform.db.session() as session:
            celebrities = await session.scalar(
                select(func.count()).where(FeedProfile.follower_count > threshold)
            )
        progress(f"  {celebrities} celebrities (more than {threshold:,} followers)")
        post_ids = await write_posts(platform, ids, weights, options.posts)
        progress(f"{backend}: fanning out {len(post_ids):,} posts")
        seconds, latencies, inserted = await run_workers(
            post_ids, options.concurrency, lambda p: fanout.fan_out(feed, p, announce=False)
        )
        fan = Result(
            backend,
            "fan-out (posts)",
            len(post_ids),
            seconds,
            latencies,
            {
                "timeline_inserts": inserted,
                "timeline_inserts_per_second": round(inserted / seconds, 1),
                "celebrities": celebrities,
            },
        )
        progress(
            f"  {fan.rate:,.0f} posts/s, {inserted / seconds:,.0f} timeline inserts/s,"
            f" p99 {fan.percentile(0.99):.1f} ms per post"
        )
        readers = random.Random(17).choices(ids, k=options.reads)

        async def read(viewer: int) -> int:
            async with platform.db.session() as session:
                page, _ = await timeline.home_page(
                    session,
                    feed.store,
                    SYSTEM,
                    viewer,
                    before=None,
                    limit=PAGE,
                    celebrity_threshold=threshold,
                )
                await posts.hydrate(session, SYSTEM, page)
                return len(page)

        progress(f"{backend}: {options.reads:,} home-feed reads (first page of {PAGE})")
        seconds, latencies, served = await run_workers(readers, options.concurrency, read)
        reads = Result(
            backend,
            "home-feed reads",
            len(readers),
            seconds,
            latencies,
            {"posts_served": served},
        )
        progress(
            f"  {reads.rate:,.0f} reads/s, p50 {reads.percentile(0.5):.1f} ms,"
            f" p99 {reads.percentile(0.99):.1f} ms"
        )
        cache = readcache.read_cache(platform.db.engine, platform.redis, platform.state)

        async def cached_read(viewer: int) -> int:
            async with platform.db.session() as session:
                views, _ = await readcache.home_views(
                    cache,
                    session,
                    feed.store,
                    SYSTEM,
                    viewer,
                    before=None,
                    limit=PAGE,
                    celebrity_threshold=threshold,
                )
                return len(views)

        results = [fan, reads]
        for label, workload in (
            ("cold", "home-feed reads, read cache cold"),
            ("warm", "home-feed reads, read cache warm"),
        ):
            progress(f"{backend}: the same reads through the read cache ({label})")
            seconds, latencies, served = await run_workers(
                readers, options.concurrency, cached_read
            )
            cached = Result(
                backend, workload, len(readers), seconds, latencies, {"posts_served": served}
            )
            progress(
                f"  {cached.rate:,.0f} reads/s, p50 {cached.percentile(0.5):.1f} ms,"
                f" p99 {cached.percentile(0.99):.1f} ms"
            )
            results.append(cached)
        results.append(
            await mixed_reads(platform, feed, options, backend, ids, weights, readers, cached_read)
        )
        return results
    finally:
        await platform.close()


async def mixed_reads(
    platform: Platform,
    feed: runtime.FeedRuntime,
    options: Options,
    backend: str,
    ids: list[int],
    weights: list[float],
    readers: list[int],
    cached_read: Callable[[int], Awaitable[int]],
) -> Result:
    """The warm reads again, cycling through `readers` for `MIXED_SECONDS`, while a writer
    publishes `options.post_rate` posts a second and fans each out (in this process, as the
    embedded job queue does)."""
    cache = readcache.read_cache(platform.db.engine, platform.redis, platform.state)
    rng = random.Random(19)
    published = 0
    reading = True

    async def writer() -> None:
        nonlocal published
        began = time.perf_counter()
        while reading:
            author = rng.choices(ids, weights=weights)[0]
            async with platform.db.session() as session:
                post = FeedPost(
                    system=SYSTEM,
                    author_id=author,
                    source_id=author,
                    body=f"mixed post {published}",
                    audience="public",
                )
                session.add(post)
            await fanout.fan_out(feed, post.id, announce=False)
            published += 1
            # Paced by the schedule, not by sleeps after each post: a slow fan-out is caught up.
            await asyncio.sleep(
                max(0.0, began + published / options.post_rate - time.perf_counter())
            )

    progress(f"{backend}: the warm reads while {options.post_rate:g} posts/s are published")
    hits, misses = cache.page_hits, cache.page_misses
    task = asyncio.create_task(writer())
    deadline = time.perf_counter() + MIXED_SECONDS
    turns = iter(range(10**9))
    latencies: list[float] = []
    served = reads = 0

    async def reader() -> None:
        nonlocal served, reads
        while time.perf_counter() < deadline:
            viewer = readers[next(turns) % len(readers)]
            began = time.perf_counter()
            done = await cached_read(viewer)
            served += done
            reads += 1
            latencies.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(0)  # as in `run_workers`

    began = time.perf_counter()
    try:
        await asyncio.gather(*(reader() for _ in range(options.concurrency)))
        seconds = time.perf_counter() - began
    finally:
        reading = False
        await task
    hits, misses = cache.page_hits - hits, cache.page_misses - misses
    result = Result(
        backend,
        f"home-feed reads, warm, {options.post_rate:g} posts/s arriving",
        reads,
        seconds,
        latencies,
        {
            "posts_served": served,
            "posts_published": published,
            "posts_published_per_second": round(published / seconds, 1),
            "pages_from_memory_pct": round(100 * hits / max(1, hits + misses), 1),
        },
    )
    progress(
        f"  {result.rate:,.0f} reads/s, p50 {result.percentile(0.5):.1f} ms,"
        f" p99 {result.percentile(0.99):.1f} ms, {published} posts published,"
        f" {result.extra['pages_from_memory_pct']} % of pages from memory"
    )
    return result


async def run(options: Options) -> list[Result]:
    import_models()
    results: list[Result] = []
    for backend in options.backends:
        with tempfile.TemporaryDirectory(prefix="casebook-bench-feed-") as tmp:
            if backend == "sqlite":
                settings = Settings(
                    var_dir=Path(tmp),
                    database_url=f"sqlite+aiosqlite:///{tmp}/feed.db",
                    environment="test",
                    auto_migrate=False,
                    demo_data=False,
                )
                results += await measure_backend(backend, settings, options)
                continue
            servers = Servers()
            try:
                progress("starting a throwaway PostgreSQL and Redis")
                settings = Settings(
                    var_dir=Path(tmp),
                    database_url=servers.start_postgres(),
                    redis_url=servers.start_redis(),
                    environment="test",
                    auto_migrate=False,
                    demo_data=False,
                )
                results += await measure_backend(backend, settings, options)
            finally:
                servers.stop()
    return results


def markdown(options: Options, results: list[Result], meta: dict[str, Any]) -> str:
    lines = [
        f"# Feed engine benchmark, {meta['date']}",
        "",
        f"Machine: {meta['machine']}. Commit: {meta['commit']}.",
        "",
        f"{options.users:,} users following {options.follows} each (Zipf-like popularity),"
        f" {options.posts:,} posts, {options.reads:,} reads, {options.concurrency} workers;"
        f" sources with more than {options.celebrity_threshold:,} followers are pulled at read"
        " time.",
        "",
        "| backend | workload | operations | per second | p50 ms | p99 ms | notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        notes = ", ".join(f"{k} {v:,}" for k, v in r.extra.items())
        lines.append(
            f"| {r.backend} | {r.workload} | {r.operations:,} | {r.rate:,.0f} |"
            f" {r.percentile(0.5):.1f} | {r.percentile(0.99):.1f} | {notes} |"
        )
    lines += [
        "",
        f"The seed's target is {SEED_READS_PER_SECOND:,} feed reads/s with p99 < 50 ms on one"
        " node; these reads run in one Python process (one core) without HTTP.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    options = parse(sys.argv[1:] if argv is None else argv)
    results = asyncio.run(run(options))
    meta = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": record.machine(),
        "commit": record.git_commit(REPO),
    }
    text = markdown(options, results, meta)
    print(text)
    if options.save:
        json_path, md_path = record.save(
            NAME, {**meta, "options": options.__dict__, "results": [r.row() for r in results]}, text
        )
        progress(f"saved {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
