from pathlib import Path

import pytest

from casebook.platform.registry import load_catalog, select
from casebook.systems import all_systems, catalog

CATALOG_MD = Path(__file__).resolve().parents[3] / "shared" / "CATALOG.md"


def test_catalogue_lists_all_43_systems_with_features() -> None:
    systems = all_systems()
    assert len(systems) == 43
    assert [s.number for s in systems] == list(range(1, 44))
    assert all(len(s.features) >= 3 for s in systems)


@pytest.mark.skipif(not CATALOG_MD.exists(), reason="shared/CATALOG.md is not beside this checkout")
def test_catalogue_slugs_match_shared_catalog() -> None:
    rows = [
        line.split("|") for line in CATALOG_MD.read_text().splitlines() if line.startswith("| ")
    ]
    slugs = [r[3].strip() for r in rows if r[1].strip().isdigit()]
    assert slugs == list(catalog())


def test_built_systems_keep_their_catalogue_features() -> None:
    for system in all_systems():
        assert system.features == catalog()[system.slug].features
    assert any(s.built for s in all_systems())


def test_select_refuses_unknown_slugs() -> None:
    with pytest.raises(KeyError, match="no-such-system"):
        select(all_systems(), ["url-shortener", "no-such-system"])


def test_duplicate_feature_ids_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.toml"
    bad.write_text(
        '[[system]]\nnumber=1\nslug="x"\ntitle="X"\nseed="000"\ngroup="g"\n'
        '[[system.feature]]\nid="a"\ntitle="A"\n[[system.feature]]\nid="a"\ntitle="A again"\n'
    )
    with pytest.raises(ValueError, match="duplicate feature"):
        load_catalog(bad)
