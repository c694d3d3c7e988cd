"""`Settings.tune_gc` (on under `casebook serve`): the start-up heap is frozen out of the cyclic
collector and the youngest generation is collected less often; off, the process is left alone.
Each case runs in a fresh interpreter, since the collector's state is process-wide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import asyncio, gc, sys
from casebook.app import create_app
from casebook.platform.settings import Settings

async def main() -> None:
    settings = Settings(
        var_dir=sys.argv[1], database_url="", redis_url="", secret_key="k" * 40,
        environment="test", demo_data=False, tune_gc=sys.argv[2] == "on",
        gc_young_threshold=12345,
    )
    app = create_app(settings, only=["url-shortener"])
    async with app.router.lifespan_context(app):
        print(gc.get_freeze_count(), gc.get_threshold()[0])

asyncio.run(main())
"""


@pytest.mark.parametrize("mode", ["on", "off"])
def test_the_collector_is_tuned_only_when_asked(tmp_path: Path, mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    frozen, young = (int(word) for word in done.stdout.split()[-2:])
    if mode == "on":
        assert frozen > 100_000  # the modules, models and routes of start-up
        assert young == 12345
    else:
        assert frozen == 0
        assert young == 700  # CPython's default
