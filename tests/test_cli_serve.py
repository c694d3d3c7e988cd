"""`casebook serve` refuses a setup that would silently lose realtime deliveries."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from casebook.cli import app


def test_several_workers_without_a_shared_bus_are_refused_for_realtime_systems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEBOOK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CASEBOOK_REDIS_URL", "")
    monkeypatch.setenv("CASEBOOK_SYSTEMS", "[]")  # recorded, so serve's own setting is undone
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--only", "instant-messenger"])
    assert result.exit_code == 2
    assert "CASEBOOK_REDIS_URL" in result.output and "instant-messenger" in result.output
