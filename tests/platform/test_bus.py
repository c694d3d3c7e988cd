"""The bus on both adapters, and across processes on Redis."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from casebook.platform.bus import Bus, MemoryBus, RedisBus, SubscriberTooSlow, Subscription
from casebook.platform.context import Platform
from tests.servers import kill_bus_subscribers

ROOT = Path(__file__).resolve().parents[2]


async def _next(messages: Subscription, within: float = 2.0) -> bytes:
    async with asyncio.timeout(within):
        return await anext(messages)


async def _nothing_arrives(messages: Subscription) -> bool:
    try:
        await _next(messages, within=0.1)
    except TimeoutError:
        return True
    return False


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    adapter: Bus
    adapter = (
        MemoryBus()
        if request.param == "memory"
        else RedisBus.from_url(request.getfixturevalue("redis_url"))
    )
    yield adapter
    await adapter.close()


async def test_a_message_reaches_every_subscriber_of_its_channel_only(bus: Bus) -> None:
    async with (
        bus.subscribe("room:1") as first,
        bus.subscribe("room:1") as second,
        bus.subscribe("room:2") as elsewhere,
    ):
        await bus.publish("room:1", b"hello")
        assert await _next(first) == b"hello"
        assert await _next(second) == b"hello"
        assert await _nothing_arrives(elsewhere)


async def test_messages_from_one_publisher_arrive_in_order(bus: Bus) -> None:
    async with bus.subscribe("ticks") as messages:
        for number in range(50):
            await bus.publish("ticks", str(number).encode())
        received = [await _next(messages) for _ in range(50)]
    assert received == [str(n).encode() for n in range(50)]


async def test_publish_many_delivers_in_order_to_each_channel(bus: Bus) -> None:
    async with bus.subscribe("a") as first, bus.subscribe("b") as second:
        await bus.publish_many([("a", b"1"), ("b", b"x"), ("a", b"2"), ("a", b"3")])
        await bus.publish_many([])
        assert [await _next(first) for _ in range(3)] == [b"1", b"2", b"3"]
        assert await _next(second) == b"x"


async def test_messages_published_before_subscribing_are_not_delivered(bus: Bus) -> None:
    await bus.publish("news", b"old")
    async with bus.subscribe("news") as messages:
        await bus.publish("news", b"new")
        assert await _next(messages) == b"new"


async def test_leaving_the_block_unsubscribes(bus: Bus) -> None:
    async with bus.subscribe("c") as messages:
        pass
    await bus.publish("c", b"after")
    with pytest.raises(StopAsyncIteration):
        await _next(messages)
    async with bus.subscribe("c") as again:  # resubscribing the same channel works
        await bus.publish("c", b"again")
        assert await _next(again) == b"again"


async def test_closing_the_bus_ends_iteration_of_waiting_subscribers(bus: Bus) -> None:
    async with bus.subscribe("c") as messages:
        waiting = asyncio.create_task(_next(messages))
        await asyncio.sleep(0.01)
        await bus.close()
        with pytest.raises(StopAsyncIteration):
            await waiting


async def test_only_bytes_are_published(bus: Bus) -> None:
    with pytest.raises(TypeError):
        await bus.publish("c", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await bus.publish("", b"x")


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_slow_subscriber_is_dropped_without_stalling_the_others(
    kind: str, request: pytest.FixtureRequest
) -> None:
    adapter: Bus = (
        MemoryBus(queue_size=3)
        if kind == "memory"
        else RedisBus.from_url(request.getfixturevalue("redis_url"), queue_size=3)
    )
    try:
        async with adapter.subscribe("feed") as slow, adapter.subscribe("feed") as fast:
            received_fast = []
            for number in range(5):
                await adapter.publish("feed", str(number).encode())
                received_fast.append(await _next(fast))
            assert received_fast == [b"0", b"1", b"2", b"3", b"4"]
            assert [await _next(slow) for _ in range(3)] == [b"0", b"1", b"2"]
            with pytest.raises(SubscriberTooSlow):
                await _next(slow)
    finally:
        await adapter.close()


async def test_a_listener_is_handed_every_message_in_order(bus: Bus) -> None:
    """A failing listener loses only its own message; leaving the block stops the calls."""
    heard: list[bytes] = []
    done = asyncio.Event()

    def listener(message: bytes) -> None:
        if message == b"boom":
            raise RuntimeError("a listener bug")
        heard.append(message)
        if message == b"after":
            done.set()

    async with bus.subscribe("hub", listener=listener) as subscription:
        await bus.publish_many([("hub", str(n).encode()) for n in range(5)])
        await bus.publish("hub", b"boom")
        await bus.publish("hub", b"after")
        async with asyncio.timeout(5):
            await done.wait()
        assert heard == [b"0", b"1", b"2", b"3", b"4", b"after"]
        assert await _nothing_arrives(subscription)  # a listener's messages are not buffered
    await bus.publish("hub", b"gone")
    await asyncio.sleep(0.1)
    assert heard[-1] == b"after"


async def test_a_memory_listener_is_called_inside_publish_whatever_the_buffer_size() -> None:
    bus = MemoryBus(queue_size=2)
    heard: list[bytes] = []
    async with bus.subscribe("hub", listener=heard.append):
        for number in range(5):  # more than a buffer holds, with no pause between them
            await bus.publish("hub", str(number).encode())
            assert heard[-1] == str(number).encode()
    assert len(heard) == 5


async def test_a_redis_listener_is_told_when_messages_were_lost(redis_url: str) -> None:
    """After the connection drops, messages published until the channel is subscribed again
    are gone: `on_lost` is called once the subscription is back, so the subscriber rereads its
    durable state, and what is published after that arrives."""
    bus = RedisBus.from_url(redis_url)
    heard: list[bytes] = []
    lost, after = asyncio.Event(), asyncio.Event()

    def listener(message: bytes) -> None:
        heard.append(message)
        if message == b"after":
            after.set()

    try:
        async with bus.subscribe("fragile", listener=listener, on_lost=lost.set):
            await bus.publish("fragile", b"before")
            assert await kill_bus_subscribers(bus) == 1
            async with asyncio.timeout(5):
                await lost.wait()
            await bus.publish("fragile", b"after")
            async with asyncio.timeout(5):
                await after.wait()
            assert heard[0] == b"before"
    finally:
        await bus.close()


async def test_two_redis_buses_exchange_messages(redis_url: str) -> None:
    """Separate clients, as two app processes would have."""
    sender, receiver = RedisBus.from_url(redis_url), RedisBus.from_url(redis_url)
    try:
        async with receiver.subscribe("orders") as messages:
            await sender.publish("orders", b"filled")
            assert await _next(messages) == b"filled"
            number_of_subscribers = await sender.client.pubsub_numsub("casebook:bus:orders")
            assert number_of_subscribers == [(b"casebook:bus:orders", 1)]
        await asyncio.sleep(0.05)
        assert await sender.client.pubsub_numsub("casebook:bus:orders") == [
            (b"casebook:bus:orders", 0)
        ]
    finally:
        await sender.close()
        await receiver.close()


async def test_a_redis_subscriber_resubscribes_after_its_connection_drops(redis_url: str) -> None:
    bus = RedisBus.from_url(redis_url)
    try:
        async with bus.subscribe("resilient") as messages:
            killed = await kill_bus_subscribers(bus)
            assert killed == 1
            # Messages published while it reconnects are lost (at most once); keep publishing
            # until one gets through on the new connection.
            received = None
            async with asyncio.timeout(5):
                while received is None:
                    await bus.publish("resilient", b"still here")
                    with contextlib.suppress(TimeoutError):
                        received = await _next(messages, within=0.1)
            assert received == b"still here"
    finally:
        await bus.close()


async def _peer(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.platform.bus_peer",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )


async def test_a_message_published_by_another_process_is_received(redis_url: str) -> None:
    bus = RedisBus.from_url(redis_url)
    try:
        async with bus.subscribe("cross") as messages:
            peer = await _peer("publish", redis_url, "cross", "from-the-other-process")
            assert await peer.wait() == 0
            assert await _next(messages, within=5) == b"from-the-other-process"
    finally:
        await bus.close()


async def test_a_message_published_here_is_received_by_another_process(redis_url: str) -> None:
    bus = RedisBus.from_url(redis_url)
    peer = await _peer("listen", redis_url, "cross-back")
    try:
        assert peer.stdout is not None
        async with asyncio.timeout(10):
            assert (await peer.stdout.readline()).strip() == b"ready"
            await bus.publish("cross-back", b"from-the-test-process")
            assert (await peer.stdout.readline()).strip() == b"from-the-test-process"
            assert await peer.wait() == 0
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
        await bus.close()


async def test_platform_bus_matches_the_backend(platform: Platform) -> None:
    expected = RedisBus if platform.settings.uses_redis else MemoryBus
    assert isinstance(platform.bus, expected)
    async with platform.bus.subscribe("system:events") as messages:
        await platform.bus.publish("system:events", b"started")
        assert await _next(messages) == b"started"
