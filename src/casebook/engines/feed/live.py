"""Live feed updates: the WebSocket at `/ws/<slug>` that tells a reader about new posts.

Protocol (JSON text frames; ids are strings)
============================================

The first client frame must arrive within `HELLO_TIMEOUT` (10 s):

    → {"type": "hello", "token": "<access token>"}

A browser may leave `token` out: the `casebook_access` cookie then authenticates, only when the
socket's `Origin` is the site's own (the `Host` it connected to, or `settings.base_url`). The
server answers `{"type": "ready", "user_id"}` and from then on pushes

- `{"type": "post", "post": <post view>}` — a post that reached the reader's home feed (fan-out
  delivered it, or a celebrity source they follow published it), sent only after checking, at
  send time, that it belongs in the reader's feed (`timeline.still_in_feed`: visible to them and
  from a source they still follow);
- `{"type": "post_deleted", "post_id"}` — a post the reader could see was deleted;
- `{"type": "notification", "notification": <notification view>, "unread_count"}` — a new
  notification of the reader (sent after its transaction committed, and only if the
  notifications list would show it now: actor not blocked, target still visible).

Client frames: `{"type": "ping"}` → `{"type": "pong"}`. Anything else is answered
`{"type": "error", "problem": <problem+json>}` (422 `feed/invalid-frame`) and changes nothing.

Close codes: 4400 first frame is not a hello, 4401 missing/invalid token, 4403 cookie without a
same-site Origin, 4408 no hello in time, 4429 the socket fell `QUEUE_SIZE` events behind
(reconnect and re-read the feed), 1001 server shutting down.

Channels on the platform bus (so a post fanned out on one process reaches sockets on another):
`feed:<system>:u:<user>` per reader (fan-out publishes one message per recipient) and
`feed:<system>:s:<source>` per celebrity source (one message per post; sockets of its followers
subscribe at connect). A follow made after connecting reaches the socket through the user
channel for ordinary sources, and after a reconnect for celebrity ones.

Costs: per socket one bus subscription per channel (1 + celebrity followees); per event one
feed check (`still_in_feed`, a few index probes) and one hydration before sending.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog
from fastapi import APIRouter, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketDisconnect, WebSocketState

from casebook.engines.feed import notifications
from casebook.engines.feed.audience import could_see
from casebook.engines.feed.models import FeedPost
from casebook.engines.feed.posts import hydrate_for
from casebook.engines.feed.timeline import celebrity_sources, still_in_feed
from casebook.platform.auth import tokens
from casebook.platform.auth.cookies import ACCESS_COOKIE
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput, Unauthorized

log = structlog.get_logger("casebook.feed.live")

HELLO_TIMEOUT = 10.0
QUEUE_SIZE = 256
MAX_FRAME = 16 * 1024


class CloseCode:
    GOING_AWAY = 1001
    BAD_HELLO = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    TIMEOUT = 4408
    TOO_SLOW = 4429


class InvalidFrame(InvalidInput):
    type_ = "feed/invalid-frame"
    title = "The frame is not valid"


def user_channel(system: str, user_id: int) -> str:
    return f"feed:{system}:u:{user_id}"


def source_channel(system: str, source_id: int) -> str:
    return f"feed:{system}:s:{source_id}"


@dataclass
class LiveHub:
    """The sockets of one system in this process (so shutdown can close them)."""

    platform: Platform
    system: str
    sockets: set[WebSocket] = field(default_factory=set)
    closed: bool = False

    async def close(self) -> None:
        self.closed = True
        for socket in list(self.sockets):
            with contextlib.suppress(Exception):
                await socket.close(CloseCode.GOING_AWAY, "server shutting down")
        self.sockets.clear()


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _same_site(websocket: WebSocket, base_url: str) -> bool:
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    parsed = urlsplit(origin)
    allowed = {urlsplit(base_url).netloc}
    host = websocket.headers.get("host", "")
    if host:
        allowed.add(host)
    return parsed.scheme in ("http", "https") and parsed.netloc in allowed


async def _authenticate(platform: Platform, websocket: WebSocket) -> int:
    """Read the hello; the user id it proves. Raises `_Refused` or WebSocketDisconnect."""
    try:
        message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT)
    except TimeoutError:
        raise _Refused(CloseCode.TIMEOUT, "no hello in time") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    frame: Any = None
    if text is not None and len(text) <= MAX_FRAME:
        with contextlib.suppress(orjson.JSONDecodeError):
            frame = orjson.loads(text)
    if not isinstance(frame, dict) or frame.get("type") != "hello":
        raise _Refused(CloseCode.BAD_HELLO, "the first frame must be a JSON hello")
    token = frame.get("token")
    if token is not None and not isinstance(token, str):
        raise _Refused(CloseCode.BAD_HELLO, "token must be a string")
    if token is None:
        token = websocket.cookies.get(ACCESS_COOKIE)
        if token is None:
            raise _Refused(CloseCode.UNAUTHENTICATED, "send a token in hello, or log in")
        if not _same_site(websocket, platform.settings.base_url):
            raise _Refused(CloseCode.FORBIDDEN, "cookie authentication needs a same-site Origin")
    try:
        return tokens.decode_access_token(platform.settings, token).user_id
    except Unauthorized:
        raise _Refused(CloseCode.UNAUTHENTICATED, "invalid or expired token") from None


class _Reader:
    """One authenticated socket: bus subscriptions → bounded queue → checked sends."""

    def __init__(self, hub: LiveHub, websocket: WebSocket, user_id: int) -> None:
        self.hub = hub
        self.platform = hub.platform
        self.system = hub.system
        self.websocket = websocket
        self.user_id = user_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = asyncio.Event()
        self.send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_text(orjson.dumps(frame).decode())

    async def _pump(self, channel: str, ready: asyncio.Event) -> None:
        async with self.platform.bus.subscribe(channel) as messages:
            ready.set()
            async for raw in messages:
                try:
                    event = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                try:
                    self.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self.overflowed.set()
                    return

    async def _deliver(self) -> None:
        while True:
            event = await self.queue.get()
            frame = await self._checked(event)
            if frame is not None:
                await self.send(frame)

    async def _checked(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The frame for `event` if this reader may be told about it, else None."""
        raw_id = event.get("notification_id" if event.get("type") == "notification" else "post_id")
        if not isinstance(raw_id, str) or not raw_id.isdigit():
            return None
        post_id = int(raw_id)
        async with self.platform.db.session() as session:
            if event.get("type") == "notification":
                return await self._notification(session, int(raw_id))
            if event.get("type") == "post_deleted":
                post = await session.get(FeedPost, post_id)
                if post is None or not await could_see(session, self.system, self.user_id, post):
                    return None
                return {"type": "post_deleted", "post_id": raw_id}
            # The home feed's own rule: visible now, and from a source still followed.
            in_feed = await still_in_feed(session, self.system, self.user_id, [post_id])
            if not in_feed:
                return None
            (view,) = await hydrate_for(session, self.system, self.user_id, in_feed)
            return {"type": "post", "post": view}

    async def _notification(
        self, session: AsyncSession, notification_id: int
    ) -> dict[str, Any] | None:
        """The frame for a new notification of this reader, if the list would show it now."""
        from casebook.engines.feed.engagement_api import _authors, _notification_view

        found = await notifications.still_listed(
            session, self.system, self.user_id, notification_id
        )
        if found is None:
            return None
        actors = await _authors(session, self.system, {found.actor_id})
        return {
            "type": "notification",
            "notification": _notification_view(found, actors),
            "unread_count": await notifications.unread_count(session, self.system, self.user_id),
        }

    async def _listen(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            frame: Any = None
            if text is not None and len(text) <= MAX_FRAME:
                with contextlib.suppress(orjson.JSONDecodeError):
                    frame = orjson.loads(text)
            if isinstance(frame, dict) and frame.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            problem = InvalidFrame("Only ping frames are accepted after hello.")
            await self.send({"type": "error", "problem": problem.body()})

    async def run(self, channels: list[str]) -> None:
        tasks: list[asyncio.Task[Any]] = []
        try:
            for channel in channels:
                ready = asyncio.Event()
                tasks.append(asyncio.create_task(self._pump(channel, ready)))
                await asyncio.wait_for(ready.wait(), 5.0)
            await self.send({"type": "ready", "user_id": str(self.user_id)})
            deliver = asyncio.create_task(self._deliver())
            listen = asyncio.create_task(self._listen())
            overflow = asyncio.create_task(self.overflowed.wait())
            tasks += [deliver, listen, overflow]
            done, _ = await asyncio.wait(
                {deliver, listen, overflow}, return_when=asyncio.FIRST_COMPLETED
            )
            if overflow in done:
                await self.websocket.close(CloseCode.TOO_SLOW, "fell behind; reconnect")
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error
        except WebSocketDisconnect:
            pass
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _channels(platform: Platform, system: str, user_id: int) -> list[str]:
    from casebook.engines.feed.runtime import feed_runtime

    threshold = feed_runtime(platform, system).config.celebrity_threshold
    async with platform.db.session() as session:
        sources = await celebrity_sources(session, system, user_id, threshold)
    return [user_channel(system, user_id), *(source_channel(system, s) for s in sources)]


async def serve_socket(websocket: WebSocket, system: str) -> None:
    """Run one socket of `system` from accept to close (see the module docstring)."""
    from casebook.engines.feed.runtime import feed_runtime

    platform: Platform = websocket.app.state.platform
    hub = feed_runtime(platform, system).live
    await websocket.accept()
    if hub is None or hub.closed:
        await websocket.close(CloseCode.GOING_AWAY, "server shutting down")
        return
    try:
        user_id = await _authenticate(platform, websocket)
    except _Refused as refused:
        await websocket.close(refused.code, refused.reason)
        return
    except WebSocketDisconnect:
        return
    hub.sockets.add(websocket)
    try:
        await _Reader(hub, websocket, user_id).run(await _channels(platform, system, user_id))
    finally:
        hub.sockets.discard(websocket)
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


def add_route(router: APIRouter, system: str) -> None:
    """Add the socket of `system` at `router`'s root (the app mounts it at `/ws/<slug>`)."""

    async def feed_socket(websocket: WebSocket) -> None:
        await serve_socket(websocket, system)

    router.add_api_websocket_route("", feed_socket, name=f"{system}-feed-socket")
