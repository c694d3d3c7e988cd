"""Which seed features are proven by tests, read from the tests themselves.

A test proves a feature by carrying `@pytest.mark.feature("<slug>", "<feature-id>")`.
`collect_coverage()` runs pytest's collection (no test is executed) with this module as a plugin and
counts the marked tests per feature, so coverage can never drift from a hand-kept list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from casebook.platform.registry import System

OUTPUT_OPTION = "--casebook-features-out"


@dataclass(frozen=True)
class FeatureStatus:
    slug: str
    feature_id: str
    title: str
    tests: int

    @property
    def covered(self) -> bool:
        return self.tests > 0


def marked_features(items: Iterable[pytest.Item]) -> Counter[tuple[str, str]]:
    """Count collected tests per (slug, feature id) from their `feature` markers."""
    counts: Counter[tuple[str, str]] = Counter()
    for item in items:
        for marker in item.iter_markers("feature"):
            if len(marker.args) != 2:
                raise pytest.UsageError(f"{item.nodeid}: feature marker takes (slug, feature_id)")
            counts[(str(marker.args[0]), str(marker.args[1]))] += 1
    return counts


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OUTPUT_OPTION, default=None, help="write feature coverage JSON here")


def pytest_collection_finish(session: pytest.Session) -> None:
    out = session.config.getoption(OUTPUT_OPTION)
    if out:
        counts = marked_features(session.items)
        rows = [[slug, fid, n] for (slug, fid), n in sorted(counts.items())]
        Path(out).write_text(json.dumps(rows))


def tests_directory() -> Path:
    """The suite of this source checkout (`casebook features` needs one)."""
    tests = Path(__file__).resolve().parents[3] / "tests"
    if not tests.is_dir():
        raise FileNotFoundError(
            f"no test suite at {tests}: run `casebook features` from a source checkout"
        )
    return tests


def collect_counts(tests: Path) -> Counter[tuple[str, str]]:
    """Run pytest collection over `tests` and return the marked-test counts."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "features.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-p",
            __name__,
            f"{OUTPUT_OPTION}={out}",
            str(tests),
        ]
        env = {**os.environ, "CASEBOOK_TEST_BACKENDS": "embedded"}
        result = subprocess.run(
            command, cwd=tests.parent, capture_output=True, text=True, env=env, check=False
        )
        if not out.exists():
            raise RuntimeError(f"test collection failed:\n{result.stdout[-3000:]}{result.stderr}")
        rows = json.loads(out.read_text())
    return Counter({(slug, fid): n for slug, fid, n in rows})


def coverage(systems: Iterable[System], counts: Counter[tuple[str, str]]) -> list[FeatureStatus]:
    """One status per catalogue feature of `systems`, in catalogue order."""
    return [
        FeatureStatus(s.slug, f.id, f.title, counts.get((s.slug, f.id), 0))
        for s in systems
        for f in s.features
    ]


def unknown_markers(
    systems: Iterable[System], counts: Counter[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Markers naming a slug or feature id that the catalogue does not have."""
    known = {(s.slug, f.id) for s in systems for f in s.features}
    return sorted(key for key in counts if key not in known)
