"""The group-commit batcher: callers share batches, each gets its own result or exception, in
order; stopping handles what is queued; a closed batcher refuses at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from casebook.platform.groupcommit import GroupCommit


class Closed(RuntimeError):
    pass


async def test_concurrent_items_share_batches_and_get_their_own_results() -> None:
    seen: list[list[int]] = []

    async def handle(batch: Sequence[int]) -> list[int | BaseException]:
        seen.append(list(batch))
        await asyncio.sleep(0.01)  # while this batch is handled, the next accumulates
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in batch]

    batcher: GroupCommit[int, int] = GroupCommit("test", handle, closed=Closed, max_batch=8)
    batcher.start()
    try:
        results = await asyncio.gather(
            *(batcher.submit(i) for i in range(20)), return_exceptions=True
        )
    finally:
        await batcher.stop()
    assert [r for r in results if not isinstance(r, BaseException)] == list(range(0, 200, 20))
    assert [str(r) for r in results if isinstance(r, BaseException)] == [
        f"odd {i}" for i in range(1, 20, 2)
    ]
    assert sorted(i for batch in seen for i in batch) == list(range(20))
    assert max(len(batch) for batch in seen) == 8 and len(seen) < 20
    assert batcher.batches == len(seen)


async def test_stop_handles_what_is_queued_then_refuses() -> None:
    async def handle(batch: Sequence[int]) -> list[int | BaseException]:
        return list(batch)

    batcher: GroupCommit[int, int] = GroupCommit("test", handle, closed=Closed)
    with pytest.raises(Closed):
        await batcher.submit(1)  # not started
    batcher.start()
    pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    await batcher.stop()
    assert [await p for p in pending] == list(range(5))
    with pytest.raises(Closed):
        await batcher.submit(6)


async def test_a_handler_that_raises_fails_its_whole_batch_only() -> None:
    calls = 0

    async def handle(batch: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        return list(batch)

    batcher: GroupCommit[int, int] = GroupCommit("test", handle, closed=Closed)
    batcher.start()
    try:
        first = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert [str(e) for e in first] == ["database gone", "database gone"]
        assert await batcher.submit(3) == 3
    finally:
        await batcher.stop()


def test_a_batch_needs_room_for_one() -> None:
    async def handle(batch: Sequence[int]) -> list[int | BaseException]:
        return list(batch)

    with pytest.raises(ValueError):
        GroupCommit("test", handle, closed=Closed, max_batch=0)
