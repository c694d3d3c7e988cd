"""The realtime gateway: the WebSocket at `/ws/<slug>` that delivers a device's conversations.

Protocol (JSON text frames; ids are strings, seqs numbers)
=========================================================

Open and authenticate. The first client frame must arrive within `hello_timeout` (10 s):

    → {"type": "hello", "device_id": "<id>", "token": "<access token>"}

`token` is a JWT access token from `/api/auth/login`. A browser may leave it out: the
`casebook_access` cookie then authenticates, and only when the socket's `Origin` is the site's
own (the `Host` it connected to, or `settings.base_url`) — a page of another site cannot ride on
the cookie. The device must be a live device of that user in this system (`POST /devices`).
The server answers

    ← {"type": "ready", "user_id", "device_id", "heartbeat_interval": 20, "presence_ttl": 60}

then resumes: for every conversation of the user whose log goes past this device's cursor, it
sends the missing entries in seq order (read in pages of `resume_page`, so a device that was
offline for months does not fill memory), then `{"type": "resumed", "conversations": <how many
had something>}`, then live events as they happen.

Server events (each also arrives live):

- `{"type": "message", "conversation_id", "seq", "message": <message_view>}` — a log entry
  (messages, edits, deletes). Per conversation in seq order, each seq at most once per
  connection, none missing (a gap seen live is filled from the database first) — except the
  entries this socket sent itself, which its `sent` answers carry (the device's other sockets
  get them). For an E2E message `message.ciphertext` is this device's own envelope; a device
  without one gets nothing.
- `{"type": "receipts", "receipts": [{"conversation_id", "user_id", "delivered_seq",
  "read_seq"}, …]}` — members' marks moved past entries of this user (their ticks), or this
  user's own read mark moved (on another device: unread counts). Not sent for other members'
  entries, nor in channels to their authors. Marks only grow and a frame may repeat or trail
  one already received: keep the highest. The receipts of acks are held up to
  `receipt_delay` (1 s) and merged, one frame per user for what moved meanwhile; a read mark
  is sent at once.
- `{"type": "typing", "conversation_id", "user_id", "expires_at": <unix ms>}` (never one's own)
- `{"type": "presence", "user_id", "online", "last_seen"}` — a contact came or went
- `{"type": "joined" | "left", "conversation_id"}` and any other conversation/user event of
  events.py, passed through.

Client frames after `ready` (each may carry `"ref": "<≤64 chars>"`; the reply or error echoes it):

- `{"type": "send", "conversation_id", "client_id", "kind", "body"?, "data"?, "envelopes"?,
  "target_seq"?}` → `{"type": "sent", "ref", "conversation_id", "client_id", "seq", "id",
  "created_at", "duplicate", "message": <message_view>}`. A repeated client_id returns the first
  seq (idempotent). The entry is not sent again as a `message` frame on this socket.
- `{"type": "ack", "conversation_id", "seq"}` — everything up to seq reached this device: moves
  its cursor (and the user's delivered mark). Resume starts after it. The server counts it only
  up to what this socket has delivered (a `sent` answer can arrive before earlier entries).
  → `acked` when ref'd.
- `{"type": "read", "conversation_id", "seq"}` — the user read up to seq. → `read` when ref'd.
- `{"type": "typing", "conversation_id"}` — shown to the others for `typing_ttl` (6 s);
  published at most once per `typing_interval` (2 s) per socket and conversation; channel
  subscribers may not type (403). → `typing_sent` when ref'd.
- `{"type": "ping"}` → `{"type": "pong"}`; the heartbeat that keeps presence alive. Send one at
  least every `heartbeat_interval`; a socket silent for `presence_ttl` is closed.
- `{"type": "presence", "user_ids": [...]}` → `{"type": "presence_list", "users": [...]}` for
  those of the users who share a chat with the caller.
- `{"type": "call", "action": "start"|"accept"|"decline"|"end"|"signal", …}` → `call_reply`:
  call signalling by this socket's device (calls.py documents the frames).

A bad frame after `ready` is answered `{"type": "error", "ref", "problem": <problem+json>}` and
changes nothing; the socket stays open. Problems: `messaging/invalid-frame` and
`messaging/unknown-frame` (422), the engine's own (a conversation the user is not in is 404
`messaging/conversation-not-found`, whatever the frame), and `rate-limited` (429) beyond
`frame_rate` (50 frames/s, bursts of 200) — malformed frames count too.

Close codes:

| code | meaning | client should |
|------|---------|---------------|
| 1000 | normal closure | — |
| 1001 | server shutting down | reconnect (another node) and resume |
| 1009 | frame larger than `max_frame_bytes` | not send it again |
| 1011 | internal error (e.g. the bus did not confirm a subscription) | reconnect later |
| 4400 | first frame is not a valid hello | fix the client |
| 4401 | authentication failed (missing, bad or expired token) | refresh the token |
| 4403 | forbidden: not your device, revoked device, cross-site cookie | stop |
| 4408 | no hello in time, or no heartbeat for `presence_ttl` | reconnect |
| 4429 | this socket fell too far behind (`queue_size` events buffered) | reconnect; resumes |

Delivery is at least once across connections (a reconnect resends what was not acked), exactly
once and in order within one. The socket authenticates once, at hello: a token expiring later
does not close it; revoking the device does (close 4403).

Not here: API keys cannot open a socket (sessions only), and a node that dies without closing
its sockets publishes no "offline" presence (its devices' keys just expire; a query then says
offline).

Costs: per live event O(1) per socket (plus O(gap) reads when a gap is seen); resume O(missed
entries) in pages; a `send` waits for the writer's next group commit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import orjson
import structlog
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import Message, Receive, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState

from casebook.engines.messaging import calls, events, runtime, service
from casebook.engines.messaging import errors as service_errors
from casebook.engines.messaging.errors import ConversationNotFound, NotAllowed
from casebook.engines.messaging.hub import Hub, HubClosed
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingCursor,
    MessagingMember,
)
from casebook.engines.messaging.presence import HEARTBEAT_INTERVAL, PRESENCE_TTL, Presence
from casebook.engines.messaging.views import message_view
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth import tokens
from casebook.platform.auth.cookies import ACCESS_COOKIE
from casebook.platform.bus import Bus
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput, Problem, TooManyRequests, Unauthorized
from casebook.platform.ratelimit import RateLimit, gcra
from casebook.platform.registry import RAW_RECEIVE, RAW_SEND
from casebook.platform.wsdirect import DirectWriter, PushedReceive, direct_writer, push_receive

log = structlog.get_logger("casebook.messaging.gateway")


class CloseCode:
    NORMAL = 1000
    GOING_AWAY = 1001
    TOO_BIG = 1009
    INTERNAL = 1011
    BAD_HELLO = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    TIMEOUT = 4408
    TOO_SLOW = 4429


FRAME_RATE = RateLimit(rate=50.0, burst=200)


@dataclass(frozen=True)
class GatewayConfig:
    """The gateway's limits and timers (seconds), per system and process."""

    hello_timeout: float = 10.0
    queue_size: int = 1024
    """Live events buffered per socket; one more and the socket is closed (4429)."""
    resume_page: int = 200
    max_frame_bytes: int = 1024 * 1024
    presence_ttl: float = PRESENCE_TTL
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    typing_ttl: float = 6.0
    typing_interval: float = 2.0
    """A user's typing in one conversation is published at most this often."""
    frame_rate: RateLimit = FRAME_RATE
    """Client frames per socket; beyond it frames are refused with an error (429)."""
    max_handshakes: int = 8
    """Sockets subscribing and resuming at once per process; more wait their turn (storms)."""
    ack_delay: float = 0.02
    """Acks wait at most this long to share a transaction with others (the `AckBatcher`)."""
    ack_batch: int = 2000
    receipt_delay: float = 1.0
    """The receipts of acks are held this long per addressee and sent as one frame (the
    `ReceiptOutbox`); 0 sends each ack batch's receipts at once."""


class InvalidFrame(InvalidInput):
    type_ = "messaging/invalid-frame"
    title = "The frame is not valid"


class UnknownFrame(InvalidInput):
    type_ = "messaging/unknown-frame"
    title = "Unknown frame type"


IdText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]
Ref = Annotated[str, StringConstraints(max_length=64)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str
    ref: Ref | None = None


class _Hello(_Frame):
    device_id: IdText
    token: Annotated[str, StringConstraints(max_length=4096)] | None = None


class _Mark(_Frame):
    conversation_id: IdText
    seq: int = Field(ge=0, le=2**53)


class _Typing(_Frame):
    conversation_id: IdText


class _Send(_Frame):
    conversation_id: IdText
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    kind: Annotated[str, StringConstraints(max_length=12)] = "text"
    body: str | None = None
    data: dict[str, Any] | None = None
    envelopes: dict[IdText, Annotated[str, StringConstraints(max_length=1_500_000)]] | None = None
    target_seq: int | None = Field(default=None, ge=1, le=2**53)


class _PresenceQuery(_Frame):
    user_ids: list[IdText] = Field(max_length=200)


F = TypeVar("F", bound=_Frame)


def _parse(model: type[F], frame: dict[str, Any]) -> F:
    try:
        return model.model_validate(frame)
    except ValidationError as error:
        problems = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in error.errors()
        ]
        raise InvalidFrame(f"Bad {frame.get('type')!r} frame.", errors=problems) from None


_GONE = (WebSocketDisconnect, OSError, RuntimeError)
"""What writing to or reading from a socket the client has already left raises (Starlette's
RuntimeError after a close, uvicorn's ClientDisconnected, an OSError of the transport)."""


class AckBatcher:
    """Commits the acks of every socket of the process together: one transaction every
    `ack_delay` seconds (or `ack_batch` acks) instead of one per ack frame.

    A phone acks each message it receives; one write transaction per ack would make the
    device cursors cost more than the messages (on SQLite every transaction also queues behind
    the writer's). An ack sent with a `ref` is answered only once its batch has committed, so
    "acked" still means durable; acks without one are fire-and-forget. A crash loses at most the
    last `ack_delay` of acks, which only means those messages are resent on reconnect — delivery
    is at least once and clients dedupe by seq. O(1) per ack to queue; one batch is
    `service.ack_many` (a constant number of statements plus one per moved delivered mark).
    """

    def __init__(
        self,
        platform: Platform,
        system: str,
        delay: float,
        limit: int,
        *,
        outbox: ReceiptOutbox | None = None,
    ) -> None:
        self.platform = platform
        self.system = system
        self.delay = delay
        self.limit = limit
        self.outbox = outbox
        """Where the batches' receipts wait to be merged; None publishes them at once."""
        self._pending: list[tuple[service.Ack, asyncio.Future[None] | None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"acks:{self.system}")

    def add(self, ack: service.Ack, *, wait: bool) -> asyncio.Future[None] | None:
        """Queue `ack`; with `wait`, a future resolved when it has committed."""
        future: asyncio.Future[None] | None = (
            asyncio.get_running_loop().create_future() if wait else None
        )
        self._pending.append((ack, future))
        self._wake.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._closed and len(self._pending) < self.limit:
                await asyncio.sleep(self.delay)  # let the acks of this moment join the batch
            batch, self._pending = self._pending, []
            if batch:
                await self._commit(batch)
            if self._closed and not self._pending:
                return

    async def _commit(self, batch: list[tuple[service.Ack, asyncio.Future[None] | None]]) -> None:
        try:
            async with self.platform.db.session(write=True) as session:
                published = await service.ack_many(session, self.system, [ack for ack, _ in batch])
        except Exception as exc:  # a failed batch fails its waiters; the cursors stay behind
            log.exception("ack batch failed", acks=len(batch))
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if future is not None and not future.done():
                future.set_result(None)
        if self.outbox is not None:
            published = self.outbox.hold(published)
        await service.publish_all(self.platform.bus, self.system, published)

    async def stop(self) -> None:
        """Commit what is queued, then end."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None


class ReceiptOutbox:
    """Holds the receipts of acks for `delay` seconds per addressee, then publishes what that
    user is due as one "receipts" event: one frame per socket instead of one per member's ack.

    Receipts are the busiest frames (session 14 counted 2.6 a message in the benchmark's groups
    of four, against 3 message frames): the members of a group get a message together and ack
    it within moments of each other, and each ack batch's receipt to the author was a frame of
    its own. Marks only grow, so merging loses nothing: per (conversation, member) the highest
    delivered and read seqs win. The first receipt held for a user opens that user's window and
    every later one joins it, so windows close spread over time rather than all at one tick.

    Receipts delay the ticks by at most `delay`, never the messages; a crash loses only held
    notifications (the marks are committed, and a client reads them again with the
    conversation). O(1) per mark to hold; one bus publish per addressee and window.

    What is held is kept in objects the cyclic garbage collector does not track (strings, ints,
    floats, dicts of them): with 10,000 sockets about 5,000 users have receipts held at any
    moment, and as tuples (a key per mark, an entry per window) they were some 20,000 young
    objects that each young collection walked.
    """

    def __init__(self, bus: Bus, system: str, delay: float) -> None:
        self.bus = bus
        self.system = system
        self.delay = delay
        self._held: dict[int, dict[str, dict[str, Any]]] = {}
        """user id → "<conversation id> <member id>" → the highest marks held."""
        self._deadlines: collections.deque[float] = collections.deque()
        """When each window closes, in the order they opened (ascending)."""
        self._window_users: collections.deque[int] = collections.deque()
        """Whose window each deadline closes, in the same order."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"receipts:{self.system}")

    @property
    def held(self) -> int:
        """Users with receipts waiting."""
        return len(self._held)

    def hold(self, events: Iterable[service.Event]) -> list[service.Event]:
        """Take the "receipts" events for users; returns the others, to publish now."""
        others: list[service.Event] = []
        now = time.monotonic()
        for target, user_id, event in events:
            if target != "u" or event.get("type") != "receipts":
                others.append((target, user_id, event))
                continue
            box = self._held.get(user_id)
            if box is None:
                box = self._held[user_id] = {}
                self._deadlines.append(now + self.delay)
                self._window_users.append(user_id)
                self._wake.set()
            for mark in event["receipts"]:
                # A space sorts before any digit, so these keys sort as the pairs would.
                key = f"{mark['conversation_id']} {mark['user_id']}"
                held = box.get(key)
                if held is None:
                    box[key] = dict(mark)
                else:
                    held["delivered_seq"] = max(held["delivered_seq"], mark["delivered_seq"])
                    held["read_seq"] = max(held["read_seq"], mark["read_seq"])
        return others

    async def _run(self) -> None:
        while True:
            if not self._deadlines:
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._deadlines[0] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            while self._deadlines and self._deadlines[0] <= now:
                self._deadlines.popleft()
                await self._publish(self._window_users.popleft())

    async def _publish(self, user_id: int) -> None:
        box = self._held.pop(user_id, None)
        if not box:
            return
        event = {"type": "receipts", "receipts": [box[key] for key in sorted(box)]}
        try:
            await events.publish_to_user(self.bus, self.system, user_id, event)
        except Exception:  # the bus is down: these ticks are lost, the marks are not
            log.exception("receipts not published", user_id=user_id)

    async def stop(self) -> None:
        """Publish everything held, then end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._deadlines:
            self._deadlines.popleft()
            await self._publish(self._window_users.popleft())


class Gateway:
    """The realtime runtime of one system in one process: hub, presence, open sockets."""

    def __init__(self, platform: Platform, system: str, config: GatewayConfig) -> None:
        self.platform = platform
        self.system = system
        self.config = config
        self.hub = Hub(platform.bus, system)
        self.presence = Presence(platform, system, ttl=config.presence_ttl)
        self.connections: set[Connection] = set()
        self._per_device: dict[int, int] = {}
        self.receipts = (
            ReceiptOutbox(platform.bus, system, config.receipt_delay)
            if config.receipt_delay > 0
            else None
        )
        self.acks = AckBatcher(
            platform, system, config.ack_delay, config.ack_batch, outbox=self.receipts
        )
        self.handshakes = asyncio.Semaphore(config.max_handshakes)
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.receipts is not None:
            self.receipts.start()
        self.acks.start()
        self._sweeper = asyncio.create_task(self._sweep(), name=f"ws-sweeper-{self.system}")

    async def _sweep(self) -> None:
        """Close sockets silent for `presence_ttl` (4408), checking every quarter of it (at
        most 5 s apart): one O(sockets) pass, instead of a timer armed per frame read. Wakes
        every second at most, so a shorter `presence_ttl` set at run time applies at once."""
        swept = time.monotonic()
        while True:
            ttl = self.config.presence_ttl
            await asyncio.sleep(min(ttl / 4, 1.0))
            now = time.monotonic()
            if now - swept < min(ttl / 4, 5.0):
                continue
            swept, deadline = now, now - ttl
            for connection in [
                c for c in self.connections if c.heard is not None and c.heard < deadline
            ]:
                connection.shutdown(CloseCode.TIMEOUT, "no heartbeat")

    def add(self, connection: Connection) -> None:
        self.connections.add(connection)
        device = connection.device_id
        self._per_device[device] = self._per_device.get(device, 0) + 1

    def discard(self, connection: Connection) -> None:
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        device = connection.device_id
        left = self._per_device[device] - 1
        if left:
            self._per_device[device] = left
        else:
            del self._per_device[device]

    def device_connections(self, device_id: int) -> int:
        """Sockets of `device_id` open in this process; O(1)."""
        return self._per_device.get(device_id, 0)

    async def stop(self) -> None:
        """Close every socket (1001: reconnect elsewhere) and end the hub's subscriptions."""
        connections = list(self.connections)
        for connection in connections:
            connection.shutdown(CloseCode.GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                for connection in connections:
                    await connection.finished.wait()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.acks.stop()
        if self.receipts is not None:
            await self.receipts.stop()
        await self.presence.stop()
        await self.hub.stop()


def state_key(system: str) -> str:
    return f"messaging.gateway:{system}"


def gateway(platform: Platform, system: str) -> Gateway:
    """The running gateway of `system`; KeyError before `start`."""
    found: Gateway = platform.state[state_key(system)]
    return found


async def start(platform: Platform, system: str, config: GatewayConfig | None = None) -> Gateway:
    """Create the system's gateway (idempotent per platform)."""
    key = state_key(system)
    existing: Gateway | None = platform.state.get(key)
    if existing is None:
        existing = platform.state[key] = Gateway(platform, system, config or GatewayConfig())
        existing.start()
    return existing


async def stop(platform: Platform, system: str) -> None:
    found: Gateway | None = platform.state.pop(state_key(system), None)
    if found is not None:
        await found.stop()


class _Close(Exception):
    """End the connection with this close code and reason (a refused hello, or raised inside
    a connection's tasks)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _decode_frame(text: str | None) -> dict[str, Any] | Problem:
    """A client frame as a dict with a string `type`, or the Problem saying why it is not."""
    if text is None:
        return InvalidFrame("Frames are JSON text, not binary.")
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return InvalidFrame("A frame is one JSON object.")
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return InvalidFrame("A frame is a JSON object with a type.")
    return frame


INBOX_PAUSE = 64
"""Client frames waiting for their turn on a pushed socket before reading from it pauses."""

_ROUTED = frozenset({"message", "_resync", "typing", "joined", "left", "device", "call", "members"})
"""Event kinds `Connection._route` acts on; every other kind is passed on to the client as is."""


class Connection:
    """One authenticated socket: what it has been sent per conversation, its client frames
    (each answered in turn) and the delivery of the hub's events.

    Client frames: under uvicorn they are pushed (wsdirect.push_receive) into `_received` as
    the server parses them. An ack that wants no answer, the commonest frame, is taken there
    and then; any other frame gets a task (`_handle`) that answers it and then the frames that
    arrived meanwhile (`_inbox`), in order. So no socket keeps a reader waiting for its next
    frame. Other servers: a reader task (`_read_frames`) awaits ASGI `receive()`.

    Delivery writes an event at once, from inside the hub's `offer`, when nothing is queued
    before it and it needs no wait: the next entry of a conversation, the passed-on kinds
    (receipts, presence…), typing. The rest (a gap to fill from the database, a join, an entry
    this device sent, a socket under flow control) queue, and a drainer task (`_drain`, which
    first does the resume) routes the queue in order, then ends; until it has, later events
    queue behind. So with 10,000 sockets no task waits per socket for its next event: each wait
    made a future that young garbage collections walked (the session-18 census: ~20 objects per
    waiting socket, 200,000 in all), and each event a task switch. Frames never interleave: the
    async writers hold one lock, and the immediate ones are whole frames written while no one
    holds it."""

    def __init__(self, gw: Gateway, websocket: WebSocket, user_id: int, device_id: int) -> None:
        self.gw = gw
        self.websocket = websocket
        self.user_id = user_id
        self.device_id = device_id
        self.system = gw.system
        self.user_channel = events.user_channel(gw.system, user_id)
        self.queue: collections.deque[tuple[dict[str, Any], str]] = collections.deque()
        """(event, its JSON text as published: the frame when passed through unchanged) waiting
        for the drainer, at most `queue_size` of them."""
        self._drainer: asyncio.Task[None] | None = None
        """The task routing `queue` (and, first, resuming); None when nothing is queued."""
        self._reader: asyncio.Task[None] | None = None
        """`_read_frames`, or for a pushed socket `_await_end`: its end ends the connection."""
        self._pushed: PushedReceive | None = None
        self._ending: asyncio.Future[None] | None = None
        """A pushed socket's end: None when the client left, a `_Close` (or a failure)."""
        self._handler: asyncio.Task[None] | None = None
        """The task answering a pushed socket's frames, while there are any to answer."""
        self._inbox: collections.deque[tuple[str | None, float]] = collections.deque()
        """A pushed socket's frames waiting for `_handler`: (text, when read)."""
        self._failure: BaseException | None = None
        """Why delivery ended the connection (a `_Close`, the client gone, a bug)."""
        self._device_text = str(device_id)
        self.sent_seq: dict[int, int] = {}
        """conversation id → the highest seq this connection has delivered (or skipped)."""
        self._echoes: dict[int, set[int]] = {}
        """conversation id → seqs of entries this socket sent: their `sent` answer carried them,
        so their log event is skipped here (the device's other sockets still get it)."""
        self.roles: dict[int, str] = {}
        self.too_slow: str | None = None
        self._write_lock = asyncio.Lock()
        self._raw_send: Send | None = websocket.scope.get(RAW_SEND)
        self._direct: DirectWriter | None = direct_writer(self._raw_send)
        """Writes a frame at once when the server allows it (uvicorn); see wsdirect.py."""
        self._loop = asyncio.get_running_loop()
        self._raw_receive: Receive | None = websocket.scope.get(RAW_RECEIVE)
        self._typing_published: dict[int, float] = {}
        self._tat = 0.0
        self._close_with: _Close | None = None
        self.finished = asyncio.Event()
        self.heard: float | None = None
        """When the client last sent a frame (monotonic), from when its frames are read; the
        gateway's sweeper closes the socket once that is `presence_ttl` ago."""

    # The hub's side (never blocks) -------------------------------------------------------------

    def offer(self, channel: str, event: dict[str, Any], text: str) -> None:
        if self.too_slow is not None or self._failure is not None:
            return
        if not self.queue and self._drainer is None and self._reader is not None:
            try:
                if self._route_now(event, text):
                    return
            except Exception:  # never into the publisher; the drainer reports it
                log.exception("immediate delivery failed", event_type=event.get("type"))
        if len(self.queue) >= self.gw.config.queue_size:
            self.too_slow = f"more than {self.gw.config.queue_size} events behind"
        else:
            self.queue.append((event, text))
        self._drain_soon()

    def fell_behind(self, channel: str) -> None:
        if channel == self.user_channel:
            self.too_slow = "events for this user were lost"
            self._drain_soon()
            return
        conversation_id = int(channel.rsplit(":", 1)[1])
        self.offer(channel, {"type": "_resync", "conversation_id": str(conversation_id)}, "")

    def _drain_soon(self) -> None:
        if self._drainer is None and self._failure is None and self._reader is not None:
            self._drainer = self._loop.create_task(self._drain(None), name="ws-deliver")

    def _route_now(self, event: dict[str, Any], text: str) -> bool:
        """Deliver `event` now if that needs no wait (see the class docstring): True when it
        is done with (written, or not for this socket), False when it must queue."""
        direct = self._direct
        if direct is None or self._write_lock.locked():
            return False
        kind = event["type"]
        if kind == "message":
            if "envelopes" in event:
                return False
            conversation_id = int(event["conversation_id"])
            seq = int(event["seq"])
            last = self.sent_seq.get(conversation_id)
            if last is None or seq <= last:
                return True  # not watched here, or sent already (as `_on_message`)
            if (
                seq != last + 1
                or conversation_id in self._echoes
                # This device's own entry: its reader records the echo first, in the drainer's
                # turn, so the socket that sent it does not get it again.
                or event["message"].get("sender_device_id") == self._device_text
                or not direct(text)
            ):
                return False
            self.sent_seq[conversation_id] = seq
            return True
        if kind == "typing":
            if not self._typing_for_me(event):
                return True
            return direct(text)
        if kind in _ROUTED:
            return False
        return direct(text)

    def _check_pace(self) -> None:
        if self.too_slow is not None:
            raise _Close(CloseCode.TOO_SLOW, f"too slow: {self.too_slow}; resume from cursor")

    # Writing -----------------------------------------------------------------------------------

    async def emit(self, frame: dict[str, Any]) -> None:
        """Send one frame (serialised with every other writer of this socket)."""
        await self.send(orjson.dumps(frame).decode())

    async def send(self, text: str) -> None:
        """Send one frame already in JSON: at once when no one is writing and the server
        allows it, else through the server's own send when the app passed it on (data frames
        need none of the middlewares' send wrappers)."""
        direct = self._direct
        if direct is not None and not self._write_lock.locked() and direct(text):
            return
        async with self._write_lock:
            if self._raw_send is None:
                await self.websocket.send_text(text)
            else:
                await self._raw_send({"type": "websocket.send", "text": text})

    def shutdown(self, code: int, reason: str) -> None:
        """Ask the connection to close with `code` (from outside its tasks)."""
        self._close_with = _Close(code, reason)
        for task in (self._reader, self._drainer, self._handler):
            if task is not None:
                task.cancel()

    # Lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Subscribe, say ready, resume, then serve until either side ends the connection."""
        gw = self.gw
        gw.add(self)
        outcome: _Close | None = None
        try:
            # A reconnect storm (a node restarted, a network came back) queues here instead of
            # queueing on the connection pool, where waiters time out and sockets fail.
            async with gw.handshakes:
                try:
                    pending = await self._subscribe()
                except service_errors.DeviceNotFound:
                    outcome = _Close(CloseCode.FORBIDDEN, "device revoked")
                    return
                except (TimeoutError, HubClosed, PoolTimeout):
                    outcome = _Close(CloseCode.INTERNAL, "could not subscribe; retry")
                    return
                came_online = await gw.presence.beat(self.user_id, self.device_id)
                try:
                    await self.emit(
                        {
                            "type": "ready",
                            "user_id": str(self.user_id),
                            "device_id": str(self.device_id),
                            "heartbeat_interval": gw.config.heartbeat_interval,
                            "presence_ttl": gw.config.presence_ttl,
                        }
                    )
                except _GONE:
                    return  # the client left before it was ready
                if came_online:
                    await gw.presence.announce(self.user_id)
            self._ending = self._loop.create_future()
            self.heard = time.monotonic()
            self._pushed = push_receive(self._raw_receive, self._received)
            reader = self._reader = self._loop.create_task(
                self._await_end() if self._pushed is not None else self._read_frames(),
                name="ws-read",
            )
            # Resuming is the first drain: live events queue behind the missed entries.
            self._drainer = self._loop.create_task(self._drain(pending), name="ws-deliver")
            if self._close_with is not None:  # shut down while subscribing
                reader.cancel()
            # The reader ends when the client leaves or a frame closes the socket; a failed
            # delivery (`_drain`) or `shutdown` cancels it.
            await asyncio.wait([reader])
            results: list[BaseException | None] = [self._failure]
            if not reader.cancelled():
                results.append(reader.exception())
            for result in results:
                if isinstance(result, _Close):
                    outcome = result
                    break
                if isinstance(result, Exception) and not isinstance(result, _GONE):
                    log.error("socket task failed", exc_info=result)
                    outcome = _Close(CloseCode.INTERNAL, "internal error")
                    break
        finally:
            for task in (self._reader, self._drainer, self._handler):
                if task is not None:
                    task.cancel()
            if self._ending is not None and not self._ending.done():
                self._ending.cancel()
            if self._failure is None:
                self._failure = _Close(CloseCode.NORMAL, "closed")  # no more deliveries
            outcome = self._close_with or outcome
            if outcome is not None:
                await self._close_socket(outcome.code, outcome.reason)
            gw.hub.detach(self)
            gw.discard(self)
            try:
                await self._went_away()
            finally:
                self.finished.set()

    async def _close_socket(self, code: int, reason: str) -> None:
        if self.websocket.application_state == WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(Exception):
            async with self._write_lock:
                await self.websocket.close(code, reason[:120])

    async def _went_away(self) -> None:
        if self.gw.device_connections(self.device_id):
            return  # the same device is still connected here through another socket
        with contextlib.suppress(Exception):
            if await self.gw.presence.went_away(self.user_id, self.device_id):
                await self.gw.presence.announce(self.user_id)

    async def _subscribe(self) -> list[service.PendingConversation]:
        """Watch the user's channel and every conversation's, then read what is pending.

        The reads come after the watches: an entry committed before a read is in the read, one
        committed after it arrives live (an entry in both is sent once: see `_on_message`).
        """
        gw = self.gw
        await gw.hub.watch(self, self.user_channel)
        async with gw.platform.db.session() as session:
            rows = await session.execute(
                select(
                    MessagingMember.conversation_id,
                    MessagingMember.role,
                    MessagingConversation.last_seq,
                )
                .join(
                    MessagingConversation,
                    MessagingConversation.id == MessagingMember.conversation_id,
                )
                .where(
                    MessagingMember.user_id == self.user_id,
                    MessagingConversation.system == self.system,
                )
            )
            last_seqs = {}
            for conversation_id, role, last_seq in rows:
                self.roles[conversation_id] = role
                last_seqs[conversation_id] = last_seq
        await asyncio.gather(
            *(
                gw.hub.watch(self, events.conversation_channel(self.system, cid))
                for cid in last_seqs
            )
        )
        async with gw.platform.db.session() as session:
            pending = await service.pending_for_device(
                session, self.system, self.user_id, self.device_id
            )
        self.sent_seq.update(last_seqs)
        # A conversation joined between the two reads is not watched yet: its "joined" event,
        # already on the way to the user channel, watches it and sends its entries.
        pending = [entry for entry in pending if entry.conversation_id in last_seqs]
        for entry in pending:
            self.sent_seq[entry.conversation_id] = entry.after_seq
        return pending

    # Delivery ----------------------------------------------------------------------------------

    async def _drain(self, pending: list[service.PendingConversation] | None) -> None:
        """Resume (`pending`, the first time), then route what is queued, in order; end when
        the queue is empty. A failure ends the connection (its reader is cancelled)."""
        try:
            if pending is not None:
                for entry in pending:
                    await self._fill(entry.conversation_id, entry.after_seq, entry.last_seq)
                await self.emit({"type": "resumed", "conversations": len(pending)})
            queue = self.queue
            while True:
                self._check_pace()
                if not queue:
                    return  # no await since the check: nothing can have been queued meanwhile
                await self._route(*queue.popleft())
        except asyncio.CancelledError:
            raise
        except BaseException as failure:
            self._failure = failure
            if self._reader is not None:
                self._reader.cancel()
        finally:
            self._drainer = None

    async def _route(self, event: dict[str, Any], text: str) -> None:
        """Act on one event off the hub; `text` is its JSON, sent as is when passed through
        (serialised once per process by its publisher, not once per socket)."""
        kind = event["type"]
        if kind == "message":
            await self._on_message(event, text)
        elif kind == "_resync":
            await self._resync(int(event["conversation_id"]))
        elif kind == "typing":
            if self._typing_for_me(event):
                await self.send(text)
        elif kind == "joined":
            await self._on_joined(int(event["conversation_id"]))
            await self.send(text)
        elif kind == "left":
            self._forget(int(event["conversation_id"]))
            await self.send(text)
        elif kind == "device":
            if event.get("device_id") == str(self.device_id) and event.get("revoked"):
                raise _Close(CloseCode.FORBIDDEN, "device revoked")
            await self.send(text)
        elif kind == "call" and not calls.for_device(event, self.device_id):
            return  # signalling for the user's device that took the call
        else:
            if kind == "members" and event.get("user_id") == str(self.user_id):
                conversation_id = int(event["conversation_id"])
                if event.get("role") and conversation_id in self.roles:
                    self.roles[conversation_id] = str(event["role"])
            await self.send(text)

    def _typing_for_me(self, event: dict[str, Any]) -> bool:
        """Someone else's typing, not expired yet."""
        return (
            event.get("user_id") != str(self.user_id)
            and event.get("expires_at", 0) > time.time() * 1000
        )

    async def _on_message(self, event: dict[str, Any], text: str) -> None:
        """Deliver a live log entry: drop what was already sent, fill a gap from the database
        first (another process's writer may publish out of order), hand out the envelope."""
        conversation_id = int(event["conversation_id"])
        seq = int(event["seq"])
        last = self.sent_seq.get(conversation_id)
        if last is None or seq <= last:
            return
        if seq > last + 1:
            await self._fill(conversation_id, last, seq - 1)
            if conversation_id not in self.sent_seq:
                return
        echoes = self._echoes.get(conversation_id)
        if echoes is not None:
            echo = seq in echoes
            echoes.difference_update([s for s in echoes if s <= seq])  # passed: never coming
            if not echoes:
                del self._echoes[conversation_id]
            if echo:
                self.sent_seq[conversation_id] = seq
                return
        envelopes = event.get("envelopes")
        if envelopes is None:
            await self.send(text)  # the writer's event is the frame (writer.message_event)
        else:
            ciphertext = envelopes.get(str(self.device_id))
            if ciphertext is None:
                self.sent_seq[conversation_id] = seq
                return  # not addressed to this device (its own message, or added later)
            await self.emit(
                {
                    "type": "message",
                    "conversation_id": str(conversation_id),
                    "seq": seq,
                    "message": {**event["message"], "ciphertext": ciphertext},
                }
            )
        self.sent_seq[conversation_id] = seq

    async def _fill(self, conversation_id: int, after: int, upto: int) -> None:
        """Send entries (after, upto] from the database, a page at a time (one short read
        session per page, never held while the socket is written)."""
        page = self.gw.config.resume_page
        cursor = after
        while cursor < upto:
            try:
                async with self.gw.platform.db.session() as session:
                    items = await service.history(
                        session,
                        self.system,
                        self.user_id,
                        conversation_id,
                        after=cursor,
                        before=upto + 1,
                        limit=page,
                        newest_first=False,
                        device_id=self.device_id,
                    )
            except service_errors.ConversationNotFound:
                self._forget(conversation_id)  # left meanwhile; its "left" event follows
                return
            except service_errors.DeviceNotFound:
                raise _Close(CloseCode.FORBIDDEN, "device revoked") from None
            for item in items:
                message = item.message
                self.sent_seq[conversation_id] = message.seq
                if message.kind == "encrypted" and item.ciphertext is None:
                    continue
                await self.emit(
                    {
                        "type": "message",
                        "conversation_id": str(conversation_id),
                        "seq": message.seq,
                        "message": message_view(message, item.ciphertext),
                    }
                )
            if len(items) < page:
                break
            cursor = items[-1].message.seq
            self._check_pace()
        if conversation_id in self.sent_seq:
            self.sent_seq[conversation_id] = max(self.sent_seq[conversation_id], upto)

    async def _resync(self, conversation_id: int) -> None:
        """Events of the conversation were lost on the bus: send what the log has past ours."""
        last = self.sent_seq.get(conversation_id)
        if last is None:
            return
        async with self.gw.platform.db.session() as session:
            last_seq = await session.scalar(
                select(MessagingConversation.last_seq).where(
                    MessagingConversation.id == conversation_id
                )
            )
        if last_seq is not None and last_seq > last:
            await self._fill(conversation_id, last, last_seq)

    async def _on_joined(self, conversation_id: int) -> None:
        """The user joined a conversation while connected: watch it, then send its entries
        past this device's cursor (or past where the user's history starts)."""
        if conversation_id in self.sent_seq:
            return
        channel = events.conversation_channel(self.system, conversation_id)
        await self.gw.hub.watch(self, channel)
        async with self.gw.platform.db.session() as session:
            try:
                conversation, member = await service.membership(
                    session, self.system, conversation_id, self.user_id
                )
            except service_errors.ConversationNotFound:
                self.gw.hub.unwatch(self, channel)
                return
            cursor = await session.get(MessagingCursor, (self.device_id, conversation_id))
        start = max(cursor.acked_seq if cursor else 0, member.joined_seq, member.cleared_seq)
        self.roles[conversation_id] = member.role
        self.sent_seq[conversation_id] = start
        await self._fill(conversation_id, start, conversation.last_seq)

    def _forget(self, conversation_id: int) -> None:
        self.sent_seq.pop(conversation_id, None)
        self._echoes.pop(conversation_id, None)
        self.roles.pop(conversation_id, None)
        self.gw.hub.unwatch(self, events.conversation_channel(self.system, conversation_id))

    # Client frames -----------------------------------------------------------------------------

    async def _await_end(self) -> None:
        """The reader of a pushed socket: returns when the client left, or raises the `_Close`
        (or failure) a frame brought."""
        assert self._ending is not None
        await self._ending

    def _end(self, failure: BaseException | None) -> None:
        ending = self._ending
        if ending is not None and not ending.done():
            if failure is None:
                ending.set_result(None)
            else:
                ending.set_exception(failure)

    def _received(self, message: Message) -> None:
        """A message of a pushed socket, inside the server's `data_received` (never blocks)."""
        if self._ending is None or self._ending.done():
            return
        self.heard = now = time.monotonic()
        if message["type"] == "websocket.disconnect":
            self.websocket.client_state = WebSocketState.DISCONNECTED
            self._end(None)
            return
        text = message.get("text")
        if text is not None and len(text) > self.gw.config.max_frame_bytes:
            self._end(_Close(CloseCode.TOO_BIG, "frame too large"))
            return
        if self._handler is not None or self._inbox:
            self._inbox.append((text, now))
            if len(self._inbox) >= INBOX_PAUSE and self._pushed is not None:
                self._pushed.pause()  # resumed once the handler has caught up
            return
        frame = _decode_frame(text)
        if isinstance(frame, dict) and self._ack_now(frame, now):
            return
        self._handler = self._loop.create_task(self._handle(frame, now), name="ws-frame")

    def _ack_now(self, frame: dict[str, Any], now: float) -> bool:
        """Take an ack that wants no answer at once; False for any other frame, and for an ack
        to refuse (its task then refuses it, counting it against the rate once)."""
        if frame["type"] != "ack" or frame.get("ref") is not None:
            return False
        decision, tat = gcra(self._tat, now, self.gw.config.frame_rate, 1)
        if not decision.allowed:
            return False
        try:
            mark = _parse(_Mark, frame)
        except InvalidFrame:
            return False
        if int(mark.conversation_id) not in self.roles:
            return False
        self._tat = tat
        self._queue_ack(mark)
        return True

    async def _handle(self, frame: dict[str, Any] | Problem, now: float) -> None:
        """Answer a pushed socket's `frame`, then the frames that arrived meanwhile, in order;
        a failure (a `_Close`, the client gone) ends the connection."""
        try:
            await self._on_decoded(frame, now)
            inbox = self._inbox
            while inbox:
                text, read_at = inbox.popleft()
                await self._on_frame(text, read_at)
            if self._pushed is not None:
                self._pushed.resume()
        except asyncio.CancelledError:
            raise
        except BaseException as failure:
            self._end(failure)
        finally:
            self._handler = None

    async def _read_frames(self) -> None:
        receive = self._raw_receive or self.websocket.receive
        while True:
            message = await receive()
            self.heard = now = time.monotonic()
            if message["type"] == "websocket.disconnect":
                self.websocket.client_state = WebSocketState.DISCONNECTED
                return
            text = message.get("text")
            if text is not None and len(text) > self.gw.config.max_frame_bytes:
                raise _Close(CloseCode.TOO_BIG, "frame too large")
            # The frame is handled in a call of its own and nothing of it is kept here across
            # the wait for the next one: with thousands of sockets, whatever each reader holds
            # while it waits (the last frame, its reply, its rate decision) outlives young
            # garbage collections, and every collection walks all of it.
            del message
            await self._on_frame(text, now)

    async def _on_frame(self, text: str | None, now: float) -> None:
        """Answer one client frame, read at `now` (or refuse it with an error frame)."""
        await self._on_decoded(_decode_frame(text), now)

    async def _on_decoded(self, frame: dict[str, Any] | Problem, now: float) -> None:
        config = self.gw.config
        ref = frame.get("ref") if isinstance(frame, dict) else None
        ref = ref if isinstance(ref, str) else None
        # Every frame counts, malformed ones too: a flood of garbage is refused alike.
        decision, self._tat = gcra(self._tat, now, config.frame_rate, 1)
        try:
            if not decision.allowed:
                raise TooManyRequests(decision.retry_after)
            if isinstance(frame, Problem):
                raise frame
            reply = await self._answer(frame)
        except Problem as problem:
            await self._refuse(ref, problem)
            return
        if reply is not None:
            if ref is not None:
                reply["ref"] = ref
            await self.emit(reply)

    async def _refuse(self, ref: str | None, problem: Problem) -> None:
        frame: dict[str, Any] = {"type": "error", "problem": problem.body()}
        if ref is not None:
            frame["ref"] = ref
        await self.emit(frame)

    async def _answer(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        """Act on one client frame; the reply to send, if any. Raises the request's Problem."""
        kind = frame["type"]
        if kind == "send":
            return await self._send(_parse(_Send, frame))
        if kind == "ack":
            mark = _parse(_Mark, frame)
            await self._mark(mark, ack=True)
            return {"type": "acked", **self._mark_view(mark)} if mark.ref else None
        if kind == "read":
            mark = _parse(_Mark, frame)
            await self._mark(mark, ack=False)
            return {"type": "read", **self._mark_view(mark)} if mark.ref else None
        if kind == "typing":
            typing = _parse(_Typing, frame)
            await self._typing(int(typing.conversation_id))
            return {"type": "typing_sent"} if typing.ref else None
        if kind == "ping":
            if await self.gw.presence.beat(self.user_id, self.device_id):
                await self.gw.presence.announce(self.user_id)
            return {"type": "pong"}
        if kind == "presence":
            query = _parse(_PresenceQuery, frame)
            async with self.gw.platform.db.session() as session:
                states = await self.gw.presence.query(
                    session, self.user_id, [int(u) for u in query.user_ids]
                )
            return {"type": "presence_list", "users": [s.view() for s in states]}
        if kind == "call":
            return await calls.socket_frame(
                self.gw.platform, self.system, self.user_id, self.device_id, frame
            )
        if kind == "hello":
            raise InvalidFrame("This socket is already authenticated.")
        raise UnknownFrame(f"No frame type {kind!r}.")

    async def _send(self, frame: _Send) -> dict[str, Any]:
        envelopes: dict[int, bytes] | None = None
        if frame.envelopes is not None:
            try:
                envelopes = {
                    int(device): base64.b64decode(data, validate=True)
                    for device, data in frame.envelopes.items()
                }
            except binascii.Error:
                raise InvalidFrame("Envelopes are base64.") from None
        sent = await runtime.messenger(self.gw.platform, self.system).writer.send(
            SendRequest(
                conversation_id=int(frame.conversation_id),
                sender_id=self.user_id,
                client_id=frame.client_id,
                kind=frame.kind,
                body=frame.body,
                data=frame.data,
                sender_device_id=self.device_id,
                envelopes=envelopes,
                target_seq=frame.target_seq,
                device_verified=True,  # this socket authenticated it; closed on revocation
            )
        )
        message = sent.message
        if not sent.duplicate:
            # Its log event is published after this answer is queued (the writer settles its
            # callers before it publishes), so it is recorded before that event can arrive; at
            # worst (another bus) the event comes first and the client gets the entry twice.
            self._echoes.setdefault(message.conversation_id, set()).add(message.seq)
        return {
            "type": "sent",
            "conversation_id": str(message.conversation_id),
            "client_id": message.client_id,
            "seq": message.seq,
            "id": str(message.id),
            "created_at": message.created_at.isoformat(),
            "duplicate": sent.duplicate,
            "message": sent.view,
        }

    @staticmethod
    def _mark_view(mark: _Mark) -> dict[str, Any]:
        return {"conversation_id": mark.conversation_id, "seq": mark.seq}

    async def _mark(self, mark: _Mark, *, ack: bool) -> None:
        conversation_id = int(mark.conversation_id)
        if ack:
            # The socket knows its conversations: an ack of another one is refused here, and
            # the rest are committed in batches (see AckBatcher).
            if conversation_id not in self.roles:
                raise ConversationNotFound("No such conversation among yours.")
            done = self._queue_ack(mark)
            if done is not None:
                await done
            return
        async with self.gw.platform.db.session(write=True) as session:
            published = await service.mark(
                session, self.system, self.user_id, conversation_id, read_seq=mark.seq
            )
        await service.publish_all(self.gw.platform.bus, self.system, published)

    def _queue_ack(self, mark: _Mark) -> asyncio.Future[None] | None:
        """Hand an ack of one of the socket's conversations to the batcher; with a `ref`, the
        future of its commit."""
        conversation_id = int(mark.conversation_id)
        # Never past what this socket has delivered (or handed over in `sent` answers, the
        # socket's own entries that directly follow): a `sent` answer can overtake earlier
        # entries still queued for this socket, and a cursor moved past those would lose them
        # if the socket dropped before sending them.
        delivered = self.sent_seq.get(conversation_id, 0)
        echoes = self._echoes.get(conversation_id)
        while echoes and delivered + 1 in echoes:
            delivered += 1
        seq = min(mark.seq, delivered)
        item = service.Ack(self.user_id, self.device_id, conversation_id, seq)
        return self.gw.acks.add(item, wait=mark.ref is not None)

    async def _typing(self, conversation_id: int) -> None:
        role = self.roles.get(conversation_id)
        if role is None:
            raise ConversationNotFound("No such conversation among yours.")
        if role == "subscriber":
            raise NotAllowed("Channel subscribers do not type in the channel.")
        now = time.monotonic()
        last = self._typing_published.get(conversation_id)
        if last is not None and now - last < self.gw.config.typing_interval:
            return  # still typing: the others' indicator has not expired yet
        self._typing_published[conversation_id] = now
        await events.publish_to_conversation(
            self.gw.platform.bus,
            self.system,
            conversation_id,
            {
                "type": "typing",
                "conversation_id": str(conversation_id),
                "user_id": str(self.user_id),
                "expires_at": int((time.time() + self.gw.config.typing_ttl) * 1000),
            },
        )


# Authentication and the endpoint ---------------------------------------------------------------


def _same_site(websocket: WebSocket, settings_base_url: str) -> bool:
    """Whether the socket's Origin is this site: the host it connected to, or the base URL."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    parsed = urlsplit(origin)
    host = websocket.headers.get("host", "")
    allowed = {urlsplit(settings_base_url).netloc}
    if host:
        allowed.add(host)
    return parsed.scheme in ("http", "https") and parsed.netloc in allowed


async def _authenticate(gw: Gateway, websocket: WebSocket) -> tuple[int, int]:
    """Read the hello; the (user id, device id) it proves. Raises `_Close`."""
    try:
        message = await asyncio.wait_for(websocket.receive(), gw.config.hello_timeout)
    except TimeoutError:
        raise _Close(CloseCode.TIMEOUT, "no hello in time") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None or len(text) > 16 * 1024:
        raise _Close(CloseCode.BAD_HELLO, "the first frame must be a JSON hello")
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _Close(CloseCode.BAD_HELLO, "the first frame must be a JSON hello") from None
    if not isinstance(frame, dict) or frame.get("type") != "hello":
        raise _Close(CloseCode.BAD_HELLO, "the first frame must be a JSON hello")
    try:
        hello = _Hello.model_validate(frame)
    except ValidationError:
        raise _Close(CloseCode.BAD_HELLO, "hello needs a device_id (digits)") from None
    settings = gw.platform.settings
    token = hello.token
    if token is None:
        token = websocket.cookies.get(ACCESS_COOKIE)
        if token is None:
            raise _Close(CloseCode.UNAUTHENTICATED, "send a token in hello, or log in")
        if not _same_site(websocket, settings.base_url):
            raise _Close(CloseCode.FORBIDDEN, "cookie authentication needs a same-site Origin")
    try:
        user_id = tokens.decode_access_token(settings, token).user_id
    except Unauthorized:
        raise _Close(CloseCode.UNAUTHENTICATED, "invalid or expired token") from None
    device_id = int(hello.device_id)
    async with gw.platform.db.session() as session:
        try:
            await service.live_device(session, gw.system, user_id, device_id)
        except service_errors.DeviceNotFound:
            raise _Close(CloseCode.FORBIDDEN, "not a live device of yours") from None
    return user_id, device_id


async def serve_socket(websocket: WebSocket, system: str) -> None:
    """Run one socket of `system` from accept to close (see the module docstring)."""
    gw = gateway(websocket.app.state.platform, system)
    await websocket.accept()
    try:
        user_id, device_id = await _authenticate(gw, websocket)
    except _Close as refused:
        await websocket.close(refused.code, refused.reason)
        return
    except WebSocketDisconnect:
        return
    await Connection(gw, websocket, user_id, device_id).run()


def add_route(router: APIRouter, system: str) -> None:
    """Add the socket of `system` at `router`'s root (the app mounts it at `/ws/<slug>`)."""

    async def messaging_socket(websocket: WebSocket) -> None:
        await serve_socket(websocket, system)

    router.add_api_websocket_route("", messaging_socket, name=f"{system}-socket")
