"""Live item pages: comments, scores and kills reach sockets on /ws/hacker-news."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.servers import serve_in_loop
from tests.systems.hacker_news.conftest import SLUG, HnUser, NewUser, reply, submit, vote

pytestmark = pytest.mark.feature(SLUG, "real-time-updates")


@pytest.fixture
async def ws_base(app: FastAPI) -> AsyncIterator[str]:
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://") + "/ws/hacker-news"


async def next_frame(socket: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await socket.recv(decode=True))
    return frame


async def test_an_item_page_sees_comments_and_votes_as_they_happen(
    client: httpx.AsyncClient, ws_base: str, alice: HnUser, bob: HnUser, new_user: NewUser
) -> None:
    story = await submit(client, alice, "Live", url="https://l.example/1")
    other = await submit(client, alice, "Elsewhere", url="https://l.example/2")
    async with connect(f"{ws_base}?item={story['id']}", open_timeout=5) as socket:
        assert await next_frame(socket) == {"type": "ready", "item": story["id"]}
        await reply(client, bob, other["id"], "not for this page")
        comment = await reply(client, bob, story["id"], "hello live")
        event = await next_frame(socket)
        assert event["type"] == "comment" and event["item"]["id"] == comment["id"]
        assert event["item"]["text"] == "hello live" and event["depth"] == 0
        await vote(client, await new_user(), comment["id"], "up")
        assert await next_frame(socket) == {"type": "score", "id": comment["id"], "score": 2}
        await socket.send('{"type":"ping"}')
        assert await next_frame(socket) == {"type": "pong"}


async def test_the_new_list_sees_new_stories(
    client: httpx.AsyncClient, ws_base: str, alice: HnUser
) -> None:
    async with connect(f"{ws_base}?list=new", open_timeout=5) as socket:
        assert await next_frame(socket) == {"type": "ready", "list": "new"}
        story = await submit(client, alice, "Fresh", url="https://l.example/3")
        event = await next_frame(socket)
        assert event["type"] == "story" and event["item"]["id"] == story["id"]


@pytest.mark.parametrize(
    ("query", "code"), [("?item=999999999", 4404), ("?item=abc", 4400), ("", 4400)]
)
async def test_bad_subscriptions_are_closed_with_a_reason(
    ws_base: str, query: str, code: int
) -> None:
    async with connect(f"{ws_base}{query}", open_timeout=5) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code
