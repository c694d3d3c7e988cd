"""The fastest a Python ASGI app can answer a redirect here: the ceiling for Casebook's redirect.

`app` is a bare ASGI callable that answers every HTTP request with a prebuilt `302 Found` and
does nothing else: no lookup, no click, no metrics. `AsgiCeiling` serves it with granian or
uvicorn exactly as `casebook serve --server …` serves Casebook (granian: ASGI interface, uvloop,
access log off; uvicorn: uvloop and httptools, access log off; N worker processes), so the
difference between the two is the cost of Casebook's own work per redirect, and the difference
between this and nginx is the cost of Python and of the server.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.types import Receive, Scope, Send

from bench.process import ScratchProcess, free_port, wait_for_port
from bench.wrk import pinned

REPO = Path(__file__).resolve().parents[1]
_START = {
    "type": "http.response.start",
    "status": 302,
    "headers": [
        (b"location", b"https://example.com/a-long-target-url"),
        (b"cache-control", b"private, no-cache"),
        (b"content-length", b"0"),
    ],
}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer any HTTP request with the same 302; ignore lifespan events."""
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)


class AsgiCeiling(ScratchProcess):
    """`server` (granian or uvicorn) serving `app` on 127.0.0.1:<free port> with `workers`
    processes (pinned to cores `cpus` if given). Use as a context manager; `url` is the base URL.
    Raises RuntimeError when the server does not come up."""

    def __init__(
        self,
        *,
        workers: int = 1,
        cpus: str | None = None,
        server: str = "granian",
        app: str = "bench.asgi_ceiling:app",
        ready_status: int = 302,
    ) -> None:
        """`app` is the ASGI callable to serve ("module:attribute"); `ready_status` what it
        answers a GET of / with once it is up."""
        super().__init__(Path(tempfile.mkdtemp(prefix="casebook-bench-asgi-")))
        self._app = app
        self._ready_status = ready_status
        self._workers = workers
        self._cpus = cpus
        self._server = server
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AsgiCeiling:
        log = (self._root / "server.log").open("wb")
        command = self._command()
        self._process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            wait_for_port(self.port, self._process)
            self._wait_until_serving()
        except RuntimeError as exc:
            output = (self._root / "server.log").read_text(errors="replace")
            self.__exit__(None, None, None)
            raise RuntimeError(f"{self._name} did not start ({exc}):\n{output}") from None
        return self

    @property
    def _name(self) -> str:
        return self._server

    def _command(self) -> list[str]:
        """The server's command line: the same settings `casebook serve` passes to it."""
        if self._server == "uvicorn":
            serve = ["-m", "uvicorn", self._app, "--no-access-log"]
            serve += ["--host", "127.0.0.1"]
        else:
            serve = ["-m", "granian", self._app, "--interface", "asgi"]
            serve += ["--loop", "uvloop", "--host", "127.0.0.1", "--no-access-log"]
        return [
            *pinned(self._cpus),
            sys.executable,
            *serve,
            "--port",
            str(self.port),
            "--workers",
            str(self._workers),
            "--log-level",
            "warning",
        ]

    def _wait_until_serving(self, timeout_s: float = 30.0) -> None:
        """With several workers the port opens before they are ready; wait for an answer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url, timeout=5).status_code == self._ready_status:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no answer from {self.url} within {timeout_s:g} s")
