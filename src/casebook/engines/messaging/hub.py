"""The per-process hub: one bus subscription per channel, shared by every local socket.

A process holds many sockets; many of them belong to the same conversations. The hub subscribes
to a conversation's channel (`msg:<system>:c:<id>`) once, when the first local socket of a member
wants it, and unsubscribes when the last one leaves (reference counting); the same for user
channels (`msg:<system>:u:<id>`, one per user with a local socket). Each event read off a channel
is decoded once and offered, with its JSON text, to every local subscriber of that channel.

`offer` never blocks: a subscriber buffers what it is offered in a bounded queue and, when it is
full, gives up (the gateway closes that socket with 4429 and the client resumes from its cursor).
So one slow socket can neither stall the others nor grow memory without bound.

The hub subscribes with a bus listener: the bus calls `_deliver` as each event arrives (inside
the writer's publish on the memory bus, in the reader task on Redis), so an event costs no task
switch between the bus and the sockets' queues, and the hub never falls behind the bus. When the
bus itself lost events of a channel (Redis: the connection dropped; the bus says so once the
channel is subscribed again), every local subscriber of it is told (`fell_behind`) and rereads
the conversation's log past what it sent.

Costs: `watch`/`unwatch` O(1) plus, for a channel's first watcher, one bus subscription (a Redis
round trip in cluster mode); delivering an event is one decode plus O(local subscribers of the
channel) non-blocking offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from casebook.engines.messaging import events
from casebook.platform.bus import Bus

log = structlog.get_logger("casebook.messaging.hub")

SUBSCRIBE_TIMEOUT = 5.0
"""Seconds `watch` waits for the bus to confirm a new subscription."""


class HubSubscriber(Protocol):
    """What the hub needs of a socket."""

    def offer(self, channel: str, event: dict[str, Any], text: str) -> None:
        """Take `event` (read off `channel`; shared, never mutate it) without blocking. `text`
        is the event as published (JSON), for subscribers that pass it on unchanged."""

    def fell_behind(self, channel: str) -> None:
        """Events of `channel` were lost; the subscriber must resynchronise."""


class HubClosed(RuntimeError):
    """The hub was stopped; no new watches."""


@dataclass(eq=False)
class _Channel:
    name: str
    subscribers: set[HubSubscriber] = field(default_factory=set)
    ready: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    task: asyncio.Task[None] | None = None


class Hub:
    """Refcounted bus subscriptions for the sockets of one system in one process."""

    def __init__(self, bus: Bus, system: str, *, subscribe_timeout: float = SUBSCRIBE_TIMEOUT):
        self.bus = bus
        self.system = system
        self.subscribe_timeout = subscribe_timeout
        self._channels: dict[str, _Channel] = {}
        self._watching: dict[HubSubscriber, set[str]] = {}
        self._closed = False

    @property
    def channel_count(self) -> int:
        """Bus subscriptions this hub holds now."""
        return len(self._channels)

    def subscribers(self, channel: str) -> int:
        """Local subscribers of `channel`."""
        found = self._channels.get(channel)
        return len(found.subscribers) if found else 0

    async def watch(self, subscriber: HubSubscriber, channel: str) -> None:
        """Offer `subscriber` every event published on `channel` from now on.

        Returns once the bus has confirmed the subscription, so anything published after the
        return reaches the subscriber. Idempotent. Raises `HubClosed` after `stop`, and
        TimeoutError when the bus does not confirm within `subscribe_timeout`.
        """
        if self._closed:
            raise HubClosed("the messaging hub is stopped")
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = _Channel(channel)
            entry.task = asyncio.create_task(self._pump(entry), name=f"hub:{channel}")
        entry.subscribers.add(subscriber)
        self._watching.setdefault(subscriber, set()).add(channel)
        try:
            await asyncio.wait_for(asyncio.shield(entry.ready), self.subscribe_timeout)
        except BaseException:
            self._drop(subscriber, channel)
            raise

    def unwatch(self, subscriber: HubSubscriber, channel: str) -> None:
        """Stop offering `channel` to `subscriber`; the last one out ends the subscription."""
        self._drop(subscriber, channel)

    def detach(self, subscriber: HubSubscriber) -> None:
        """Forget `subscriber` on every channel (its socket closed). O(its channels)."""
        for channel in list(self._watching.get(subscriber, ())):
            self._drop(subscriber, channel)
        self._watching.pop(subscriber, None)

    def watched(self, subscriber: HubSubscriber) -> frozenset[str]:
        return frozenset(self._watching.get(subscriber, ()))

    def _drop(self, subscriber: HubSubscriber, channel: str) -> None:
        channels = self._watching.get(subscriber)
        if channels is not None:
            channels.discard(channel)
            if not channels:
                del self._watching[subscriber]
        entry = self._channels.get(channel)
        if entry is None:
            return
        entry.subscribers.discard(subscriber)
        if not entry.subscribers:
            del self._channels[channel]
            if entry.task is not None:
                entry.task.cancel()

    async def _pump(self, entry: _Channel) -> None:
        """Read `entry`'s channel until it has no subscriber (then this task is cancelled)."""
        while True:
            try:
                # A listener: each event is offered inside the bus's own delivery, with no
                # buffer and no wake-up of this task (which only holds the subscription).
                async with self.bus.subscribe(
                    entry.name,
                    listener=functools.partial(self._deliver, entry),
                    on_lost=functools.partial(self._lost, entry),
                ) as messages:
                    if not entry.ready.done():
                        entry.ready.set_result(None)
                    async for raw in messages:  # nothing is buffered with a listener
                        self._deliver(entry, raw)
                return  # the bus was closed
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not entry.ready.done():
                    entry.ready.set_exception(error)
                    return
                log.exception("hub lost a channel; subscribing again", channel=entry.name)
                await asyncio.sleep(0.1)

    def _lost(self, entry: _Channel) -> None:
        log.warning("the bus lost events of a channel", channel=entry.name)
        for subscriber in list(entry.subscribers):
            subscriber.fell_behind(entry.name)

    def _deliver(self, entry: _Channel, raw: bytes) -> None:
        try:
            event = events.decode(raw)
            text = raw.decode()
        except ValueError:  # UnicodeDecodeError is one too
            log.warning("dropped a malformed event", channel=entry.name)
            return
        for subscriber in list(entry.subscribers):
            subscriber.offer(entry.name, event, text)

    async def stop(self) -> None:
        """End every subscription; later `watch` calls raise `HubClosed`."""
        self._closed = True
        tasks = [entry.task for entry in self._channels.values() if entry.task is not None]
        self._channels.clear()
        self._watching.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
