"""The gateway's receipt outbox on its own, over the memory bus: receipts of acks held per
addressee for a window, merged to the highest marks, published as one event per user when the
user's window closes; other events pass through; stopping publishes what is held."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from casebook.engines.messaging import events
from casebook.engines.messaging.gateway import ReceiptOutbox
from casebook.platform.bus import MemoryBus

SYSTEM = "instant-messenger"


def receipts(to: int, *marks: tuple[int, int, int, int]) -> tuple[str, int, dict[str, Any]]:
    """A service event for user `to`: marks as (conversation, member, delivered, read)."""
    return (
        "u",
        to,
        {
            "type": "receipts",
            "receipts": [
                {
                    "conversation_id": str(c),
                    "user_id": str(u),
                    "delivered_seq": d,
                    "read_seq": r,
                }
                for c, u, d, r in marks
            ],
        },
    )


class Listener:
    """What the bus delivered on a user's channel, with when (monotonic)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, dict[str, Any]]] = []
        self._arrived = asyncio.Event()

    def __call__(self, raw: bytes) -> None:
        self.got.append((time.monotonic(), events.decode(raw)))
        self._arrived.set()

    async def until(self, count: int) -> None:
        """Wait (up to 5 s) until `count` events have arrived."""
        async with asyncio.timeout(5):
            while len(self.got) < count:
                self._arrived.clear()
                await self._arrived.wait()


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    yield bus
    await bus.close()


async def listen(bus: MemoryBus, user_id: int, stack: contextlib.AsyncExitStack) -> Listener:
    listener = Listener()
    await stack.enter_async_context(
        bus.subscribe(events.user_channel(SYSTEM, user_id), listener=listener)
    )
    return listener


async def test_a_users_receipts_merge_to_the_highest_marks_in_one_event(bus: MemoryBus) -> None:
    outbox = ReceiptOutbox(bus, SYSTEM, delay=0.2)
    outbox.start()
    async with contextlib.AsyncExitStack() as stack:
        alice = await listen(bus, 1, stack)
        carol = await listen(bus, 3, stack)
        opened = time.monotonic()
        assert outbox.hold([receipts(1, (10, 2, 5, 0))]) == []
        await asyncio.sleep(0.05)
        typing = ("c", 10, {"type": "typing", "conversation_id": "10"})
        passed = outbox.hold(
            [
                receipts(1, (10, 2, 4, 0), (10, 4, 6, 0)),  # bob's older mark; dave's first
                typing,
                receipts(3, (11, 2, 9, 9)),
            ]
        )
        assert passed == [typing]  # not a receipt: the caller publishes it now
        assert outbox.held == 2
        await alice.until(1)
        await carol.until(1)
        [(at, event)] = alice.got
        assert event == {
            "type": "receipts",
            "receipts": [
                {"conversation_id": "10", "user_id": "2", "delivered_seq": 5, "read_seq": 0},
                {"conversation_id": "10", "user_id": "4", "delivered_seq": 6, "read_seq": 0},
            ],
        }
        assert at - opened >= 0.2  # held for the window its first receipt opened
        # Carol's window opened 50 ms later, so it closes later: windows spread over time.
        assert carol.got[0][0] >= at
        assert carol.got[0][1]["receipts"] == [
            {"conversation_id": "11", "user_id": "2", "delivered_seq": 9, "read_seq": 9}
        ]
        # A new receipt after the window closed opens a new one: a second event, later.
        outbox.hold([receipts(1, (10, 2, 7, 7))])
        assert outbox.held == 1
        await alice.until(2)
        assert alice.got[1][1]["receipts"][0]["read_seq"] == 7
    await outbox.stop()


async def test_stopping_publishes_what_is_held_at_once(bus: MemoryBus) -> None:
    outbox = ReceiptOutbox(bus, SYSTEM, delay=60.0)
    outbox.start()
    async with contextlib.AsyncExitStack() as stack:
        alice = await listen(bus, 1, stack)
        outbox.hold([receipts(1, (10, 2, 5, 1))])
        await asyncio.sleep(0.05)
        assert alice.got == []
        await asyncio.wait_for(outbox.stop(), 1.0)
        assert [event["receipts"][0]["delivered_seq"] for _, event in alice.got] == [5]
        assert outbox.held == 0
