"""Driving `wrk` (Debian package `wrk`) and reading its figures.

wrk is closed-loop: each of its connections sends the next request as soon as the last answer
arrives, so it measures the most a server can do (throughput at saturation), not latency at a
given rate; `casebook load` is the open-loop tool for that. The figures are read from a Lua
`done()` hook that prints them as JSON, not scraped from wrk's human-readable output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

WRK_HINT = "wrk is not installed: apt-get install wrk"
_MARKER = "WRK_RESULT "

_DONE_HOOK = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, "max_us": %.0f, '
    .. '"connect": %.0f, "read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f}\\n',
    "%s", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class WrkMissing(RuntimeError):
    """wrk is not on PATH."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and errors by kind."""

    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "requests_per_s": self.requests_per_s}


def pinned(cpus: str | None) -> list[str]:
    """The command prefix that runs a program on cores `cpus` (`taskset -c`), or none."""
    if cpus is None:
        return []
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset is not installed (Debian package util-linux)")
    return [taskset, "-c", cpus]


def wrk_binary() -> str:
    """Path of wrk; raises WrkMissing naming the package to install."""
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing(WRK_HINT)
    return found


def with_result_hook(script: str) -> str:
    """`script` (wrk Lua defining `request`, `init`…) plus the `done` hook `run_wrk` reads."""
    return script + _DONE_HOOK.replace('"%s", summary', f'"{_MARKER}", summary')


def paths_script(paths: Sequence[str]) -> str:
    """A wrk Lua script that requests a uniformly random path of `paths` each time.

    The requests are formatted once per thread in `init`, so the per-request cost is one random
    pick; every target is driven through the same script, so the client's cost is the same.
    """
    if not paths:
        raise ValueError("paths_script needs at least one path")
    listed = ",\n".join(json.dumps(p) for p in paths)
    return with_result_hook(
        f"local paths = {{\n{listed}\n}}\n"
        """local prepared = {}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  for i, path in ipairs(paths) do
    prepared[i] = wrk.format("GET", path)
  end
end

function request()
  return prepared[math.random(#prepared)]
end
"""
    )


def run_wrk(
    url: str,
    script: Path,
    *,
    duration_s: float,
    threads: int,
    connections: int,
    timeout_s: float = 5.0,
    cpus: str | None = None,
) -> WrkResult:
    """Run wrk against `url` with `script` and return its figures.

    `cpus` (a `taskset -c` list such as "1") pins wrk to those cores. Raises WrkMissing when wrk
    is absent, RuntimeError when wrk fails or prints no result. Blocks for about `duration_s`.
    """
    command = [
        *pinned(cpus),
        wrk_binary(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        f"--script={script}",
        url,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            raw = json.loads(line.removeprefix(_MARKER))
            errors = {k: int(raw[k]) for k in ("connect", "read", "write", "status", "timeout")}
            return WrkResult(
                requests=int(raw["requests"]),
                duration_s=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
                errors={k: v for k, v in errors.items() if v},
            )
    raise RuntimeError(
        f"wrk printed no result (exit {completed.returncode}): "
        f"{completed.stderr.strip() or completed.stdout.strip()}"
    )
