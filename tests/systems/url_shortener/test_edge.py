"""The redirect listener (`edge.py`): short links on a port of their own, spoken to over real
TCP connections with raw HTTP/1.1 bytes (and with httpx), sharing the app's process state."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from casebook.app import create_app
from casebook.platform.metrics import fold_all
from casebook.platform.settings import Settings
from casebook.systems.url_shortener import edge as edge_module
from casebook.systems.url_shortener import service
from casebook.systems.url_shortener.edge import RedirectEdge
from casebook.systems.url_shortener.runtime import Shortener, shortener
from tests.servers import free_port
from tests.systems.url_shortener.conftest import API, Account, ShiftedClock, shorten
from tests.systems.url_shortener.test_domains import (  # noqa: F401 (fixtures)
    HOST,
    ProofServer,
    proof_server,
    verified,
)

pytestmark = pytest.mark.feature("url-shortener", "redirect")


@pytest.fixture
async def edge(state: Shortener) -> AsyncIterator[tuple[RedirectEdge, int]]:
    listener = RedirectEdge(state)
    port = await listener.start("127.0.0.1", 0)
    yield listener, port
    await listener.stop()


class Wire:
    """A raw TCP connection to the listener."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Wire:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        """Read one response: status, headers (lower-case names), body."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = b"" if head_only else await self.reader.readexactly(length)
        return status, headers, body

    async def closed(self) -> bool:
        """Whether the server closed the connection (EOF within 5 s)."""
        return await asyncio.wait_for(self.reader.read(), 5) == b""

    def close(self) -> None:
        self.writer.close()


def get(path: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1", *extra, "", ""]
    return "\r\n".join(lines).encode()


@pytest.mark.usefixtures("manual_flush")
async def test_a_cached_code_redirects_counts_its_click_and_its_metrics(
    client: httpx.AsyncClient,
    alice: Account,
    state: Shortener,
    edge: tuple[RedirectEdge, int],
) -> None:
    _, port = edge
    link = (await shorten(client, alice.headers, url="https://example.com/edge")).json()
    labels = {"method": "GET", "route": "/s/{code}", "status": "302"}
    fold_all()
    before = REGISTRY.get_sample_value("casebook_http_requests_total", labels) or 0.0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(3):
            response = await http.get(
                f"/s/{link['code']}",
                headers={"referer": "https://t.co/x", "user-agent": "curl/8.5.0"},
            )
            assert response.status_code == 302
            assert response.headers["location"] == "https://example.com/edge"
            assert response.headers["cache-control"] == "private, no-cache"
            assert response.headers["content-length"] == "0"
            assert datetime.strptime(response.headers["date"], "%a, %d %b %Y %H:%M:%S GMT")
        head = await http.head(f"/s/{link['code']}")
        assert head.status_code == 302  # a HEAD is answered but is not a click
    assert state.clicks.pending == 3
    assert await state.clicks.flush() == 3
    mine = (await client.get(f"{API}/links/{link['code']}", headers=alice.headers)).json()
    assert mine["click_count"] == 3
    fold_all()
    assert REGISTRY.get_sample_value("casebook_http_requests_total", labels) == before + 3


async def test_unknown_deleted_and_expired_links_get_problems(
    client: httpx.AsyncClient,
    alice: Account,
    state: Shortener,
    edge: tuple[RedirectEdge, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, port = edge
    gone = (await shorten(client, alice.headers, url="https://example.com/gone")).json()
    await client.delete(f"{API}/links/{gone['code']}", headers=alice.headers)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    expiring = (
        await shorten(client, alice.headers, url="https://example.com/exp", expires_at=soon)
    ).json()
    monkeypatch.setattr(edge_module, "time", ShiftedClock(3601))  # past the expiry, no race
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        unknown = await http.get("/s/NoSuchCode1")
        deleted = await http.get(f"/s/{gone['code']}")
        expired = await http.get(f"/s/{expiring['code']}")
        bad = await http.get("/s/not.a.code")
        elsewhere = await http.get("/api/url-shortener/links")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == "/problems/url-shortener/link-not-found"
    assert deleted.status_code == 410
    assert deleted.json()["type"] == "/problems/url-shortener/link-deleted"
    assert expired.status_code == 410
    assert expired.json()["type"] == "/problems/url-shortener/link-expired"
    assert bad.status_code == 404
    assert elsewhere.status_code == 404
    assert "short links only" in elsewhere.json()["detail"]
    assert state.clicks.pending == 0


async def test_a_prepared_answer_follows_edits_expiry_and_deletion(
    client: httpx.AsyncClient,
    alice: Account,
    edge: tuple[RedirectEdge, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener, port = edge
    link = (await shorten(client, alice.headers, url="https://example.com/before")).json()
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    expiring = (
        await shorten(client, alice.headers, url="https://example.com/exp", expires_at=soon)
    ).json()
    path, expiring_path = f"/s/{link['code']}", f"/s/{expiring['code']}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(2):  # the first answer prepares the head, the second is served from it
            assert (await http.get(path)).headers["location"] == "https://example.com/before"
            assert (await http.get(expiring_path)).status_code == 302
        assert len(listener.prepared) == 2
        edited = await client.patch(
            f"{API}/links/{link['code']}",
            json={"url": "https://example.com/after", "redirect_type": 301},
            headers=alice.headers,
        )
        assert edited.status_code == 200
        moved = await http.get(path)
        assert (moved.status_code, moved.headers["location"]) == (301, "https://example.com/after")
        assert moved.headers["cache-control"] == "public, max-age=86400"
        with monkeypatch.context() as later:  # past the expiry without racing the real clock
            later.setattr(edge_module, "time", ShiftedClock(3601))
            assert (await http.get(expiring_path)).status_code == 410
        in_a_day = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        await client.patch(
            f"{API}/links/{link['code']}", json={"expires_at": in_a_day}, headers=alice.headers
        )
        ages = [int((await http.get(path)).headers["cache-control"].split("=")[1]) for _ in "ab"]
        assert all(7_100 < age <= 7_200 for age in ages)  # counted down, not a prepared 86400
        await client.delete(f"{API}/links/{link['code']}", headers=alice.headers)
        assert (await http.get(path)).status_code == 410


async def test_a_prepared_answer_lasts_only_while_its_headers_hold(
    client: httpx.AsyncClient,
    alice: Account,
    edge: tuple[RedirectEdge, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, port = edge
    in_two_days = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    link = (
        await shorten(
            client,
            alice.headers,
            url="https://example.com/perm",
            redirect_type=301,
            expires_at=in_two_days,
        )
    ).json()
    path = f"/s/{link['code']}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(2):
            assert (await http.get(path)).headers["cache-control"] == "public, max-age=86400"
        # A day and a half later the max-age counts down to the expiry...
        monkeypatch.setattr(edge_module, "time", ShiftedClock(36 * 3600))
        age = int((await http.get(path)).headers["cache-control"].split("=")[1])
        assert 43_000 < age <= 43_200
        # ...and after it the link is gone, though its cache entry is the same bytes.
        monkeypatch.setattr(edge_module, "time", ShiftedClock(3 * 86_400))
        assert (await http.get(path)).status_code == 410


async def test_pipelined_answers_keep_request_order_across_a_cache_miss(
    client: httpx.AsyncClient, alice: Account, state: Shortener, edge: tuple[RedirectEdge, int]
) -> None:
    _, port = edge
    warm = (await shorten(client, alice.headers, url="https://example.com/warm")).json()
    cold = (await shorten(client, alice.headers, url="https://example.com/cold")).json()
    assert (await client.get(f"/s/{warm['code']}")).status_code == 302  # now in memory
    await state.links.invalidate(0, cold["code"])  # the first request must go to the database
    wire = await Wire.open(port)
    wire.send(
        get(f"/s/{cold['code']}")
        + get(f"/s/{warm['code']}")
        + get("/s/Unknown0000")
        + get(f"/s/{warm['code']}", method="HEAD")
    )
    answers = [await wire.response(), await wire.response(), await wire.response()]
    assert [(status, headers.get("location")) for status, headers, _ in answers] == [
        (302, "https://example.com/cold"),
        (302, "https://example.com/warm"),
        (404, None),
    ]
    status, headers, _ = await wire.response(head_only=True)
    assert (status, headers["location"]) == (302, "https://example.com/warm")
    wire.close()


async def test_connection_close_and_http_1_0_are_honoured(
    client: httpx.AsyncClient, alice: Account, edge: tuple[RedirectEdge, int]
) -> None:
    _, port = edge
    link = (await shorten(client, alice.headers, url="https://example.com/close")).json()
    path = f"/s/{link['code']}"

    wire = await Wire.open(port)
    wire.send(get(path, "Connection: close") + get(path))  # the second is never answered
    status, headers, _ = await wire.response()
    assert (status, headers["connection"]) == (302, "close")
    assert await wire.closed()

    old = await Wire.open(port)
    old.send(get(path, version="1.0"))
    assert (await old.response())[0] == 302
    assert await old.closed()

    kept = await Wire.open(port)
    kept.send(get(path, "Connection: keep-alive", version="1.0"))
    status, headers, _ = await kept.response()
    assert headers["connection"] == "keep-alive"
    kept.send(get(path, "Connection: keep-alive", version="1.0"))
    assert (await kept.response())[0] == 302
    kept.close()


async def test_what_it_does_not_serve_is_refused_and_the_connection_closed(
    edge: tuple[RedirectEdge, int],
) -> None:
    _, port = edge
    post = await Wire.open(port)
    post.send(b"POST /s/abc HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial")
    status, headers, body = await post.response()
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert headers["connection"] == "close"
    assert b"/problems/method-not-allowed" in body
    assert await post.closed()

    garbage = await Wire.open(port)
    garbage.send(b"NOT HTTP AT ALL\r\n\r\n")
    status, _, body = await garbage.response()
    assert status == 400
    assert b"malformed-request" in body
    assert await garbage.closed()

    long_url = await Wire.open(port)
    long_url.send(get("/s/" + "a" * (edge_module.MAX_URL_BYTES + 10)))
    assert (await long_url.response())[0] == 414
    assert await long_url.closed()

    big_headers = await Wire.open(port)
    big_headers.send(get("/s/abc", *(f"X-Filler-{n}: {'b' * 1000}" for n in range(20))))
    assert (await big_headers.response())[0] == 431
    assert await big_headers.closed()


async def test_percent_encoded_paths_are_decoded(
    client: httpx.AsyncClient, alice: Account, edge: tuple[RedirectEdge, int]
) -> None:
    _, port = edge
    link = (await shorten(client, alice.headers, url="https://example.com/pct")).json()
    encoded = "".join(f"%{ord(c):02X}" for c in link["code"])
    wire = await Wire.open(port)
    wire.send(get(f"/s/{encoded}?utm_source=x"))
    status, headers, _ = await wire.response()
    assert (status, headers["location"]) == (302, "https://example.com/pct")
    wire.close()


async def test_links_on_a_verified_domain_answer_by_host(
    client: httpx.AsyncClient,
    alice: Account,
    proof_server: ProofServer,  # noqa: F811
    edge: tuple[RedirectEdge, int],
) -> None:
    _, port = edge
    await verified(client, alice, proof_server)
    link = (
        await shorten(client, alice.headers, url="https://brand.example/spring", domain=HOST)
    ).json()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        branded = await http.get(f"/{link['code']}", headers={"host": f"{HOST}:8080"})
        unbranded = await http.get(f"/{link['code']}")
        main = await http.get(f"/s/{link['code']}")
    assert branded.status_code == 302
    assert branded.headers["location"] == "https://brand.example/spring"
    assert unbranded.status_code == 404
    assert main.status_code == 404


async def test_idle_and_dawdling_connections_are_closed(
    edge: tuple[RedirectEdge, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = edge
    monkeypatch.setattr(edge_module, "KEEP_ALIVE_SECONDS", 0.2)
    monkeypatch.setattr(edge_module, "HEADER_SECONDS", 0.2)
    idle = await Wire.open(port)
    slow = await Wire.open(port)
    slow.send(b"GET /s/abc HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert await idle.closed()
    assert await slow.closed()


async def test_the_listener_starts_with_the_app_when_a_port_is_set(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEBOOK_URL_SHORTENER_REDIRECT_PORT", "0")
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        state = shortener(application.state.platform)
        assert state.edge is not None and state.edge.server is not None
        port = state.edge.server.sockets[0].getsockname()[1]
        code = (await service.shorten(state, None, "https://example.com/boot")).link.code
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.get(f"/s/{code}")
        assert response.headers["location"] == "https://example.com/boot"
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


def test_casebook_serve_answers_short_links_on_its_redirect_port(tmp_path: Path) -> None:
    """End to end under the real server: granian's workers on uvloop (whose transports are not
    asyncio.Transport subclasses), the listener started from `--redirect-port`, demo links."""
    port, redirect_port = free_port(), free_port()
    env = {
        **os.environ,
        "CASEBOOK_VAR_DIR": str(tmp_path),
        "CASEBOOK_DATABASE_URL": "",
        "CASEBOOK_REDIS_URL": "",
        "CASEBOOK_LOG_LEVEL": "WARNING",
    }
    casebook = str(Path(sys.executable).parent / "casebook")
    command = [casebook, "serve", "--only", "url-shortener", "--port", str(port)]
    command += ["--redirect-port", str(redirect_port)]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{redirect_port}") as http:
            response = None
            for _ in range(300):
                try:
                    response = http.get("/s/rfc9457")
                    break
                except httpx.TransportError:
                    assert server.poll() is None, (tmp_path / "serve.log").read_text()
                    time.sleep(0.1)
            assert response is not None, (tmp_path / "serve.log").read_text()
            assert response.status_code == 302
            assert response.headers["location"] == "https://www.rfc-editor.org/rfc/rfc9457"
            again = http.get("/s/rfc9457")  # the same kept-alive connection
            assert again.status_code == 302
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
