"""Where a benchmark ran and what it measured: machine, commit, and the saved results files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).with_name("results")


def _first_line_value(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory, kernel and Python of this machine."""
    mem_kb = _first_line_value("/proc/meminfo", "MemTotal").removesuffix(" kB")
    memory_gb = round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None
    return {
        "nproc": os.cpu_count(),
        "cpu": _first_line_value("/proc/cpuinfo", "model name"),
        "memory_gb": memory_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def git_commit(repo: Path) -> str:
    """HEAD's commit id, `+dirty` when the work tree has changes; read-only git commands only."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return "no commit yet"
    dirty = git("status", "--porcelain").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def save(name: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write `results/<name>-<date>.json` and `.md` (`<name>-<date>-<HHMM>` when a run of that
    day is recorded already: recorded results are never overwritten); returns both paths."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    stem = f"{name}-{now:%Y-%m-%d}"
    if (RESULTS_DIR / f"{stem}.json").exists() or (RESULTS_DIR / f"{stem}.md").exists():
        stem = f"{name}-{now:%Y-%m-%d-%H%M}"
    json_path = RESULTS_DIR / f"{stem}.json"
    md_path = RESULTS_DIR / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown)
    return json_path, md_path
