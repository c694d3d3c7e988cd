"""Throwaway PostgreSQL and Redis servers for the test run, started from installed binaries.

CI installs the Debian packages and may pass ready URLs (`CASEBOOK_TEST_POSTGRES_URL`,
`CASEBOOK_TEST_REDIS_URL`); otherwise the test run starts its own servers on free loopback ports in
a temporary directory and stops them at the end. When a binary is missing, the tests that need it
skip with a message naming the package to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casebook.platform.bus import RedisBus

POSTGRES_HINT = "install PostgreSQL (apt-get install postgresql) to run this test"
REDIS_HINT = "install Redis (apt-get install redis-server) to run this test"
DNSMASQ_HINT = "install dnsmasq (apt-get install dnsmasq-base) to run this test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start within {timeout} s")


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Servers:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="casebook-servers-")))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pg_ctl: list[str] = field(default_factory=list)

    def start_postgres(self) -> str:
        """Start a PostgreSQL cluster (fsync on) and return an asyncpg URL for its superuser."""
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise FileNotFoundError(POSTGRES_HINT)
        data = self.root / "pg"
        run_as = _unprivileged_prefix()
        if run_as:
            subprocess.run(["chown", "-R", "postgres", str(self.root)], check=True)
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "casebook",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = free_port()
        options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(self.root / "pg.log"),
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        return f"postgresql+asyncpg://casebook@127.0.0.1:{port}/postgres"

    def start_redis(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(REDIS_HINT)
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--databases",
                "64",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        _wait_for_port(port)
        return f"redis://127.0.0.1:{port}"

    def stop(self) -> None:
        if self.pg_ctl:
            subprocess.run(self.pg_ctl, check=False, stdout=subprocess.DEVNULL)
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


class DnsServer:
    """A real authoritative DNS server (dnsmasq) on 127.0.0.1 answering only for `zone`.

    `serve(txt)` (re)starts it with the given TXT records, `{name: [record, …]}` where each record
    is a list of character-strings; names in `zone` without records answer NXDOMAIN. `nameserver`
    is its `127.0.0.1:<port>` for a resolver. Raises FileNotFoundError (DNSMASQ_HINT) when dnsmasq
    is not installed.
    """

    def __init__(self, zone: str, on_address: Callable[[str], object] | None = None) -> None:
        self.binary = shutil.which("dnsmasq") or (
            "/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None
        )
        if self.binary is None:
            raise FileNotFoundError(DNSMASQ_HINT)
        self.zone = zone
        self.on_address = on_address
        """Called with `nameserver` after each start (the port may change: see `serve`)."""
        self.port = _free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def serve(self, txt: dict[str, list[list[str]]]) -> None:
        """(Re)start with these records. dnsmasq also listens on TCP, so a port free for UDP can
        be taken for TCP by another server of the test run (exit status 2): then it retries on
        another port and reports it through `on_address`."""
        for attempt in range(10):
            if attempt:
                self.port = _free_udp_port()
            try:
                self._start(txt)
            except _AddressInUse:
                continue
            if self.on_address is not None:
                self.on_address(self.nameserver)
            return
        raise RuntimeError("dnsmasq found no free port in 10 tries")

    def _start(self, txt: dict[str, list[list[str]]]) -> None:
        self.stop()
        assert self.binary is not None
        command = [
            self.binary,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            f"--port={self.port}",
            f"--local=/{self.zone}/",
            "--log-facility=-",
            "--pid-file=",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        for name, records in txt.items():
            for strings in records:
                assert not any("," in string for string in strings), "dnsmasq splits on commas"
                command.append(f"--txt-record={name},{','.join(strings)}")
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for_dns(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class _AddressInUse(RuntimeError):
    """dnsmasq could not bind its port (exit status 2)."""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_dns(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait until a UDP query to `port` gets any answer (dnsmasq binds after parsing its flags)."""
    query = bytes.fromhex("1234010000010000000000000000010001")  # "." A?
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if process.returncode == 2:  # dnsmasq's "network error": the port is taken
                raise _AddressInUse(f"dnsmasq could not bind port {port}")
            raise RuntimeError(f"dnsmasq exited with {process.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.1)
            try:
                sock.sendto(query, ("127.0.0.1", port))
                sock.recv(512)
                return
            except OSError:
                time.sleep(0.05)
    raise RuntimeError(f"dnsmasq did not answer on 127.0.0.1:{port}")


def _unprivileged_prefix() -> list[str]:
    """PostgreSQL refuses to run as root; run it as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise FileNotFoundError("runuser (util-linux) is needed to start PostgreSQL as root")
    return [runuser, "-u", "postgres", "--"]


@contextlib.asynccontextmanager
async def serve_in_loop(app: Any, *, timeout_s: float = 10.0) -> AsyncIterator[str]:
    """Serve the ASGI `app` with a real uvicorn server on a free loopback port, in the calling
    test's event loop (the app's lifespan is the caller's business); yields its base URL
    `http://127.0.0.1:<port>`. For clients that need real sockets: SDKs that speak `requests`,
    WebSockets, webhook receivers."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(timeout_s):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped the server
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def kill_bus_subscribers(bus: RedisBus) -> int:
    """Close `bus`'s subscriber connections on its Redis database (CLIENT KILL by id), as a
    dropped network would; returns how many.

    Not `CLIENT KILL TYPE pubsub`: that would also cut the other test workers' subscribers,
    which share the Redis server on databases of their own."""
    db = int(bus.client.connection_pool.connection_kwargs.get("db", 0))
    clients = await bus.client.client_list()
    ids = [c["id"] for c in clients if "P" in c["flags"] and int(c["db"]) == db]
    for client_id in ids:
        await bus.client.client_kill_filter(_id=client_id)
    return len(ids)
