"""A separate worker process for tests/platform/test_jobs.py.

    python -m tests.platform.jobs_peer REDIS_URL VAR_DIR

Starts a platform on Redis (SQLite under VAR_DIR), registers `test.mark-done` — which records the
pid of the process that ran it in Redis under `casebook:test:ran-by:<payload["token"]>` — runs
the job workers, prints `ready`, and serves until killed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from casebook.platform.context import Platform
from casebook.platform.settings import Settings


async def mark_done(platform: Platform, payload: dict[str, Any]) -> None:
    assert platform.redis is not None
    await platform.redis.set(f"casebook:test:ran-by:{payload['token']}", os.getpid())


async def main(redis_url: str, var_dir: str) -> None:
    settings = Settings(
        redis_url=redis_url, var_dir=Path(var_dir), jobs_poll_interval=0.02, environment="test"
    )
    platform = Platform.start(settings)
    platform.jobs.register("test.mark-done", mark_done, retries=0)
    await platform.jobs.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await platform.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
