"""wsdirect: text frames written at once to a socket that uvicorn serves, in order with the
ASGI sends, and refused (False, nothing written) whenever the ASGI send must be taken: before
the accept, while the transport is paused for flow control, after the client's close."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect

from casebook.platform.wsdirect import direct_writer, push_receive
from tests.servers import serve_in_loop


async def test_a_uvicorn_socket_is_written_at_once_in_order_with_its_asgi_sends() -> None:
    seen: dict[str, Any] = {}
    done = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        write = direct_writer(send)
        assert write is not None, "uvicorn's protocol changed: see casebook/platform/wsdirect.py"
        seen["before accept"] = write("too early")
        await send({"type": "websocket.accept"})
        seen["direct"] = [write(f"direct {n}") for n in range(3)]
        await send({"type": "websocket.send", "text": "through asgi"})
        protocol: Any = getattr(send, "__self__", None)
        protocol.writable.clear()  # what uvicorn does when the transport's buffer is full
        seen["paused"] = write("while paused")
        protocol.writable.set()
        seen["after"] = write("after the pause")
        message = await receive()
        seen["client"] = message["type"]
        seen["after close"] = write("too late")
        done.set()

    async with serve_in_loop(app) as base:
        url = base.replace("http://", "ws://", 1) + "/"
        async with connect(url) as socket:
            received = [await socket.recv() for _ in range(5)]
        async with asyncio.timeout(5):
            await done.wait()
    assert received == ["direct 0", "direct 1", "direct 2", "through asgi", "after the pause"]
    assert seen == {
        "before accept": False,
        "direct": [True, True, True],
        "paused": False,
        "after": True,
        "client": "websocket.disconnect",
        "after close": False,
    }


@pytest.mark.parametrize(
    "send",
    [None, print, lambda message: None],
    ids=["no send", "a builtin", "a function"],
)
def test_other_servers_sends_get_no_direct_writer(send: Any) -> None:
    assert direct_writer(send) is None


def test_a_method_of_another_class_gets_no_direct_writer() -> None:
    class OtherServer:
        async def send(self, message: Any) -> None:
            pass

    assert direct_writer(OtherServer().send) is None


async def test_a_uvicorn_sockets_messages_are_pushed_in_order_and_reading_pauses() -> None:
    """`push_receive` hands each message to the callback as uvicorn parses it, those queued
    before it first; while paused nothing more is read, and on resume the rest arrives."""
    pushed: list[Any] = []
    state: dict[str, Any] = {}
    ready = asyncio.Event()
    got = asyncio.Event()

    def deliver(message: Any) -> None:
        pushed.append(message.get("text", message["type"]))
        got.set()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        first = await receive()  # read through ASGI, then the rest pushed
        state["first"] = first["text"]
        state["control"] = control = push_receive(receive, deliver)
        assert control is not None, "uvicorn's protocol changed: see casebook/platform/wsdirect.py"
        ready.set()
        while "websocket.disconnect" not in pushed:
            got.clear()
            await got.wait()

    async def until(count: int) -> None:
        async with asyncio.timeout(5):
            while len(pushed) < count:
                got.clear()
                await got.wait()

    async with serve_in_loop(app) as base:
        async with connect(base.replace("http://", "ws://", 1) + "/") as socket:
            for text in ("asgi", "one", "two"):
                await socket.send(text)
            async with asyncio.timeout(5):
                await ready.wait()
            await until(2)
            control = state["control"]
            control.pause()
            await socket.send("three")
            await asyncio.sleep(0.2)
            assert pushed == ["one", "two"]
            control.resume()
            await until(3)
        await until(4)
    assert state["first"] == "asgi"
    assert pushed[:4] == ["one", "two", "three", "websocket.disconnect"]
    # uvicorn queues a disconnect for the close frame and another when the connection is lost
    assert set(pushed[4:]) <= {"websocket.disconnect"}


def test_other_servers_receives_are_not_pushed() -> None:
    assert push_receive(None, print) is None
    assert push_receive(print, print) is None
