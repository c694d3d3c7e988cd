"""Publish/subscribe between tasks and processes: in-process (embedded) or Redis pub/sub.

A message is bytes on a named channel. `publish` reaches every subscriber that is subscribed at
that moment — in this process for `MemoryBus`, in every process on the same Redis for `RedisBus`.
Delivery is at most once and unordered across publishers (ordered per publisher): a subscriber
that was not listening, or a process that lost its Redis connection for a moment, misses
messages. Consumers that must not miss anything (realtime clients) resume from a durable cursor
and use the bus only as the "something changed" signal.

Each subscription has a bounded buffer (`queue_size`). A subscriber that falls that far behind is
dropped rather than allowed to grow memory or stall publishers: it receives what was buffered and
then `SubscriberTooSlow`, so it can resynchronise from its cursor.

    async with platform.bus.subscribe("url-shortener:clicks") as messages:
        async for message in messages:
            ...

A subscriber that only hands each message on without waiting (a fan-out hub) passes a
`listener` instead: it is called with each message as it arrives, inside the publisher's call
(memory) or the reader task (Redis), so a message costs no buffer, no task switch and no
`SubscriberTooSlow`. The listener must not block or raise (an exception is logged and the
message dropped); the subscription then yields nothing and ends when it is closed. With it
may come `on_lost`, called when the bus knows it lost messages of the channel: on Redis, once the
channel's subscription is confirmed again after the connection dropped (what was published in
between is gone; the subscriber rereads its durable state from then on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = structlog.get_logger("casebook.bus")

MAX_CHANNEL_LENGTH = 256

Listener = Callable[[bytes], None]
"""Called with each message of a subscription, synchronously (see the module docstring)."""


class SubscriberTooSlow(Exception):
    """The subscriber's buffer filled up, so it was dropped and has missed messages."""


class Bus(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None: ...

    def subscribe(
        self,
        channel: str,
        *,
        listener: Listener | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


class _Closed:
    """Marks the end of a subscription in its buffer."""


_CLOSED = _Closed()


class Subscription:
    """The messages of one channel for one subscriber, as an async iterator of bytes.

    Iteration ends when the subscription or the bus is closed, and raises `SubscriberTooSlow`
    (after the buffered messages) when the subscriber was dropped for falling behind.
    """

    def __init__(
        self,
        channel: str,
        queue_size: int,
        listener: Listener | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.channel = channel
        self._buffer: asyncio.Queue[bytes | _Closed] = asyncio.Queue(queue_size)
        self._listener = listener
        self._on_lost = on_lost
        self._closed = False
        self.overflowed = False

    def deliver(self, message: bytes) -> bool:
        """Buffer `message` (or hand it to the listener), O(1); False when the buffer is full
        (the caller then drops this subscription)."""
        if self._closed or self.overflowed:
            return False
        if self._listener is not None:
            try:
                self._listener(message)
            except Exception:
                log.exception("a bus listener failed; message dropped", channel=self.channel)
            return True
        try:
            self._buffer.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True

    def lost(self) -> None:
        """The bus lost messages of this channel: tell the subscriber, if it asked."""
        if self._on_lost is None or self._closed:
            return
        try:
            self._on_lost()
        except Exception:
            log.exception("a bus on_lost callback failed", channel=self.channel)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Wakes a consumer blocked in __anext__; when the buffer is full nobody is blocked.
        with contextlib.suppress(asyncio.QueueFull):
            self._buffer.put_nowait(_CLOSED)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> bytes:
        if self._buffer.empty():
            if self.overflowed:
                raise SubscriberTooSlow(f"subscriber of {self.channel!r} fell behind")
            if self._closed:
                raise StopAsyncIteration
        item = await self._buffer.get()
        if isinstance(item, _Closed):
            raise StopAsyncIteration
        return item


def _check(channel: str, message: bytes | None = None) -> None:
    if not channel or len(channel) > MAX_CHANNEL_LENGTH:
        raise ValueError(f"channel names are 1..{MAX_CHANNEL_LENGTH} characters")
    if message is not None and not isinstance(message, bytes):
        raise TypeError("bus messages are bytes")


class _FanOut:
    """The subscriptions of one process, by channel."""

    def __init__(self, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self.channels: dict[str, set[Subscription]] = {}

    def add(
        self,
        channel: str,
        listener: Listener | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> tuple[Subscription, bool]:
        """A new subscription and whether it is the channel's first in this process."""
        subscription = Subscription(channel, self.queue_size, listener, on_lost)
        subscribers = self.channels.setdefault(channel, set())
        subscribers.add(subscription)
        return subscription, len(subscribers) == 1

    def remove(self, subscription: Subscription) -> bool:
        """Close and forget `subscription`; True when its channel has no subscriber left."""
        subscription.close()
        subscribers = self.channels.get(subscription.channel)
        if subscribers is None:
            return False
        subscribers.discard(subscription)
        if subscribers:
            return False
        del self.channels[subscription.channel]
        return True

    def deliver(self, channel: str, message: bytes) -> None:
        """Hand `message` to each local subscriber of `channel`; O(subscribers)."""
        subscribers = self.channels.get(channel)
        if not subscribers:
            return
        for subscription in list(subscribers):
            if not subscription.deliver(message) and subscription.overflowed:
                subscribers.discard(subscription)
                log.warning("dropped a slow subscriber", channel=channel)

    def lost(self, channel: str) -> None:
        """Messages of `channel` were lost: tell its subscribers that asked."""
        for subscription in list(self.channels.get(channel, ())):
            subscription.lost()

    def close_all(self) -> None:
        for subscribers in self.channels.values():
            for subscription in subscribers:
                subscription.close()
        self.channels.clear()


class MemoryBus:
    """Fan-out to the subscribers of this process. `publish` is O(subscribers of the channel)."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._fanout = _FanOut(queue_size)

    async def publish(self, channel: str, message: bytes) -> None:
        """Deliver `message` to the current subscribers of `channel`; never blocks."""
        _check(channel, message)
        self._fanout.deliver(channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """`publish` each (channel, message) in order."""
        for channel, message in messages:
            _check(channel, message)
            self._fanout.deliver(channel, message)

    @asynccontextmanager
    async def subscribe(
        self,
        channel: str,
        *,
        listener: Listener | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> AsyncIterator[Subscription]:
        """Subscribe for the duration of the block; messages published after entry arrive.
        (Nothing is lost in memory: `on_lost` is never called.)"""
        _check(channel)
        subscription, _ = self._fanout.add(channel, listener, on_lost)
        try:
            yield subscription
        finally:
            self._fanout.remove(subscription)

    async def close(self) -> None:
        self._fanout.close_all()


class RedisBus:
    """Redis pub/sub with one connection per process for all of its subscriptions.

    One reader task takes messages off that connection and fans them out to the local
    subscriptions, so a thousand websockets on one channel cost one Redis subscription. Channels
    are namespaced under `prefix` in Redis. If the connection drops, redis-py reconnects and
    subscribes again; messages published meanwhile are lost (see the module docstring).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "casebook:bus:",
        queue_size: int = 1000,
        subscribe_timeout: float = 5.0,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self._prefix = prefix
        self._owns_client = owns_client
        self._fanout = _FanOut(queue_size)
        self._subscribe_timeout = subscribe_timeout
        self._pubsub: PubSub = client.pubsub()
        self._lock = asyncio.Lock()
        self._confirmations: dict[bytes, asyncio.Event] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, *, queue_size: int = 1000) -> RedisBus:
        return cls(Redis.from_url(url), queue_size=queue_size, owns_client=True)

    async def publish(self, channel: str, message: bytes) -> None:
        """PUBLISH `message`; one round trip. Raises redis.exceptions.RedisError on failure."""
        _check(channel, message)
        await self.client.publish(self._prefix + channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """PUBLISH each (channel, message) in order, pipelined: one round trip for all of them.
        Raises redis.exceptions.RedisError on failure (some may have been published)."""
        if not messages:
            return
        for channel, message in messages:
            _check(channel, message)
        async with self.client.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(self._prefix + channel, message)
            await pipe.execute()

    @asynccontextmanager
    async def subscribe(
        self,
        channel: str,
        *,
        listener: Listener | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> AsyncIterator[Subscription]:
        """Subscribe for the duration of the block.

        Entry returns once Redis has confirmed the subscription, so a message published (by any
        process) after entry is received. Raises TimeoutError if Redis does not confirm in time.
        """
        _check(channel)
        name = (self._prefix + channel).encode()
        async with self._lock:
            subscription, first = self._fanout.add(channel, listener, on_lost)
            if first:
                try:
                    await self._redis_subscribe(name)
                except BaseException:
                    self._fanout.remove(subscription)
                    raise
        try:
            yield subscription
        finally:
            async with self._lock:
                if self._fanout.remove(subscription):
                    await self._pubsub.unsubscribe(name)

    async def _redis_subscribe(self, name: bytes) -> None:
        confirmed = asyncio.Event()
        self._confirmations[name] = confirmed
        try:
            await self._pubsub.subscribe(name)
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="casebook-bus-reader")
            await asyncio.wait_for(confirmed.wait(), self._subscribe_timeout)
        finally:
            self._confirmations.pop(name, None)

    async def _read(self) -> None:
        """Route every message of the shared connection to the local subscribers."""
        prefix = self._prefix.encode()
        dropped: set[bytes] = set()
        """Channels subscribed when the connection last failed and not confirmed since."""
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bus connection failed; reconnecting")
                dropped.update(self._prefix.encode() + c.encode() for c in self._fanout.channels)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            kind = message["type"]
            channel: bytes = message["channel"]
            if kind == "message":
                self._fanout.deliver(channel.removeprefix(prefix).decode(), message["data"])
            elif kind == "subscribe":
                confirmed = self._confirmations.get(channel)
                if confirmed is not None:
                    confirmed.set()
                if channel in dropped:  # resubscribed after a drop: tell who asked
                    dropped.discard(channel)
                    self._fanout.lost(channel.removeprefix(prefix).decode())

    async def close(self) -> None:
        """End every subscription and release the connections."""
        self._fanout.close_all()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._owns_client:
            await self.client.aclose()
