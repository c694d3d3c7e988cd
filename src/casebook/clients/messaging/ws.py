"""A small asyncio client of the messaging engine's WebSocket (`/ws/<slug>`).

It speaks the protocol documented in `casebook.engines.messaging.gateway`: it sends the hello,
waits for `ready`, keeps the device's presence alive with `ping` frames, matches replies to
requests by `ref`, and queues every other server frame (messages, receipts, typing, presence…) for
`next_event`. Tests, the bench and the end-to-end client use it.

    async with connect("ws://127.0.0.1:8000/ws/instant-messenger", token=t, device_id=d) as sock:
        sent = await sock.send_message(conversation_id, "hello")
        event = await sock.next_event("message")
        await sock.ack(event["conversation_id"], event["seq"])

Delivery is at least once across connections: after a reconnect the server resends what the
device had not acknowledged, so a caller that persists messages keys them by (conversation, seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin


class SocketError(Exception):
    """The server answered a request with an error frame; `problem` is its problem+json."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or "error")
        self.problem = problem

    @property
    def status(self) -> int:
        return int(self.problem.get("status", 0))


class SocketClosed(Exception):
    """The server closed the socket; `code` and `reason` say why (see the gateway docstring)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"socket closed ({code}): {reason}")
        self.code = code
        self.reason = reason


def _closed_by(connection: ClientConnection) -> SocketClosed:
    """Why `connection` closed, as the server said (code and reason of its close frame)."""
    close = connection.protocol.close_rcvd
    if close is None:
        return SocketClosed(None, "connection lost")
    return SocketClosed(close.code, close.reason)


class MessagingSocket:
    """One authenticated socket. Create it with `connect`."""

    def __init__(self, connection: ClientConnection, ready: dict[str, Any]) -> None:
        self.connection = connection
        self.ready = ready
        self.user_id = str(ready["user_id"])
        self.device_id = str(ready["device_id"])
        self._events: asyncio.Queue[dict[str, Any] | SocketClosed] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._refs = itertools.count(1)
        self._closed: SocketClosed | None = None
        self._reader = asyncio.create_task(self._read(), name="messaging-socket-reader")
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def closed(self) -> SocketClosed | None:
        """Why the socket closed, once it has."""
        return self._closed

    def start_heartbeat(self, interval: float) -> None:
        """Send a `ping` every `interval` seconds (keeps presence alive)."""
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(interval), name="messaging-heartbeat")

    async def _beat(self, interval: float) -> None:
        with contextlib.suppress(SocketClosed, ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                await self.send_frame({"type": "ping"})

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                frame = orjson.loads(raw)
                ref = frame.get("ref")
                waiter = self._pending.pop(ref, None) if isinstance(ref, str) else None
                if waiter is not None and not waiter.done():
                    waiter.set_result(frame)
                else:
                    self._events.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            self._closed = _closed_by(self.connection)
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(self._closed)
            self._pending.clear()
            self._events.put_nowait(self._closed)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Send `frame` without waiting for any reply."""
        if self._closed is not None:
            raise self._closed
        await self.connection.send(orjson.dumps(frame).decode())

    async def request(self, frame: dict[str, Any], within: float = 10.0) -> dict[str, Any]:
        """Send `frame` with a fresh `ref` and return the server's reply to it.

        Raises SocketError for an error frame, SocketClosed if the socket closes first,
        TimeoutError after `within` seconds.
        """
        ref = f"r{next(self._refs)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = waiter
        try:
            await self.send_frame({**frame, "ref": ref})
            reply = await asyncio.wait_for(waiter, within)
        finally:
            self._pending.pop(ref, None)
        if reply.get("type") == "error":
            raise SocketError(reply.get("problem") or {})
        return reply

    async def send_message(
        self,
        conversation_id: str | int,
        body: str | None = None,
        *,
        client_id: str | None = None,
        kind: str = "text",
        data: dict[str, Any] | None = None,
        envelopes: dict[str, str] | None = None,
        within: float = 10.0,
    ) -> dict[str, Any]:
        """Send a message and return the server's `sent` frame: its `seq`, and in `message` the
        stored entry, which this socket is not sent again as a `message` event (the device's
        other sockets are).

        `client_id` makes retries safe: the same id in the same conversation is stored once.
        """
        frame: dict[str, Any] = {
            "type": "send",
            "conversation_id": str(conversation_id),
            "client_id": client_id or uuid.uuid4().hex,
            "kind": kind,
        }
        if body is not None:
            frame["body"] = body
        if data is not None:
            frame["data"] = data
        if envelopes is not None:
            frame["envelopes"] = envelopes
        return await self.request(frame, within)

    async def ack(self, conversation_id: str | int, seq: int, *, wait: bool = True) -> None:
        """Acknowledge everything up to `seq` (this device's cursor; also the delivered mark).
        With `wait`, returns once the server has stored it."""
        frame = {"type": "ack", "conversation_id": str(conversation_id), "seq": seq}
        if wait:
            await self.request(frame)
        else:
            await self.send_frame(frame)

    async def mark_read(self, conversation_id: str | int, seq: int) -> None:
        await self.request({"type": "read", "conversation_id": str(conversation_id), "seq": seq})

    async def typing(self, conversation_id: str | int) -> None:
        await self.request({"type": "typing", "conversation_id": str(conversation_id)})

    async def ping(self) -> dict[str, Any]:
        return await self.request({"type": "ping"})

    async def presence(self, user_ids: list[str]) -> list[dict[str, Any]]:
        reply = await self.request({"type": "presence", "user_ids": user_ids})
        users: list[dict[str, Any]] = reply["users"]
        return users

    async def next_event(self, *types: str, within: float = 5.0) -> dict[str, Any]:
        """The next server event (of one of `types`, skipping others when given).

        Raises TimeoutError after `within` seconds, SocketClosed once the socket has closed.
        """
        async with asyncio.timeout(within):
            while True:
                event = await self._events.get()
                if isinstance(event, SocketClosed):
                    self._events.put_nowait(event)  # every later call sees it too
                    raise event
                if not types or event.get("type") in types:
                    return event

    async def wait_closed(self, within: float = 5.0) -> SocketClosed:
        """Wait for the server to close the socket; returns why."""
        async with asyncio.timeout(within):
            await asyncio.shield(self._reader)
        assert self._closed is not None
        return self._closed

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await self.connection.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def open_socket(
    url: str,
    *,
    device_id: str | int,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
    heartbeat: bool = True,
    open_timeout: float = 10.0,
) -> MessagingSocket:
    """Connect, say hello and wait for `ready`; the caller closes the socket.

    Authenticate with `token` (an access token), or with `cookie` (the `casebook_access` cookie's
    value, as a browser would) plus `origin`. Raises SocketClosed when the server refuses.
    """
    headers = {"Cookie": f"casebook_access={cookie}"} if cookie else None
    connection = await ws_connect(
        url,
        origin=Origin(origin) if origin else None,
        additional_headers=headers,
        proxy=None,
        open_timeout=open_timeout,
        max_size=4 * 1024 * 1024,
        compression=None,
    )
    hello: dict[str, Any] = {"type": "hello", "device_id": str(device_id)}
    if token is not None:
        hello["token"] = token
    try:
        await connection.send(orjson.dumps(hello).decode())
        async with asyncio.timeout(open_timeout):
            raw = await connection.recv()
    except ConnectionClosed:
        raise _closed_by(connection) from None
    ready = orjson.loads(raw)
    if ready.get("type") != "ready":
        await connection.close()
        raise SocketClosed(None, f"expected ready, got {ready.get('type')!r}")
    socket = MessagingSocket(connection, ready)
    if heartbeat:
        socket.start_heartbeat(float(ready.get("heartbeat_interval", 20)))
    return socket


@asynccontextmanager
async def connect(
    url: str,
    *,
    device_id: str | int,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
    heartbeat: bool = True,
) -> AsyncIterator[MessagingSocket]:
    """`open_socket` as an async context manager that closes the socket on exit."""
    socket = await open_socket(
        url, device_id=device_id, token=token, cookie=cookie, origin=origin, heartbeat=heartbeat
    )
    try:
        yield socket
    finally:
        await socket.close()
