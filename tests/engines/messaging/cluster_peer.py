"""A second Casebook node for test_cluster.py, run as its own process:

    python -m tests.engines.messaging.cluster_peer <port>

It serves the whole app with uvicorn on 127.0.0.1:<port>, configured like any node by the
`CASEBOOK_*` environment (the test passes the same database, Redis and secret key as its own node,
and a different worker id). `kill -USR1 <pid>` prints the stack of every asyncio task, to see
where a node that does not stop is waiting.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import uvicorn

from casebook.app import create_app
from casebook.platform.settings import Settings


def _print_tasks() -> None:
    for task in asyncio.all_tasks():
        print(f"task {task.get_name()}:", file=sys.stderr)
        awaiting: Any = task.get_coro()
        while awaiting is not None:
            frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)
            if frame is not None:
                print(f"  {frame.f_code.co_filename}:{frame.f_lineno}", file=sys.stderr)
            awaiting = getattr(awaiting, "cr_await", None) or getattr(
                awaiting, "gi_yieldfrom", None
            )
    sys.stderr.flush()


async def serve(port: int) -> None:
    config = uvicorn.Config(
        create_app(Settings()), host="127.0.0.1", port=port, log_level="warning"
    )
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _print_tasks)
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
