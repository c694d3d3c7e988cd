"""The fastest this machine's Python answers a redirect below ASGI: the ceiling for the URL
Shortener's redirect listener (`casebook.systems.url_shortener.edge`).

`python -m bench.protocol_ceiling --port P --workers N` runs N processes, each an
`asyncio.Protocol` over the `httptools` parser on uvloop listening on P with SO_REUSEPORT (as
the listener does), answering every request with the same prebuilt keep-alive `302 Found`: no
lookup, no click, no metrics, no Date. The difference between it and the listener is the
listener's own work per redirect.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import sys
import tempfile
from pathlib import Path
from typing import cast

import httptools
import uvloop

from bench.asgi_ceiling import AsgiCeiling
from bench.wrk import pinned

REPO = Path(__file__).resolve().parents[1]
ANSWER = (
    b"HTTP/1.1 302 Found\r\nlocation: https://example.com/a-long-target-url\r\n"
    b"cache-control: private, no-cache\r\ncontent-length: 0\r\n\r\n"
)


class _Bare(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self) -> None:
        self.transport.write(ANSWER)


def _serve(port: int) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Bare, "127.0.0.1", port, reuse_port=True, backlog=2048)
        await server.serve_forever()

    uvloop.run(run())


class ProtocolCeiling(AsgiCeiling):
    """This module's server with `workers` processes (pinned to `cpus` if given), as a context
    manager; `url` is its base URL. Raises RuntimeError when it does not come up."""

    def __init__(self, *, workers: int = 1, cpus: str | None = None) -> None:
        super().__init__(workers=workers, cpus=cpus, server="protocol")
        self._root = Path(tempfile.mkdtemp(prefix="casebook-bench-protocol-"))

    @property
    def _name(self) -> str:
        return "the bare protocol server"

    def _command(self) -> list[str]:
        return [
            *pinned(self._cpus),
            sys.executable,
            "-m",
            "bench.protocol_ceiling",
            "--port",
            str(self.port),
            "--workers",
            str(self._workers),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.protocol_ceiling")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    processes = [
        multiprocessing.Process(target=_serve, args=(args.port,)) for _ in range(args.workers)
    ]

    def stop(*_: object) -> None:  # SIGTERM from the bench: take the workers down too
        for process in processes:
            process.terminate()

    signal.signal(signal.SIGTERM, stop)
    for process in processes:
        process.start()
    for process in processes:
        process.join()


if __name__ == "__main__":
    main()
