import json
from pathlib import Path

from typer.testing import CliRunner

from casebook.cli import app
from casebook.platform.featurecov import collect_counts
from casebook.systems import all_systems


def test_features_lists_every_catalogue_feature_with_its_coverage() -> None:
    result = CliRunner().invoke(app, ["features", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == sum(len(s.features) for s in all_systems())
    by_key = {(r["slug"], r["feature"]): r for r in rows}
    not_built = [s for s in all_systems() if not s.built]
    assert all(not by_key[(s.slug, f.id)]["covered"] for s in not_built for f in s.features)


def test_features_text_output_and_unknown_slug() -> None:
    runner = CliRunner()
    unbuilt = next(s.slug for s in all_systems() if not s.built)
    text = runner.invoke(app, ["features", unbuilt])
    assert text.exit_code == 0
    lines = text.output.strip().splitlines()
    assert lines and all(
        line.startswith(f"{unbuilt}  ") and "NOT COVERED" in line for line in lines
    )
    bad = runner.invoke(app, ["features", "no-such-system"])
    assert bad.exit_code != 0


def test_coverage_is_counted_from_collected_markers(tmp_path: Path) -> None:
    suite = tmp_path / "tests"
    suite.mkdir()
    (suite / "test_sample.py").write_text(
        "import pytest\n"
        "@pytest.mark.feature('url-shortener', 'shorten')\n"
        "def test_a(): pass\n"
        "@pytest.mark.feature('url-shortener', 'shorten')\n"
        "@pytest.mark.feature('url-shortener', 'redirect')\n"
        "def test_b(): pass\n"
        "def test_unmarked(): pass\n"
    )
    counts = collect_counts(suite)
    assert counts == {("url-shortener", "shorten"): 2, ("url-shortener", "redirect"): 1}
