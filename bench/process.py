"""Starting and stopping the servers a benchmark measures: free ports, readiness, shutdown."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.servers import free_port

__all__ = ["ScratchProcess", "free_port", "stop_process", "wait_for_port"]


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 60.0
) -> None:
    """Block until something accepts connections on 127.0.0.1:`port`.

    Raises RuntimeError when `process` exits first or `timeout_s` passes.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout_s:g} s")


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Ask `process` to stop (SIGTERM, then SIGKILL after `timeout_s`) and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ScratchProcess:
    """A child process with a scratch directory of its own; leaving the `with` block stops the
    process and removes the directory. Subclasses start `_process` in `__enter__`."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._process: subprocess.Popen[bytes] | None = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None
        shutil.rmtree(self._root, ignore_errors=True)
