"""Live updates: what changed on a story's page, and new stories, pushed over `/ws/hacker-news`.

Writers publish after their commit on the platform bus, so a change made on one process reaches
sockets held by any other:

- `hacker-news:item:<story id>` — `{"type": "comment", "item": <HN API item>, "depth": n}`,
  `{"type": "score", "id", "score"}`, `{"type": "dead", "id"}` for the story and its comments;
- `hacker-news:stories` — `{"type": "story", "item": <HN API item>}` for each new story.

Socket protocol. Everything on Hacker News is public, so the socket needs no credentials:

    GET /ws/hacker-news?item=<id>     a story's page (a comment's id watches its story)
    GET /ws/hacker-news?list=new      new stories

The server answers `{"type": "ready", "item": <story id>}` (or `{"type": "ready", "list":
"new"}`), then the events above as text frames. Client frames: `{"type": "ping"}` → `{"type":
"pong"}`; anything else → `{"type": "error", "detail": …}` (the socket stays open). Close codes:
4400 bad query (neither a numeric `item` nor `list=new`), 4404 no such live item, 4429 the socket
fell too far behind (reconnect and reload), 1011 bus failure. Delivery is best-effort (the bus is
at most once): a page that reconnects reloads the thread from the API.
"""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import FIRST_COMPLETED
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from casebook.platform.bus import SubscriberTooSlow
from casebook.platform.context import Platform

STORIES_CHANNEL = "hacker-news:stories"
MAX_CLIENT_FRAME = 1024


def item_channel(story_id: int) -> str:
    return f"hacker-news:item:{story_id}"


async def publish_item(platform: Platform, story_id: int, event: dict[str, Any]) -> None:
    """Tell the sockets watching story `story_id` about `event`. O(1) per process."""
    await platform.bus.publish(item_channel(story_id), orjson.dumps(event))


async def publish_story(platform: Platform, item: dict[str, Any]) -> None:
    """Tell the sockets watching the new list about a new story."""
    await platform.bus.publish(STORIES_CHANNEL, orjson.dumps({"type": "story", "item": item}))


async def _story_of(platform: Platform, item_id: int) -> int | None:
    from casebook.systems.hacker_news.models import Item

    async with platform.db.session() as session:
        item = await session.get(Item, item_id)
    if item is None or item.deleted or item.dead:
        return None
    return item.story_id if item.type == "comment" and item.story_id else item.id


async def _answer_pings(websocket: WebSocket) -> None:
    while True:
        raw = await websocket.receive_text()
        try:
            frame = orjson.loads(raw) if len(raw) <= MAX_CLIENT_FRAME else None
        except orjson.JSONDecodeError:
            frame = None
        if isinstance(frame, dict) and frame.get("type") == "ping":
            await websocket.send_text('{"type":"pong"}')
        else:
            await websocket.send_text(
                orjson.dumps(
                    {"type": "error", "detail": 'the only client frame is {"type":"ping"}'}
                ).decode()
            )


async def serve_socket(websocket: WebSocket) -> None:
    platform: Platform = websocket.app.state.platform
    item = websocket.query_params.get("item")
    listing = websocket.query_params.get("list")
    await websocket.accept()
    ready: dict[str, object]
    if listing == "new" and item is None:
        channel, ready = STORIES_CHANNEL, {"type": "ready", "list": "new"}
    elif item is not None and item.isdigit() and len(item) <= 18 and listing is None:
        story_id = await _story_of(platform, int(item))
        if story_id is None:
            await websocket.close(4404, f"no live item {item}")
            return
        channel, ready = item_channel(story_id), {"type": "ready", "item": story_id}
    else:
        await websocket.close(4400, "give ?item=<id> or ?list=new")
        return
    async with platform.bus.subscribe(channel) as messages:
        await websocket.send_text(orjson.dumps(ready).decode())

        async def forward() -> None:
            async for message in messages:
                await websocket.send_text(message.decode())

        reader = asyncio.create_task(_answer_pings(websocket))
        forwarder = asyncio.create_task(forward())
        done, pending = await asyncio.wait({reader, forwarder}, return_when=FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        problems = {task: task.exception() for task in done}
        if isinstance(problems.get(forwarder), SubscriberTooSlow):
            with contextlib.suppress(RuntimeError):
                await websocket.close(4429, "fell behind; reconnect and reload")


def realtime_router() -> APIRouter:
    """The socket at the router's root (the app mounts it at `/ws/hacker-news`)."""
    router = APIRouter()
    router.add_api_websocket_route("", serve_socket, name="hacker-news-socket")
    return router
