"""nginx answering a static redirect: the physical ceiling of an HTTP redirect on this machine.

nginx (Debian `nginx-light` or `nginx`) runs in the foreground from a generated configuration in a
temporary directory, one worker per core (or as many as asked), access log off, keep-alive
unbounded: the fastest a mature C server answers `302 Found` here. Casebook's redirect is
reported as a share of it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.process import ScratchProcess, free_port, wait_for_port
from bench.wrk import pinned

NGINX_HINT = "nginx is not installed: apt-get install nginx-light"

_CONFIG = """daemon off;
master_process on;
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  keepalive_requests 100000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 302 {location}; }}
  }}
}}
"""


class NginxRedirect(ScratchProcess):
    """A foreground nginx on a free loopback port answering every path with a 302.

    `workers` nginx worker processes (default: one per core), pinned to cores `cpus` if given.

    Use as a context manager; `url` is its base URL. Raises FileNotFoundError with the package
    to install when nginx is missing, RuntimeError when it does not start.
    """

    def __init__(
        self,
        location: str = "https://example.com/a-long-target-url",
        *,
        cpus: str | None = None,
        workers: int | None = None,
    ) -> None:
        binary = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).is_file()), None
        )
        if binary is None:
            raise FileNotFoundError(NGINX_HINT)
        self._binary = binary
        self._location = location
        self._cpus = cpus
        self._workers = workers
        super().__init__(Path(tempfile.mkdtemp(prefix="casebook-bench-nginx-")))
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> NginxRedirect:
        config = self._root / "nginx.conf"
        workers = "auto" if self._workers is None else str(self._workers)
        config.write_text(
            _CONFIG.format(
                root=self._root, port=self.port, location=self._location, workers=workers
            )
        )
        self._process = subprocess.Popen(
            [
                *pinned(self._cpus),
                self._binary,
                "-p",
                str(self._root),
                "-e",
                str(self._root / "error.log"),
                "-c",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, self._process)
        except RuntimeError:
            log = (self._root / "error.log").read_text(errors="replace")
            self.__exit__(None, None, None)
            raise RuntimeError(f"nginx did not start: {log.strip()}") from None
        return self
