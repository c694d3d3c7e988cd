"""Group commit: many callers' items handled by one task, a batch at a time.

Callers `submit` an item and await its result. One task takes everything queued (up to
`max_batch`) and gives the batch to `handle`, which returns one result per item, in order, or
the exception refusing it. While one batch is handled the next accumulates, so there is no timer:
a lone item goes at once, and under load each batch (one transaction, say) serves many callers.

    batcher = GroupCommit("ledger-writes", handle, max_batch=256, closed=lambda: Closed("…"))
    batcher.start()
    result = await batcher.submit(item)
    await batcher.stop()          # handles what is queued, then ends

`handle` should not raise: an exception it lets out is given to every item of the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Handler = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


@dataclass
class _Queued(Generic[T, R]):
    item: T
    future: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit(Generic[T, R]):
    """See the module docstring. `closed()` makes the exception for items submitted while the
    batcher is not running (or still queued when it ends abnormally)."""

    def __init__(
        self,
        name: str,
        handle: Handler[T, R],
        *,
        closed: Callable[[], BaseException],
        max_batch: int = 256,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.name = name
        self.max_batch = max_batch
        self.batches = 0
        self._handle = handle
        self._closed_error = closed
        self._queue: asyncio.Queue[_Queued[T, R] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = True

    @property
    def running(self) -> bool:
        return self._task is not None and not self._closed

    def start(self) -> None:
        if self._task is not None:
            return
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Refuse new items, handle every queued one, and end the task."""
        self._closed = True
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def submit(self, item: T) -> R:
        """Queue `item` and wait for its result (or its exception). O(1) besides the wait."""
        if self._closed or self._task is None:
            raise self._closed_error()
        queued: _Queued[T, R] = _Queued(item)
        self._queue.put_nowait(queued)
        return await queued.future

    async def _run(self) -> None:
        batch: list[_Queued[T, R]] = []
        try:
            while True:
                first = await self._queue.get()
                if first is None:
                    return
                batch = [first]
                stopping = False
                while len(batch) < self.max_batch and not self._queue.empty():
                    queued = self._queue.get_nowait()
                    if queued is None:
                        stopping = True
                        break
                    batch.append(queued)
                await self._dispatch(batch)
                batch = []
                if stopping:
                    return
        finally:
            self._closed = True
            while not self._queue.empty():
                queued = self._queue.get_nowait()
                if queued is not None:
                    batch.append(queued)
            for queued in batch:
                if not queued.future.done():
                    queued.future.set_exception(self._closed_error())

    async def _dispatch(self, batch: list[_Queued[T, R]]) -> None:
        try:
            results = await self._handle([queued.item for queued in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} items")
        except Exception as error:
            results = [error] * len(batch)
        self.batches += 1
        for queued, result in zip(batch, results, strict=True):
            if queued.future.done():  # its caller was cancelled
                continue
            if isinstance(result, BaseException):
                queued.future.set_exception(result)
            else:
                queued.future.set_result(result)
