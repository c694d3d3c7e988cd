"""`casebook serve` as a child process on a free loopback port, for a benchmark to measure.

The server runs exactly as a user would start it (`casebook serve --only … --workers N`), with
its own variable directory and, when given, a PostgreSQL database and a Redis database.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from bench.process import ScratchProcess, free_port, wait_for_port
from bench.wrk import pinned

_CASEBOOK = [sys.executable, "-c", "from casebook.cli import main; main()"]
"""The `casebook` command of this interpreter's installation, wherever its scripts are."""


class CasebookServer(ScratchProcess):
    """`casebook serve --only <systems> --workers <workers>` on 127.0.0.1:<free port>.

    Embedded (SQLite under a temporary directory, in-process cache) unless `database_url` and
    `redis_url` are given. `env` adds settings (e.g. a system's limits); `cpus` pins the server
    to those cores (`taskset -c`, e.g. "0"); `server` is `casebook serve --server` (granian or
    uvicorn). Use as a context manager;
    `url` is the base URL. Raises RuntimeError with the server's log when it does not come up.
    """

    def __init__(
        self,
        systems: Sequence[str],
        *,
        workers: int = 1,
        database_url: str = "",
        redis_url: str = "",
        env: Mapping[str, str] | None = None,
        cpus: str | None = None,
        server: str = "granian",
    ) -> None:
        self._systems = list(systems)
        self._server = server
        self._workers = workers
        self._cpus = cpus
        super().__init__(Path(tempfile.mkdtemp(prefix="casebook-bench-")))
        self._env = {
            **os.environ,
            "CASEBOOK_VAR_DIR": str(self._root / "var"),
            "CASEBOOK_DATABASE_URL": database_url,
            "CASEBOOK_REDIS_URL": redis_url,
            "CASEBOOK_SECRET_KEY": secrets.token_urlsafe(48),
            "CASEBOOK_DEMO_DATA": "false",
            "CASEBOOK_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self._env.pop("CASEBOOK_SYSTEMS", None)
        self.port = free_port()

    @property
    def var_dir(self) -> Path:
        """The server's CASEBOOK_VAR_DIR (its SQLite database is `casebook.db` there)."""
        return self._root / "var"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CasebookServer:
        only = [arg for slug in self._systems for arg in ("--only", slug)]
        # As an operator would: migrate first (serve migrates by itself only when embedded).
        migrated = subprocess.run(
            [*_CASEBOOK, "migrate"], env=self._env, capture_output=True, text=True, check=False
        )
        if migrated.returncode != 0:
            self.__exit__(None, None, None)
            raise RuntimeError(f"casebook migrate failed:\n{migrated.stdout}{migrated.stderr}")
        log = (self._root / "server.log").open("wb")
        self._process = subprocess.Popen(
            [
                *pinned(self._cpus),
                *_CASEBOOK,
                "serve",
                *only,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self._workers),
                "--server",
                self._server,
            ],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            wait_for_port(self.port, self._process)
            self._wait_until_serving()
        except RuntimeError as exc:
            output = self.log_tail()
            self.__exit__(None, None, None)
            raise RuntimeError(f"casebook serve did not start ({exc}):\n{output}") from None
        return self

    def _wait_until_serving(self, timeout_s: float = 60.0) -> None:
        """With several workers the port opens before they are ready; wait for an answer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no answer from {self.url} within {timeout_s:g} s")

    def log_tail(self, lines: int = 40) -> str:
        path = self._root / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
