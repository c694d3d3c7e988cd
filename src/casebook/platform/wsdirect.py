"""A WebSocket's frames without ASGI's coroutines, where the server allows it: text frames
written at once (`direct_writer`), and received messages pushed to a callback as they are
parsed (`push_receive`).

An ASGI send is a coroutine: every frame costs one, an await of the server's flow control and,
when the code that has the frame is not the socket's own task, a task to wake. A chat node
writes tens of thousands of small frames a second, most of them from code that is no task of
the socket's (the hub handing an event just published to every local subscriber). For a socket
served by uvicorn's default WebSocket protocol (`WebSocketsSansIOProtocol`: the `websockets`
library's sans-I/O state machine under an asyncio protocol), `direct_writer` returns a plain
function that writes one text frame to the transport at once, as that protocol's own `send`
does, and returns True — or returns False and writes nothing when it cannot: the transport is
paused for flow control (the ASGI send would wait), the socket is closing or closed, or the
handshake is not complete. The caller then takes the ASGI send, which waits or raises as it
should. Any other server (granian, Starlette's TestClient) gets None: ASGI sends only.

Receiving is the same in reverse. An ASGI reader awaits `receive()` for every message, so a
socket that waits for its client keeps a coroutine, a queue getter and a future alive. With
10,000 sockets those are some 100,000 objects made anew as each frame arrives, so they are
young at every young garbage collection, which walks them all (80-110 ms with 10,000 chat
sockets, session 18). And uvicorn pauses the transport after each message until the next
`receive()`. `push_receive` swaps the protocol's receive queue for one that hands each message
to a callback inside the protocol's `data_received`: no waiter per socket, no pause per frame.
Reading is then the callback's owner's to pause (`PushedReceive.pause`), as uvicorn did.

Both read the protocol object behind the server's `send` and `receive`, which is not a public
API. They check the class and every attribute they use up front, and
tests/platform/test_wsdirect.py fails when an upgrade of uvicorn or websockets changes them,
rather than letting the fast paths quietly fall away. Cost per frame: the frame's encoding or
parsing by `websockets` and one transport call, O(frame).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import Message, Receive, Send

log = structlog.get_logger("casebook.wsdirect")

DirectWriter = Callable[[str], bool]
"""Writes one text frame now and returns True, or writes nothing and returns False."""

_ATTRIBUTES = (
    "conn",
    "transport",
    "writable",
    "close_sent",
    "disconnected",
    "handshake_complete",
    "initial_response",
)


def _sansio_protocol() -> Any:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
    except ImportError:  # uvicorn or websockets not installed: ASGI sends only
        return None
    return WebSocketsSansIOProtocol


def direct_writer(send: Send | None) -> DirectWriter | None:
    """A function writing text frames straight to the socket whose ASGI `send` this is (the
    server's own, not a middleware's wrapper), or None when the server is not one it knows."""
    protocol: Any = getattr(send, "__self__", None)
    known = _sansio_protocol()
    if protocol is None or known is None or type(protocol) is not known:
        return None
    if not all(hasattr(protocol, name) for name in _ATTRIBUTES):
        return None
    from websockets.exceptions import InvalidState

    conn = protocol.conn
    writable = protocol.writable

    def write(text: str) -> bool:
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.handshake_complete
            or protocol.initial_response is not None
            or not writable.is_set()
        ):
            return False
        transport = protocol.transport
        if transport.is_closing():
            return False
        try:
            conn.send_text(text.encode())
        except InvalidState:  # the client's close frame arrived: the ASGI send reports it
            return False
        transport.write(b"".join(conn.data_to_send()))
        return True

    return write


class _PushedQueue:
    """Stands in for a uvicorn protocol's receive queue: each message put goes to `deliver`."""

    def __init__(self, deliver: Callable[[Message], None]) -> None:
        self.deliver = deliver

    def put_nowait(self, message: Message) -> None:
        try:
            self.deliver(message)
        except Exception:  # never into the server's data_received
            log.exception("a pushed WebSocket message failed", message_type=message.get("type"))

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0

    async def get(self) -> Message:
        raise RuntimeError("this socket's messages are pushed (wsdirect.push_receive)")


class PushedReceive:
    """A socket whose received messages are pushed: reading is paused and resumed here."""

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self.paused = False

    def pause(self) -> None:
        """Stop reading from the client (the caller has too much of its input to handle)."""
        transport = self._protocol.transport
        if not self.paused and not transport.is_closing():
            self.paused = True
            transport.pause_reading()

    def resume(self) -> None:
        transport = self._protocol.transport
        if self.paused and not transport.is_closing():
            self.paused = False
            transport.resume_reading()


def push_receive(
    receive: Receive | None, deliver: Callable[[Message], None]
) -> PushedReceive | None:
    """Hand every message the server receives on the socket whose ASGI `receive` this is (the
    server's own) to `deliver`, synchronously, from now on — first those already queued — and
    never pause reading after a message; None (nothing changed) when the server is not one it
    knows. `deliver` must not block: it runs inside the protocol's `data_received`. After
    this, `receive()` must not be called again. A disconnect may come more than once (uvicorn
    queues one for the client's close frame and another when the connection is lost)."""
    protocol: Any = getattr(receive, "__self__", None)
    known = _sansio_protocol()
    if protocol is None or known is None or type(protocol) is not known:
        return None
    if not all(hasattr(protocol, name) for name in ("queue", "read_paused", "transport")):
        return None
    queued = protocol.queue
    was_paused = protocol.read_paused
    protocol.queue = _PushedQueue(deliver)
    # uvicorn pauses the transport after each message it queues unless it is paused already;
    # it believes so from now on, and reading is paused only by `PushedReceive.pause`.
    protocol.read_paused = True
    while not queued.empty():
        protocol.queue.put_nowait(queued.get_nowait())
    if was_paused and not protocol.transport.is_closing():
        protocol.transport.resume_reading()
    return PushedReceive(protocol)
