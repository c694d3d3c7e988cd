"""Background jobs on both adapters: the in-process queue and SAQ on Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from saq import Status

from casebook.app import create_app
from casebook.platform.context import Platform
from casebook.platform.jobs import (
    Backoff,
    JobInfo,
    JobQueue,
    JobStatus,
    MemoryJobQueue,
    RedisJobQueue,
)
from casebook.platform.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NO_JITTER = Backoff(base=0.1, jitter=0.0)


async def finished(queue: JobQueue, job_id: str, within: float = 5.0) -> JobInfo:
    """The job once it has completed or failed; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        return await queue.wait(job_id)


@pytest.fixture
async def own_platform(settings: Settings) -> AsyncIterator[Platform]:
    """A platform that is not serving an app, so no other worker shares its queue."""
    platform = Platform.start(settings)
    yield platform
    await platform.close()


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest, own_platform: Platform) -> AsyncIterator[JobQueue]:
    adapter: JobQueue
    if request.param == "memory":
        adapter = MemoryJobQueue(concurrency=4)
    else:
        adapter = RedisJobQueue.from_url(
            request.getfixturevalue("redis_url"),
            queue_name=f"test-{uuid.uuid4().hex}",
            concurrency=4,
            poll_interval=0.02,
        )
    adapter.bind(own_platform)
    yield adapter
    await adapter.close()


async def test_a_job_runs_with_the_platform_and_a_copy_of_its_payload(
    queue: JobQueue, own_platform: Platform
) -> None:
    seen: list[tuple[Platform, dict[str, Any]]] = []

    async def record(platform: Platform, payload: dict[str, Any]) -> None:
        seen.append((platform, payload))

    queue.register("test.record", record)
    await queue.start()
    payload: dict[str, Any] = {"user_id": "42", "tags": ["a", "b"]}
    job_id = await queue.enqueue("test.record", payload)
    payload["tags"].append("changed after enqueue")
    info = await finished(queue, job_id)
    assert info.status is JobStatus.COMPLETE
    assert (info.attempts, info.max_attempts, info.error) == (1, 6, None)
    assert info.id == job_id and job_id.startswith("test.record:")
    assert info.started_at is not None and info.finished_at is not None
    assert info.enqueued_at <= info.started_at <= info.finished_at
    assert seen == [(own_platform, {"user_id": "42", "tags": ["a", "b"]})]


async def test_a_failing_attempt_is_retried_after_its_backoff(queue: JobQueue) -> None:
    attempts: list[float] = []

    async def flaky(_platform: Platform, _payload: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise ConnectionError("the mail server hung up")

    queue.register("test.flaky", flaky, retries=3, backoff=NO_JITTER)
    await queue.start()
    job_id = await queue.enqueue("test.flaky", {})
    info = await finished(queue, job_id)
    assert info.status is JobStatus.COMPLETE
    assert (info.attempts, info.error) == (2, None)
    assert attempts[1] - attempts[0] >= 0.1


async def test_a_job_that_keeps_failing_ends_failed_with_its_last_error(queue: JobQueue) -> None:
    attempts = 0

    async def broken(_platform: Platform, _payload: dict[str, Any]) -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError(f"bad input, attempt {attempts}")

    queue.register("test.broken", broken, retries=2, backoff=Backoff(base=0.01, jitter=0.0))
    await queue.start()
    info = await finished(queue, await queue.enqueue("test.broken", {}))
    assert info.status is JobStatus.FAILED
    assert (info.attempts, info.max_attempts, attempts) == (3, 3, 3)
    assert info.error is not None and "ValueError: bad input, attempt 3" in info.error


async def test_an_attempt_that_overruns_its_timeout_counts_as_failed(queue: JobQueue) -> None:
    async def stuck(_platform: Platform, _payload: dict[str, Any]) -> None:
        await asyncio.sleep(10)

    queue.register("test.stuck", stuck, retries=0, timeout=0.05)
    await queue.start()
    info = await finished(queue, await queue.enqueue("test.stuck", {}))
    assert info.status is JobStatus.FAILED
    assert info.error is not None and "TimeoutError" in info.error


async def test_a_pending_key_is_deduplicated_and_a_finished_one_runs_again(
    queue: JobQueue,
) -> None:
    runs: list[dict[str, Any]] = []

    async def send(_platform: Platform, payload: dict[str, Any]) -> None:
        runs.append(payload)

    queue.register("test.send-digest", send)
    await queue.start()
    first = await queue.enqueue("test.send-digest", {"n": 1}, key="user-7:2024-05-01", delay=0.1)
    second = await queue.enqueue("test.send-digest", {"n": 2}, key="user-7:2024-05-01")
    assert first == second == "test.send-digest:user-7:2024-05-01"
    await finished(queue, first)
    assert runs == [{"n": 1}]
    again = await queue.enqueue("test.send-digest", {"n": 3}, key="user-7:2024-05-01")
    assert again == first
    info = await finished(queue, again)
    assert info.status is JobStatus.COMPLETE
    assert runs == [{"n": 1}, {"n": 3}]


async def test_a_delayed_job_is_scheduled_until_its_time(queue: JobQueue) -> None:
    started: list[float] = []

    async def remind(_platform: Platform, _payload: dict[str, Any]) -> None:
        started.append(time.monotonic())

    queue.register("test.remind", remind)
    await queue.start()
    enqueued = time.monotonic()
    job_id = await queue.enqueue("test.remind", {}, delay=0.15)
    waiting = await queue.get(job_id)
    assert waiting is not None and waiting.status is JobStatus.SCHEDULED
    assert waiting.run_at is not None and waiting.run_at > waiting.enqueued_at
    info = await finished(queue, job_id)
    assert info.status is JobStatus.COMPLETE
    assert started[0] - enqueued >= 0.15


async def test_list_jobs_shows_each_job_with_its_status(queue: JobQueue) -> None:
    gate, waiting = asyncio.Event(), asyncio.Event()

    async def slow(_platform: Platform, payload: dict[str, Any]) -> None:
        if payload["wait"]:
            waiting.set()
            await gate.wait()

    queue.register("test.slow", slow)
    await queue.start()
    done = await queue.enqueue("test.slow", {"wait": False})
    await finished(queue, done)
    running = await queue.enqueue("test.slow", {"wait": True})
    later = await queue.enqueue("test.slow", {"wait": False}, delay=30)
    async with asyncio.timeout(5):
        await waiting.wait()
    listed = {info.id: info.status for info in await queue.list_jobs()}
    assert listed == {
        done: JobStatus.COMPLETE,
        running: JobStatus.ACTIVE,
        later: JobStatus.SCHEDULED,
    }
    assert [i.id for i in await queue.list_jobs(status=JobStatus.COMPLETE)] == [done]
    assert len(await queue.list_jobs(limit=2)) == 2
    gate.set()
    await finished(queue, running)


async def test_a_job_cut_short_by_stop_runs_again_after_restart(queue: JobQueue) -> None:
    attempts = 0
    first_attempt_started = asyncio.Event()

    async def long_job(_platform: Platform, _payload: dict[str, Any]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            first_attempt_started.set()
            await asyncio.sleep(30)

    queue.register("test.long", long_job)
    await queue.start()
    job_id = await queue.enqueue("test.long", {})
    async with asyncio.timeout(5):
        await first_attempt_started.wait()
    await queue.stop()
    info = await queue.get(job_id)
    assert info is not None and info.status is JobStatus.QUEUED
    await queue.start()
    info = await finished(queue, job_id)
    assert info.status is JobStatus.COMPLETE
    assert attempts == 2


async def test_many_jobs_run_concurrently(queue: JobQueue) -> None:
    running = peak = 0

    async def work(_platform: Platform, _payload: dict[str, Any]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    queue.register("test.work", work)
    await queue.start()
    job_ids = [await queue.enqueue("test.work", {"n": n}) for n in range(12)]
    infos = [await finished(queue, job_id) for job_id in job_ids]
    assert all(info.status is JobStatus.COMPLETE for info in infos)
    assert 1 < peak <= 4  # the queue's concurrency


async def test_misuse_is_refused(queue: JobQueue) -> None:
    async def noop(_platform: Platform, _payload: dict[str, Any]) -> None:
        return None

    with pytest.raises(ValueError):
        queue.register("Not A Name", noop)
    queue.register("test.noop", noop)
    with pytest.raises(ValueError):
        queue.register("test.noop", noop)
    with pytest.raises(KeyError):
        await queue.enqueue("test.missing", {})
    with pytest.raises(TypeError):
        await queue.enqueue("test.noop", {"when": object()})
    with pytest.raises(ValueError):
        await queue.enqueue("test.noop", {}, key="k" * 201)
    await queue.start()
    with pytest.raises(RuntimeError):
        queue.register("test.late", noop)


async def test_a_job_enqueued_here_runs_in_a_worker_of_another_process(
    redis_url: str, tmp_path: Path
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    enqueuer = RedisJobQueue(redis, run_worker=False)
    enqueuer.register("test.mark-done", _never_run_here, retries=0)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.platform.jobs_peer",
        redis_url,
        str(tmp_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        job_id = await enqueuer.enqueue("test.mark-done", {"token": "t1"})
        info = await finished(enqueuer, job_id, 20)
        assert info.status is JobStatus.COMPLETE
        ran_by = await redis.get("casebook:test:ran-by:t1")
        assert ran_by is not None and int(ran_by) == worker.pid != os.getpid()
    finally:
        worker.terminate()
        await worker.wait()
        await enqueuer.close()


async def _never_run_here(_platform: Platform, _payload: dict[str, Any]) -> None:
    raise AssertionError("this process only enqueues")


async def test_platform_jobs_match_the_backend_and_run_registered_handlers(
    settings: Settings,
) -> None:
    platform = Platform.start(settings.model_copy(update={"jobs_poll_interval": 0.02}))
    expected = RedisJobQueue if settings.uses_redis else MemoryJobQueue
    assert isinstance(platform.jobs, expected)
    done = asyncio.Event()

    async def handler(received: Platform, payload: dict[str, Any]) -> None:
        assert received is platform
        await received.cache.set("job-result", payload["value"].encode())
        done.set()

    platform.jobs.register("test.platform", handler)
    await platform.jobs.start()
    try:
        job_id = await platform.jobs.enqueue("test.platform", {"value": "stored"})
        info = await finished(platform.jobs, job_id)
        assert info.status is JobStatus.COMPLETE
        assert await platform.cache.get("job-result") == b"stored"
    finally:
        await platform.close()


@pytest.fixture
async def idle_redis_queue(redis_url: str, own_platform: Platform) -> AsyncIterator[RedisJobQueue]:
    """A Redis queue with no worker running, so a test can play a worker's steps itself."""
    queue = RedisJobQueue.from_url(
        redis_url, queue_name=f"test-{uuid.uuid4().hex}", poll_interval=0.02
    )
    queue.bind(own_platform)
    queue.queue.sweep_grace = 0.1
    yield queue
    await queue.close()


async def test_the_sweep_spares_a_job_its_worker_is_just_starting(
    idle_redis_queue: RedisJobQueue,
) -> None:
    """A worker moves a job to the active list, then marks it active; a sweep in between must
    not abort it (SAQ's own sweep does: tobymao/saq#277)."""
    queue = idle_redis_queue
    queue.register("test.noop", _noop)
    job_id = await queue.enqueue("test.noop", {})
    job = await queue.queue.dequeue(timeout=1)  # the worker's first step
    assert job is not None and job.key == job_id
    sweep = asyncio.create_task(queue.queue.sweep(lock=1))
    await asyncio.sleep(0.02)
    job.attempts += 1
    await job.update(status=Status.ACTIVE)  # the worker's second step
    assert await sweep == []
    info = await queue.get(job_id)
    assert info is not None and info.status is JobStatus.ACTIVE


async def test_a_job_whose_worker_died_while_starting_it_is_swept_and_run(
    idle_redis_queue: RedisJobQueue,
) -> None:
    queue = idle_redis_queue
    queue.register("test.noop", _noop)
    job_id = await queue.enqueue("test.noop", {})
    assert await queue.queue.dequeue(timeout=1) is not None  # ...and the worker dies here
    assert await queue.queue.sweep(lock=1) == [f"saq:job:{queue.queue.name}:{job_id}"]
    await queue.start()
    info = await finished(queue, job_id)
    assert info.status is JobStatus.COMPLETE


async def _noop(_platform: Platform, _payload: dict[str, Any]) -> None:
    return None


async def test_jobs_stop_before_the_systems_shut_down(settings: Settings) -> None:
    """A job must not run on into a system's shutdown (it would find the system's state gone)."""
    application = create_app(settings, only=["url-shortener"])
    systems = application.state.systems
    system = systems[0]
    ran: list[str] = []

    async def record(platform: Platform, payload: dict[str, Any]) -> None:
        ran.append(payload["when"])

    async def on_startup(platform: Platform) -> None:
        platform.jobs.register("test.shutdown-probe", record, retries=0)
        if system.on_startup is not None:
            await system.on_startup(platform)

    async def on_shutdown(platform: Platform) -> None:
        await platform.jobs.enqueue("test.shutdown-probe", {"when": "during shutdown"})
        await asyncio.sleep(0.3)
        if system.on_shutdown is not None:
            await system.on_shutdown(platform)

    systems[0] = dataclasses.replace(system, on_startup=on_startup, on_shutdown=on_shutdown)
    async with application.router.lifespan_context(application):
        platform: Platform = application.state.platform
        await platform.jobs.enqueue("test.shutdown-probe", {"when": "while serving"})
        for _ in range(100):
            if ran:
                break
            await asyncio.sleep(0.02)
    assert ran == ["while serving"]
