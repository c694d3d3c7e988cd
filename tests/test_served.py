"""`casebook serve` as a user runs it, on each HTTP server it offers (granian, the default, and
uvicorn): a real process on a loopback port answering HTTP, trusting `X-Forwarded-For` only from
loopback as documented, and carrying a chat over the WebSocket at `/ws/instant-messenger`."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from casebook.clients.messaging.client import MessagingClient
from casebook.clients.messaging.ws import connect
from tests.servers import free_port

SERVE = [sys.executable, "-c", "from casebook.cli import main; main()", "serve"]


@pytest.fixture(params=["granian", "uvicorn"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The base URL of `casebook serve --server <param>` on SQLite in `tmp_path`."""
    port = free_port()
    env = {
        **os.environ,
        "CASEBOOK_VAR_DIR": str(tmp_path / "var"),
        "CASEBOOK_DATABASE_URL": "",
        "CASEBOOK_REDIS_URL": "",
        "CASEBOOK_SECRET_KEY": secrets.token_urlsafe(48),
        "CASEBOOK_DEMO_DATA": "false",
        "CASEBOOK_LOG_LEVEL": "WARNING",
        "CASEBOOK_URL_SHORTENER_SHORTEN_PER_MINUTE_ANONYMOUS": "2",
    }
    env.pop("CASEBOOK_SYSTEMS", None)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            *SERVE,
            "--only",
            "url-shortener",
            "--only",
            "instant-messenger",
            "--port",
            str(port),
            "--server",
            request.param,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail((tmp_path / "serve.log").read_text())
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer within 60 s:\n{(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def test_http_proxy_headers_and_a_websocket_chat(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        # Anonymous shortens are limited per client address (2 a minute here). A loopback proxy
        # is believed about the address it forwards for, so a third client gets its own budget.
        shorten = "/api/url-shortener/links"
        for _ in range(2):
            made = await http.post(shorten, json={"url": "https://example.com/a"})
            assert made.status_code == 201, made.text
        assert (await http.post(shorten, json={"url": "https://example.com/b"})).status_code == 429
        proxied = {"X-Forwarded-For": "203.0.113.9"}
        forwarded = await http.post(shorten, json={"url": "https://example.com/c"}, headers=proxied)
        assert forwarded.status_code == 201, forwarded.text
        redirect = await http.get(f"/s/{forwarded.json()['code']}")
        assert (redirect.status_code, redirect.headers["location"]) == (
            302,
            "https://example.com/c",
        )

        alice, bob = MessagingClient(http), MessagingClient(http)
        for client, name in ((alice, "alice"), (bob, "bob")):
            email = f"{name}-{secrets.token_hex(4)}@example.com"
            await client.register(email, "correct horse battery", name)
            await client.login(email, "correct horse battery")
            await client.add_device(f"{name}'s laptop")
        assert bob.user_id is not None and bob.token and bob.device_id
        chat = await alice.create_direct(bob.user_id)
        ws = served.replace("http://", "ws://") + "/ws/instant-messenger"
        async with connect(ws, token=bob.token, device_id=bob.device_id) as socket:
            await alice.send_text(chat["id"], "over a real socket")
            event = await asyncio.wait_for(socket.next_event("message"), timeout=10)
            assert event["message"]["body"] == "over a real socket"
