"""Background jobs: one API, run in-process (embedded) or by SAQ workers on Redis.

Systems register a handler per job name when they start, then enqueue work by name:

    async def send_digest(platform: Platform, payload: dict[str, Any]) -> None: ...

    platform.jobs.register("newsletter.send-digest", send_digest, retries=5)
    job_id = await platform.jobs.enqueue("newsletter.send-digest", {"user_id": "42"},
                                         key=f"digest:42:{day}")

Semantics, the same on both adapters:

- At least once. A job whose attempt raises is retried up to `retries` more times, after
  `backoff.delay(attempt)` seconds; a worker stopped or killed mid-job runs it again (SAQ sweeps
  jobs whose worker vanished once their timeout has passed). **Handlers must therefore be
  idempotent**: running one twice with the same payload must leave the same result as running it
  once (use upserts, idempotency keys, "already done?" checks).
- Dedupe by key. A job's id is `"<name>:<key>"` (a fresh Snowflake id stands in when no key is
  given). While a job with that id is queued, scheduled, running or waiting to retry, enqueueing it
  again returns the same id and changes nothing; once it has completed or failed, the key may run
  again.
- Payloads are JSON objects; the handler receives a decoded copy, never the caller's dict.
- `delay` postpones the first attempt; delayed and retrying jobs are picked up within
  `settings.jobs_poll_interval` of their due time on Redis, at once in-process.
- Finished jobs stay listable (`get`, `list_jobs`, for `casebook jobs`) for
  `settings.jobs_retention_seconds` on Redis, and the newest 10,000 in-process.

Embedded jobs live in the memory of the process that enqueued them and do not survive its
restart; with `CASEBOOK_REDIS_URL` set they live in Redis, any process may enqueue, and every app
process with `CASEBOOK_JOBS_WORKER=true` (the default) runs workers for the jobs it has handlers
for — all processes run the same code, so all register the same handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import math
import random
import re
import time
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import Job, Status, Worker
from saq.queue.redis import RedisQueue
from saq.types import TimersDict

from casebook.platform import ids

if TYPE_CHECKING:
    from casebook.platform.context import Platform

log = structlog.get_logger("casebook.jobs")

Handler = Callable[["Platform", dict[str, Any]], Awaitable[object]]
"""An async function of (platform, payload); its return value is ignored."""

JOB_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
MAX_KEY_LENGTH = 200


class JobStatus(StrEnum):
    QUEUED = "queued"
    """Waiting for a free worker."""
    SCHEDULED = "scheduled"
    """Waiting for its time: enqueued with a delay, or backing off before a retry."""
    ACTIVE = "active"
    COMPLETE = "complete"
    FAILED = "failed"
    """Every attempt failed (or it was aborted); `error` says why the last one did."""


FINISHED = frozenset({JobStatus.COMPLETE, JobStatus.FAILED})


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between attempts: base · factor^(attempt-1), capped, minus jitter."""

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 600.0
    jitter: float = 0.1
    """Fraction of the delay removed at random, so failures of many jobs do not retry in step."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 = the first attempt)."""
        raw = min(self.maximum, self.base * self.factor ** max(0, attempt - 1))
        return raw * (1.0 - self.jitter * random.random())


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    retries: int
    backoff: Backoff
    timeout: float

    @property
    def max_attempts(self) -> int:
        return self.retries + 1


@dataclass(frozen=True)
class JobInfo:
    """What `casebook jobs` shows about one job."""

    id: str
    name: str
    status: JobStatus
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    enqueued_at: datetime
    run_at: datetime | None
    """When a queued job is due (None when due now or no longer waiting)."""
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    """The traceback of the last failed attempt."""


class JobQueue(Protocol):
    def bind(self, platform: Platform) -> None: ...

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        retries: int = 5,
        backoff: Backoff = ...,
        timeout: float = 300.0,
    ) -> None: ...

    async def enqueue(
        self, name: str, payload: dict[str, Any], *, key: str | None = None, delay: float = 0
    ) -> str: ...

    async def get(self, job_id: str) -> JobInfo | None: ...

    async def list_jobs(
        self, *, status: JobStatus | None = None, limit: int = 100
    ) -> list[JobInfo]: ...

    async def wait(self, job_id: str) -> JobInfo: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def close(self) -> None: ...


class _Registry:
    """Handler registration and the argument checks both adapters share."""

    def __init__(self) -> None:
        self.specs: dict[str, JobSpec] = {}
        self._platform: Platform | None = None
        self._started = False

    def bind(self, platform: Platform) -> None:
        """Give handlers this platform as their first argument."""
        self._platform = platform

    @property
    def platform(self) -> Platform:
        if self._platform is None:
            raise RuntimeError("the job queue is not bound to a platform")
        return self._platform

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        retries: int = 5,
        backoff: Backoff = Backoff(),
        timeout: float = 300.0,
    ) -> None:
        """Run `handler` for jobs named `name`; call before `start`.

        `retries`: further attempts after a failed one; `timeout`: seconds an attempt may run
        before it is cancelled and counted as failed. Raises ValueError for a malformed or
        already registered name or bad numbers, RuntimeError once the workers have started.
        """
        if self._started:
            raise RuntimeError("register job handlers before the queue starts")
        if not JOB_NAME.match(name):
            raise ValueError(f"job names are lowercase [a-z0-9._-], not {name!r}")
        if name in self.specs:
            raise ValueError(f"a handler for job {name!r} is already registered")
        if retries < 0 or timeout <= 0:
            raise ValueError("retries must be >= 0 and timeout > 0")
        self.specs[name] = JobSpec(name, handler, retries, backoff, timeout)

    def spec(self, name: str) -> JobSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise KeyError(f"no job handler registered for {name!r}") from None

    @staticmethod
    def job_id(name: str, key: str | None) -> str:
        if key is None:
            return f"{name}:{ids.new_id()}"
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"job keys are 1..{MAX_KEY_LENGTH} characters")
        return f"{name}:{key}"

    @staticmethod
    def copy_payload(payload: dict[str, Any]) -> dict[str, Any]:
        """A JSON round trip of `payload`, as a Redis worker receives it; TypeError if not JSON."""
        if not isinstance(payload, dict):
            raise TypeError("job payloads are JSON objects (dicts)")
        copied: dict[str, Any] = json.loads(json.dumps(payload))
        return copied

    async def run_handler(self, spec: JobSpec, job_id: str, payload: dict[str, Any]) -> None:
        with structlog.contextvars.bound_contextvars(job_id=job_id):
            async with asyncio.timeout(spec.timeout):
                await spec.handler(self.platform, payload)


def _utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


@dataclass
class _MemoryJob:
    id: str
    spec: JobSpec
    payload: dict[str, Any]
    enqueued_at: float
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    run_at: float = 0.0
    """Wall-clock due time while scheduled."""
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def info(self) -> JobInfo:
        waiting = self.status is JobStatus.SCHEDULED
        return JobInfo(
            id=self.id,
            name=self.spec.name,
            status=self.status,
            attempts=self.attempts,
            max_attempts=self.spec.max_attempts,
            payload=self.payload,
            enqueued_at=_utc(self.enqueued_at),
            run_at=_utc(self.run_at) if waiting else None,
            started_at=_utc(self.started_at) if self.started_at else None,
            finished_at=_utc(self.finished_at) if self.finished_at else None,
            error=self.error,
        )


class MemoryJobQueue(_Registry):
    """The embedded queue: asyncio workers in this process.

    Due jobs wait in a FIFO; delayed and backing-off jobs in a heap by due time, moved to the FIFO
    by one dispatcher task. `enqueue` is O(log n); `concurrency` worker tasks run the handlers.
    """

    def __init__(self, *, concurrency: int = 10, keep_finished: int = 10_000) -> None:
        super().__init__()
        self._concurrency = concurrency
        self._keep_finished = keep_finished
        self._jobs: dict[str, _MemoryJob] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._ready: asyncio.Queue[_MemoryJob] = asyncio.Queue()
        self._delayed: list[tuple[float, int, _MemoryJob]] = []
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def enqueue(
        self, name: str, payload: dict[str, Any], *, key: str | None = None, delay: float = 0
    ) -> str:
        """Queue a job (see the module docstring); returns its id. O(log n)."""
        spec = self.spec(name)
        job_id = self.job_id(name, key)
        existing = self._jobs.get(job_id)
        if existing is not None and existing.status not in FINISHED:
            return job_id
        job = _MemoryJob(job_id, spec, self.copy_payload(payload), time.time())
        if existing is not None:
            self._finished.pop(job_id, None)
        self._jobs[job_id] = job
        self._schedule(job, delay)
        return job_id

    def _schedule(self, job: _MemoryJob, delay: float) -> None:
        if delay > 0:
            job.status = JobStatus.SCHEDULED
            job.run_at = time.time() + delay
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._sequence), job))
            self._wakeup.set()
        else:
            job.status = JobStatus.QUEUED
            self._ready.put_nowait(job)

    async def get(self, job_id: str) -> JobInfo | None:
        job = self._jobs.get(job_id)
        return job.info() if job is not None else None

    async def list_jobs(
        self, *, status: JobStatus | None = None, limit: int = 100
    ) -> list[JobInfo]:
        """The newest `limit` jobs (by enqueue time), optionally of one status. O(n log n)."""
        jobs = [j for j in self._jobs.values() if status is None or j.status is status]
        jobs.sort(key=lambda j: j.enqueued_at, reverse=True)
        return [j.info() for j in jobs[:limit]]

    async def wait(self, job_id: str) -> JobInfo:
        """The job once it has completed or failed (bound the wait with `asyncio.timeout`)."""
        job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        await job.finished.wait()
        return job.info()

    async def start(self) -> None:
        """Start the dispatcher and the workers. Jobs enqueued before start run now."""
        if self._started:
            return
        self._started = True
        self._tasks.append(asyncio.create_task(self._dispatch(), name="casebook-jobs-dispatch"))
        for number in range(self._concurrency):
            worker = asyncio.create_task(self._work(), name=f"casebook-jobs-worker-{number}")
            self._tasks.append(worker)

    async def stop(self) -> None:
        """Cancel the workers; a job cut short returns to the queue (it is idempotent)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._started = False

    async def close(self) -> None:
        await self.stop()

    async def _dispatch(self) -> None:
        while True:
            self._wakeup.clear()
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                _, _, job = heapq.heappop(self._delayed)
                job.status = JobStatus.QUEUED
                self._ready.put_nowait(job)
            wait = self._delayed[0][0] - now if self._delayed else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()

    async def _work(self) -> None:
        while True:
            job = await self._ready.get()
            await self._attempt(job)

    async def _attempt(self, job: _MemoryJob) -> None:
        job.status = JobStatus.ACTIVE
        job.attempts += 1
        job.started_at = time.time()
        try:
            await self.run_handler(job.spec, job.id, job.payload)
        except asyncio.CancelledError:
            # The queue is stopping: put the job back so a restart of the workers runs it.
            job.status = JobStatus.QUEUED
            self._ready.put_nowait(job)
            raise
        except Exception:
            job.error = traceback.format_exc()
            if job.attempts <= job.spec.retries:
                delay = job.spec.backoff.delay(job.attempts)
                log.warning(
                    "job attempt failed; retrying",
                    job_id=job.id,
                    attempt=job.attempts,
                    retry_in=round(delay, 3),
                    exc_info=True,
                )
                self._schedule(job, delay)
                return
            log.error("job failed", job_id=job.id, attempts=job.attempts, exc_info=True)
            self._finish(job, JobStatus.FAILED)
            return
        job.error = None  # as SAQ does: a completed job reports no error
        self._finish(job, JobStatus.COMPLETE)

    def _finish(self, job: _MemoryJob, status: JobStatus) -> None:
        job.status = status
        job.finished_at = time.time()
        job.finished.set()
        self._finished[job.id] = None
        while len(self._finished) > self._keep_finished:
            oldest, _ = self._finished.popitem(last=False)
            self._jobs.pop(oldest, None)


class _SaqRedisQueue(RedisQueue):
    """SAQ's Redis queue with two fixes: prompt promotion of due jobs, and a race-free sweep.

    Promotion: SAQ guards its promotion of delayed jobs with a lock held for whole seconds
    (SETEX), which delays a 100 ms job by up to a second; this takes the same lock in
    milliseconds (SET PX).

    Sweep: SAQ sweeps (aborts, then retries or fails) every job in its active list whose status
    is not "active". A job a worker has just moved there (BLMOVE) but not yet marked active
    looks exactly like that (tobymao/saq#277), so a sweep landing in that window aborts a job
    that is starting — and, with no retries left, fails it. Here such a job is swept only if it
    is still unmarked `sweep_grace` seconds later, i.e. its worker died between the two steps.
    """

    _promote_script_text = """
    if redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then
        local jobs = redis.call('ZRANGEBYSCORE', KEYS[2], 1, ARGV[2])
        for _, v in ipairs(jobs) do
            redis.call('ZADD', KEYS[2], 0, v)
            redis.call('RPUSH', KEYS[3], v)
        end
        return jobs
    end
    return {}
    """

    _active_jobs_script_text = """
    local id_jobs = {}
    if redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then
        for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
            id_jobs[i] = {v, redis.call('GET', v)}
        end
    end
    return id_jobs
    """

    def __init__(self, redis: Redis, name: str, *, sweep_grace: float = 2.0) -> None:
        super().__init__(redis, name=name)
        self.sweep_grace = sweep_grace
        self._promote_script = redis.register_script(self._promote_script_text)
        self._active_jobs_script = redis.register_script(self._active_jobs_script_text)

    async def disconnect(self) -> None:
        """Release the connections without a farewell round trip.

        SAQ's own disconnect unsubscribes its job-status listener even when it never
        subscribed, dialling Redis to do so — which fails, or hangs, when Redis is unreachable.
        """
        if self._pubsub._daemon_task is not None:
            with contextlib.suppress(RedisError, TimeoutError):
                async with asyncio.timeout(1):
                    await self._pubsub.close()
        await self.redis.aclose()

    async def schedule(self, lock: float = 1) -> list[str]:
        """Move jobs whose time has come to the ready list; at most once per `lock` seconds."""
        promoted = await self._promote_script(
            keys=[self._schedule, self._incomplete, self._queued],
            args=[max(1, int(lock * 1000)), time.time()],
        )
        return [job_id.decode() for job_id in promoted or []]

    async def sweep(self, lock: float = 60, abort: float = 5.0) -> list[str]:
        """Abort and retry (or fail) active jobs whose worker is gone; at most once per `lock` s.

        Stuck jobs (past their timeout) go at once; jobs not marked active get `sweep_grace`.
        """
        id_jobs = await self._active_jobs_script(
            keys=[self._sweep, self._active], args=[max(1, math.ceil(lock))]
        )
        swept: list[bytes] = []
        unmarked: list[bytes] = []
        for job_id, job_bytes in id_jobs:
            job = self.deserialize(job_bytes)
            if job is None:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id)
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
                swept.append(job_id)
            elif job.stuck:
                await self._sweep_job(job, abort)
                swept.append(job_id)
            elif job.status != Status.ACTIVE:
                unmarked.append(job_id)
        if unmarked:
            await asyncio.sleep(self.sweep_grace)
            still_listed = set(await self.redis.lrange(self._active, 0, -1))
            for job_id in unmarked:
                job = await self._get_job_by_id(job_id) if job_id in still_listed else None
                if job is not None and job.status != Status.ACTIVE:
                    # No worker runs it, so there is no abort to wait for.
                    await self._sweep_job(job, 0)
                    swept.append(job_id)
        return [job_id.decode() for job_id in swept]

    async def _sweep_job(self, job: Job, abort: float) -> None:
        """Abort `job`, wait up to `abort` s for a worker still running it to stop, re-queue it."""
        log.warning("sweeping a job whose worker is gone", job_id=job.key, status=job.status)
        await self.abort(job, error=self.swept_error_message)
        if abort > 0:
            with contextlib.suppress(TimeoutError):
                await job.refresh(abort)
        if job.retryable:
            await self.retry(job, error=self.swept_error_message)
        else:
            await self.finish(job, Status.ABORTED, error=self.swept_error_message)


class _ExpectedShutdownNotice(logging.Filter):
    """Drops SAQ's warning that workers were cancelled at stop: stopping at once is our choice
    (an interrupted job is re-queued and handlers are idempotent)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Some tasks did not finish within the shutdown")


logging.getLogger("saq").addFilter(_ExpectedShutdownNotice())


class _SaqWorker(Worker[Any]):
    # SAQ installs SIGINT/SIGTERM handlers on the event loop; inside an app process those belong
    # to uvicorn, which stops the queue through the app's lifespan instead.
    SIGNALS = []


_STATUS_FROM_SAQ = {
    Status.NEW: JobStatus.QUEUED,
    Status.QUEUED: JobStatus.QUEUED,
    Status.ACTIVE: JobStatus.ACTIVE,
    Status.ABORTING: JobStatus.ACTIVE,
    Status.ABORTED: JobStatus.FAILED,
    Status.FAILED: JobStatus.FAILED,
    Status.COMPLETE: JobStatus.COMPLETE,
}


def _info_from_saq(job: Job) -> JobInfo:
    status = _STATUS_FROM_SAQ[job.status]
    due = max(float(job.scheduled), float(job.meta.get("retry_at", 0.0)))
    run_at = None
    if status is JobStatus.QUEUED and due > time.time():
        status = JobStatus.SCHEDULED
        run_at = _utc(due)
    return JobInfo(
        id=job.key,
        name=job.function,
        status=status,
        attempts=job.attempts,
        max_attempts=job.retries,
        payload=(job.kwargs or {}).get("payload", {}),
        enqueued_at=_utc(job.queued / 1000),
        run_at=run_at,
        started_at=_utc(job.started / 1000) if job.started else None,
        finished_at=_utc(job.completed / 1000) if job.completed else None,
        error=job.error,
    )


class RedisJobQueue(_Registry):
    """The same queue on Redis through SAQ: durable, shared by every process, many workers.

    Each job is a SAQ job named after its handler with `{"payload": …}` as its arguments; retry
    delays come from the handler's `Backoff` (set on the job just before SAQ re-queues it).
    """

    def __init__(
        self,
        client: Redis,
        *,
        queue_name: str = "casebook",
        concurrency: int = 10,
        poll_interval: float = 0.1,
        retention_seconds: int = 24 * 3600,
        run_worker: bool = True,
    ) -> None:
        super().__init__()
        self.queue = _SaqRedisQueue(client, queue_name)
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._retention = retention_seconds
        self._run_worker = run_worker
        self._worker: _SaqWorker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisJobQueue:
        """A queue with its own connections (SAQ's workers hold one each while blocked)."""
        return cls(Redis.from_url(url), **kwargs)

    async def enqueue(
        self, name: str, payload: dict[str, Any], *, key: str | None = None, delay: float = 0
    ) -> str:
        """Queue a job in Redis (one script call, atomic with the dedupe check); returns its id."""
        spec = self.spec(name)
        job_id = self.job_id(name, key)
        job = Job(
            function=name,
            kwargs={"payload": self.copy_payload(payload)},
            key=job_id,
            retries=spec.max_attempts,
            timeout=math.ceil(spec.timeout),
            ttl=self._retention,
            # SAQ compares this with epoch seconds as a float; 0 means "now".
            scheduled=cast(int, time.time() + delay) if delay > 0 else 0,
        )
        await self.queue.enqueue(job)
        return job_id

    async def get(self, job_id: str) -> JobInfo | None:
        job = await self.queue.job(job_id)
        return _info_from_saq(job) if job is not None else None

    async def list_jobs(
        self, *, status: JobStatus | None = None, limit: int = 100
    ) -> list[JobInfo]:
        """The newest `limit` jobs kept in Redis; scans every job key (an admin query, O(n))."""
        infos = [_info_from_saq(job) async for job in self.queue.iter_jobs()]
        if status is not None:
            infos = [info for info in infos if info.status is status]
        infos.sort(key=lambda info: info.enqueued_at, reverse=True)
        return infos[:limit]

    async def wait(self, job_id: str) -> JobInfo:
        """The job once it has completed or failed, polled every 20 ms (bound the wait with
        `asyncio.timeout`). Raises KeyError for an unknown (or expired) job."""
        while True:
            info = await self.get(job_id)
            if info is None:
                raise KeyError(f"no job {job_id!r}")
            if info.status in FINISHED:
                return info
            await asyncio.sleep(0.02)

    async def start(self) -> None:
        """Start SAQ workers for the registered handlers, unless this process only enqueues."""
        if self._started:
            return
        self._started = True
        if not self._run_worker or not self.specs:
            return
        await self.queue.connect()
        functions = [(name, self._saq_function(spec)) for name, spec in self.specs.items()]
        # SAQ's intervals in seconds. Promotion of due jobs runs at our poll interval (a float
        # SAQ's sleep and our schedule() above both honour). The others are short because a
        # cancellation that lands inside an upkeep call is swallowed by SAQ, which then sleeps
        # out its interval before it notices the stop: a 60 s sweep made shutdowns take 60 s.
        timers: TimersDict = {
            "schedule": cast(int, self._poll_interval),
            "sweep": 2,
            "abort": 1,
            "worker_info": 2,
        }
        self._worker = _SaqWorker(
            self.queue,
            functions,
            concurrency=self._concurrency,
            timers=timers,
            # redis-py (8.x) can lose a cancellation that lands while a blocking BLMOVE is being
            # sent, so stopping waits out the block: keep it short (idle cost: 4 BLMOVE/s/task).
            dequeue_timeout=0.25,
        )
        self._worker_task = asyncio.create_task(self._worker.start(), name="casebook-saq-worker")

    def _saq_function(self, spec: JobSpec) -> Callable[..., Awaitable[None]]:
        async def run(ctx: dict[str, Any], *, payload: dict[str, Any]) -> None:
            job: Job = ctx["job"]
            try:
                await self.run_handler(spec, job.key, payload)
            except Exception:
                if job.retryable:
                    # SAQ re-queues with job.retry_delay when backoff is off: use ours.
                    delay = spec.backoff.delay(job.attempts)
                    job.retry_delay = delay
                    job.retry_backoff = False
                    job.meta["retry_at"] = time.time() + delay
                raise

        return run

    async def stop(self) -> None:
        """Stop the workers; a job cut short goes back to the queue (it is idempotent)."""
        worker, task = self._worker, self._worker_task
        self._worker = self._worker_task = None
        if worker is not None:
            await worker.stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._started = False

    async def close(self) -> None:
        await self.stop()
        await self.queue.disconnect()
