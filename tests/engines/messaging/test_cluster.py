"""Cluster mode: two real processes on one database and one Redis. A message accepted by one
node reaches sockets held by the other, in order and exactly once per connection, also when
senders on both nodes write to one conversation at the same time (the two writers then publish
out of order, and the gateways fill the gaps from the database).

Node A is the test's own app (served by uvicorn in this process); node B is
`cluster_peer.py`, a separate Python process. Skipped when redis-server is missing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn

from casebook.app import create_app
from casebook.clients.messaging.ws import MessagingSocket, open_socket
from casebook.platform.settings import Settings
from tests.engines.messaging.conftest import API, SYSTEM, ChatUser
from tests.servers import free_port

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Node:
    http: str
    ws: str


@pytest.fixture
async def cluster_settings(settings: Settings, redis_url: str) -> Settings:
    """The test's settings with the bus, cache and jobs on Redis (whatever the backend)."""
    client = aioredis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    return settings.model_copy(update={"redis_url": redis_url, "systems": [SYSTEM]})


@pytest.fixture
async def node_a(cluster_settings: Settings) -> AsyncIterator[Node]:
    app = create_app(cluster_settings)
    port = free_port()
    async with app.router.lifespan_context(app):
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        )
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
                await asyncio.sleep(0.01)
        yield Node(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/{SYSTEM}")
        server.should_exit = True
        await task


@pytest.fixture
async def node_b(cluster_settings: Settings, tmp_path: Path) -> AsyncIterator[Node]:
    """Node B in its own process. Async on purpose: node A serves from this test's event loop,
    and blocking that loop (say, in a `wait` for B to exit) would stall A mid-transaction, with
    the SQLite write lock B then waits for."""
    port = free_port()
    env = {
        **os.environ,
        "CASEBOOK_DATABASE_URL": cluster_settings.resolved_database_url,
        "CASEBOOK_REDIS_URL": cluster_settings.redis_url,
        "CASEBOOK_SECRET_KEY": cluster_settings.secret_key,
        "CASEBOOK_VAR_DIR": str(tmp_path / "node-b"),
        "CASEBOOK_WORKER_ID": str((cluster_settings.worker_id + 512) % 1024),
        "CASEBOOK_ENVIRONMENT": "test",
        "CASEBOOK_AUTO_MIGRATE": "false",
        "CASEBOOK_DEMO_DATA": "false",
        "CASEBOOK_SYSTEMS": f'["{SYSTEM}"]',
        "CASEBOOK_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    # The peer's output goes to a file, never to a pipe nobody reads (a full pipe would stall it).
    log_path = tmp_path / "node-b.log"
    with log_path.open("wb") as log_file:
        peer = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.engines.messaging.cluster_peer", str(port)),
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(timeout=1.0) as http:
            for _ in range(600):
                if peer.returncode is not None:
                    pytest.fail(f"node B exited: {log_path.read_text()[-2000:]}")
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                pytest.fail("node B did not start within 30 s")
        yield Node(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/{SYSTEM}")
    finally:
        peer.terminate()
        try:
            await asyncio.wait_for(peer.wait(), 10)
        except TimeoutError:
            peer.send_signal(signal.SIGUSR1)  # its tasks' stacks go to node-b.log
            await asyncio.sleep(0.5)
            peer.kill()
            await peer.wait()
            pytest.fail(f"node B did not stop within 10 s: {log_path.read_text()[-3000:]}")


async def register(http: httpx.AsyncClient, name: str) -> ChatUser:
    email = f"{name}-{os.urandom(4).hex()}@example.com"
    password = os.urandom(9).hex()
    registered = await http.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": name}
    )
    assert registered.status_code == 201, registered.text
    login = await http.post("/api/auth/login", json={"email": email, "password": password})
    token = login.json()["access_token"]
    device = await http.post(
        f"{API}/devices", json={"name": "phone"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert device.status_code == 201, device.text
    return ChatUser(int(registered.json()["id"]), email, password, token, int(device.json()["id"]))


async def connect(node: Node, user: ChatUser) -> MessagingSocket:
    socket = await open_socket(node.ws, token=user.token, device_id=user.device_id)
    await socket.next_event("resumed")
    return socket


async def messages(socket: MessagingSocket, count: int) -> list[dict[str, Any]]:
    return [await socket.next_event("message", within=15) for _ in range(count)]


@pytest.mark.feature("instant-messenger", "messaging")
async def test_a_message_sent_on_one_node_reaches_a_socket_on_the_other(
    node_a: Node, node_b: Node
) -> None:
    async with httpx.AsyncClient(base_url=node_a.http) as http:
        alice, bob = await register(http, "alice"), await register(http, "bob")
        chat = await http.post(
            f"{API}/conversations",
            json={"kind": "direct", "user_id": bob.id},
            headers=alice.headers,
        )
        assert chat.status_code == 201, chat.text
        chat_id = chat.json()["id"]
    on_a = await connect(node_a, alice)
    on_b = await connect(node_b, bob)
    try:
        sent = await on_a.send_message(chat_id, "from node A")
        got = await on_b.next_event("message", within=15)
        assert (got["seq"], got["message"]["body"]) == (sent["seq"], "from node A")
        reply = await on_b.send_message(chat_id, "from node B")
        back = await on_a.next_event("message", within=15)
        while back["seq"] < reply["seq"]:  # node A also shows alice her own first message
            back = await on_a.next_event("message", within=15)
        assert (back["seq"], back["message"]["body"]) == (2, "from node B")
        await on_b.ack(chat_id, 2)
        [receipt] = (await on_a.next_event("receipts", within=15))["receipts"]
        assert (receipt["user_id"], receipt["delivered_seq"]) == (bob.id, 2)
    finally:
        await on_a.close()
        await on_b.close()


async def test_senders_on_both_nodes_at_once_reach_readers_on_both_in_order_once(
    node_a: Node, node_b: Node
) -> None:
    async with httpx.AsyncClient(base_url=node_a.http) as http:
        owner, left, right = [await register(http, n) for n in ("owner", "left", "right")]
        group = await http.post(
            f"{API}/conversations",
            json={"kind": "group", "title": "both nodes", "members": [left.id, right.id]},
            headers=owner.headers,
        )
        assert group.status_code == 201, group.text
        group_id = group.json()["id"]
    per_sender = 15
    total = 2 * per_sender
    sender_a, sender_b = await connect(node_a, left), await connect(node_b, right)
    reader_a = await connect(node_a, owner)
    reader_b = await open_socket(node_b.ws, token=owner.token, device_id=owner.device_id)
    await reader_b.next_event("resumed")

    async def burst(socket: MessagingSocket, tag: str) -> list[int]:
        return [
            (await socket.send_message(group_id, f"{tag}{n}", client_id=f"{tag}{n}"))["seq"]
            for n in range(per_sender)
        ]

    try:
        seqs = await asyncio.gather(burst(sender_a, "a"), burst(sender_b, "b"))
        assert sorted(seqs[0] + seqs[1]) == list(range(1, total + 1))
        for reader in (reader_a, reader_b):
            got = await messages(reader, total)
            assert [e["seq"] for e in got] == list(range(1, total + 1))
            assert len({e["message"]["body"] for e in got}) == total
            with pytest.raises(TimeoutError):
                await reader.next_event("message", within=0.2)
    finally:
        for socket in (sender_a, sender_b, reader_a, reader_b):
            await socket.close()
