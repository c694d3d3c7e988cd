"""Browser tests: the real app in a uvicorn server, driven by Debian's headless Chromium.

`live_server` runs `create_app(settings)` (the test backend's settings) in a uvicorn server on a
free loopback port, in a thread with its own event loop, so the browser talks to it over real TCP.
It listens on 127.0.0.1 (its `base_url`) and on the same port of 127.0.0.2, a second loopback
address: a page there is on another host as far as the app is concerned (a link target that is
not the short-link host) while nothing leaves the machine.
`page` is a fresh Chromium page through Playwright's async API; `traffic` records every request the
page makes, every failed one and every console error, for the tests to assert on.

Chromium comes from the system (`apt-get install chromium`); `playwright install` is never used. The
tests skip when /usr/bin/chromium is missing, except in CI (env CI set), where they fail instead.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Response, async_playwright

from casebook.app import create_app
from casebook.platform.settings import Settings
from tests.servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_HINT = "install Chromium (apt-get install chromium) to run browser tests"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 30.0
HOST = "127.0.0.1"
ALIAS_HOST = "127.0.0.2"


@dataclass
class LiveServer:
    """A uvicorn server for one app on 127.0.0.1, in a background thread."""

    settings: Settings
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    sockets: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def alias_url(self) -> str:
        """The same server at another loopback address, i.e. another host."""
        return f"http://{ALIAS_HOST}:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings),
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.sockets = [_listen(HOST, self.port), _listen(ALIAS_HOST, self.port)]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": self.sockets},
            name="e2e-uvicorn",
            daemon=True,
        )
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the app server exited while starting; see the log above")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app server did not start in {SERVER_START_TIMEOUT} s")
            time.sleep(0.01)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=SERVER_START_TIMEOUT)
        for sock in self.sockets:
            sock.close()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    port = free_port()
    # The app builds absolute URLs (short links…) from base_url, so it must name this server.
    served = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    server = LiveServer(served, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; skips the browser tests without it, or fails them in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(CHROMIUM_HINT)
        pytest.skip(CHROMIUM_HINT)
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Traffic:
    """What a page did: every request URL, failed requests, error responses, console errors."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error_responses: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def on_request_failed(self, request: Request) -> None:
        # A request the page itself cancelled by navigating away (a favicon still loading when a
        # form is submitted) is the browser's normal behaviour, not a failure of the server.
        if request.failure == "net::ERR_ABORTED" and request.frame.page.url != request.url:
            return
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.error_responses.append(f"{response.status} {response.url}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def on_page_error(self, error: Exception) -> None:
        self.console_errors.append(f"uncaught: {error}")

    def assert_clean(self) -> None:
        """No failed request, no 4xx/5xx response, no console error."""
        assert self.failed == []
        assert self.error_responses == []
        assert self.console_errors == []


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture
async def page(browser: Browser, traffic: Traffic) -> AsyncIterator[Page]:
    context = await browser.new_context()
    tab = await context.new_page()
    tab.set_default_timeout(10_000)
    tab.on("request", traffic.on_request)
    tab.on("requestfailed", traffic.on_request_failed)
    tab.on("response", traffic.on_response)
    tab.on("console", traffic.on_console)
    tab.on("pageerror", traffic.on_page_error)
    try:
        yield tab
    finally:
        await context.close()
