"""`casebook serve` refuses a setup that would silently lose realtime deliveries."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casebook.cli import app
from casebook.systems.url_shortener.demo import DEMO_LINKS


def test_several_workers_without_a_shared_bus_are_refused_for_realtime_systems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEBOOK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CASEBOOK_REDIS_URL", "")
    monkeypatch.setenv("CASEBOOK_SYSTEMS", "[]")  # recorded, so serve's own setting is undone
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--only", "instant-messenger"])
    assert result.exit_code == 2
    assert "CASEBOOK_REDIS_URL" in result.output and "instant-messenger" in result.output


def test_serve_tunes_the_garbage_collector_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEBOOK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CASEBOOK_REDIS_URL", "")
    monkeypatch.setenv("CASEBOOK_SYSTEMS", "[]")
    for chosen, expected in ((None, "true"), ("false", "false")):
        if chosen is None:
            monkeypatch.delenv("CASEBOOK_TUNE_GC", raising=False)
        else:
            monkeypatch.setenv("CASEBOOK_TUNE_GC", chosen)
        # Refused after the settings are read (two workers, no Redis): nothing is served.
        CliRunner().invoke(app, ["serve", "--workers", "2", "--only", "instant-messenger"])
        assert os.environ["CASEBOOK_TUNE_GC"] == expected


def test_seed_loads_demo_data_that_needs_a_started_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`casebook seed` (also what `serve --workers N` runs first) starts each system as the app
    does, so a demo that uses the system's runtime (the URL shortener's code allocator) loads,
    and a second run adds nothing."""
    monkeypatch.setenv("CASEBOOK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CASEBOOK_DATABASE_URL", "")
    monkeypatch.setenv("CASEBOOK_REDIS_URL", "")
    monkeypatch.setenv("CASEBOOK_SYSTEMS", "[]")
    for _ in range(2):
        result = CliRunner().invoke(app, ["seed", "--only", "url-shortener"])
        assert result.exit_code == 0, result.output
        assert "seeding url-shortener" in result.output
    with sqlite3.connect(tmp_path / "casebook.db") as db:
        (links,) = db.execute("SELECT count(*) FROM urlshortener_links").fetchone()
    assert links == len(DEMO_LINKS)
