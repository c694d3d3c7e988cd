"""Live updates over /ws/facebook-newsfeed through a real server: new posts pushed to followers
who may see them (and to no one else), deletions, celebrity sources, authentication and bad
frames answered with close codes and error frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from casebook.engines.feed import live
from casebook.engines.feed.runtime import FeedRuntime
from tests.engines.feed.conftest import API, Befriend, FeedUser, Follow, NewUser, Publish

pytestmark = pytest.mark.feature("facebook-newsfeed", "real-time-updates")
WAIT = 5.0


@asynccontextmanager
async def _socket(ws_url: str, user: FeedUser) -> AsyncIterator[ClientConnection]:
    async with ws_connect(ws_url) as socket:
        await socket.send(orjson.dumps({"type": "hello", "token": user.token}).decode())
        ready = orjson.loads(await asyncio.wait_for(socket.recv(), WAIT))
        assert ready == {"type": "ready", "user_id": user.id}
        yield socket


async def _next(socket: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), WAIT))
    return frame


async def test_followers_who_may_see_a_post_are_told_and_no_one_else(
    ws_url: str,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
    befriend: Befriend,
) -> None:
    author, friend, follower, stranger = [await new_user() for _ in range(4)]
    await befriend(author, friend)
    await follow(follower, author)
    async with (
        _socket(ws_url, friend) as friend_socket,
        _socket(ws_url, follower) as follower_socket,
        _socket(ws_url, stranger) as stranger_socket,
    ):
        for_friends = await publish(author, "friends only", audience="friends")
        for_all = await publish(author, "for everyone")

        first = await _next(friend_socket)
        assert first["type"] == "post"
        assert first["post"]["id"] == for_friends["id"]
        assert first["post"]["body"] == "friends only"
        assert (await _next(friend_socket))["post"]["id"] == for_all["id"]
        # The follower's next frame is the public post: the friends-only one never came.
        assert (await _next(follower_socket))["post"]["id"] == for_all["id"]

        # The stranger follows later: their first frame is the post after that, nothing before.
        await follow(stranger, author)
        after = await publish(author, "after the follow")
        assert (await _next(stranger_socket))["post"]["id"] == after["id"]


async def test_deletions_are_told_to_those_who_could_see_the_post(
    client: httpx.AsyncClient,
    ws_url: str,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    publish: Publish,
    follow: Follow,
    befriend: Befriend,
) -> None:
    await befriend(alice, bob)
    await follow(carol, alice)
    async with _socket(ws_url, bob) as bob_socket, _socket(ws_url, carol) as carol_socket:
        secret = await publish(alice, "friends only", audience="friends")
        assert (await _next(bob_socket))["post"]["id"] == secret["id"]
        deleted = await client.delete(f"{API}/posts/{secret['id']}", headers=alice.headers)
        assert deleted.status_code == 204
        assert await _next(bob_socket) == {"type": "post_deleted", "post_id": secret["id"]}
        marker = await publish(alice, "public marker")
        # Carol could never see the secret post: she hears neither it nor its deletion.
        assert (await _next(carol_socket))["post"]["id"] == marker["id"]


async def test_celebrity_posts_reach_followers_through_the_source_channel(
    client: httpx.AsyncClient,
    ws_url: str,
    new_user: NewUser,
    runtime: FeedRuntime,
    publish: Publish,
    follow: Follow,
) -> None:
    runtime.configure(celebrity_threshold=1)
    star, fan, other_fan, friend = [await new_user() for _ in range(4)]
    await follow(fan, star)
    await follow(other_fan, star)
    await follow(fan, friend)
    async with _socket(ws_url, fan) as socket:
        post = await publish(star, "to my many fans")
        frame = await _next(socket)
        assert frame["type"] == "post"
        assert frame["post"]["id"] == post["id"]
        # After unfollowing, the star's posts are no longer pushed (though still watched).
        unfollowed = await client.delete(f"{API}/users/{star.id}/follow", headers=fan.headers)
        assert unfollowed.status_code == 204
        await publish(star, "not for the former fan")
        marker = await publish(friend, "marker")
        assert (await _next(socket))["post"]["id"] == marker["id"]


async def test_pings_are_answered_and_bad_frames_get_an_error_without_closing(
    ws_url: str, alice: FeedUser
) -> None:
    async with _socket(ws_url, alice) as socket:
        await socket.send("not json")
        error = await _next(socket)
        assert error["type"] == "error"
        assert error["problem"]["status"] == 422
        assert error["problem"]["type"] == "/problems/feed/invalid-frame"
        await socket.send(orjson.dumps({"type": "subscribe", "user_id": "1"}).decode())
        assert (await _next(socket))["type"] == "error"
        await socket.send(orjson.dumps({"type": "ping"}).decode())
        assert await _next(socket) == {"type": "pong"}


async def _close_code(ws_url: str, first: str | None, **headers: str) -> tuple[int, str]:
    async with ws_connect(ws_url, additional_headers=headers) as socket:
        if first is not None:
            await socket.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), WAIT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_sockets_that_do_not_authenticate_are_closed_with_a_reason(
    ws_url: str, alice: FeedUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = await _close_code(ws_url, "hello?")
    assert code == live.CloseCode.BAD_HELLO
    code, _ = await _close_code(ws_url, orjson.dumps({"type": "hello", "token": 5}).decode())
    assert code == live.CloseCode.BAD_HELLO
    code, reason = await _close_code(
        ws_url, orjson.dumps({"type": "hello", "token": "forged"}).decode()
    )
    assert (code, reason) == (live.CloseCode.UNAUTHENTICATED, "invalid or expired token")
    code, _ = await _close_code(ws_url, orjson.dumps({"type": "hello"}).decode())
    assert code == live.CloseCode.UNAUTHENTICATED
    # A cookie alone, from another site, is refused (no cross-site socket hijacking).
    code, _ = await _close_code(
        ws_url,
        orjson.dumps({"type": "hello"}).decode(),
        Cookie=f"casebook_access={alice.token}",
        Origin="https://evil.example",
    )
    assert code == live.CloseCode.FORBIDDEN
    monkeypatch.setattr(live, "HELLO_TIMEOUT", 0.1)
    code, _ = await _close_code(ws_url, None)
    assert code == live.CloseCode.TIMEOUT
