"""Capacity models: the seeds' estimates recomputed, their slips named, the load mix checked."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.platform.capacity import (
    CapacityModel,
    LoadAction,
    LoadMix,
    LoadSetup,
    SeedClaim,
    Unit,
    format_quantity,
)
from casebook.systems.url_shortener.capacity import (
    CAPACITY,
    URL_BYTES,
    ShortenerLoad,
    population,
)
from casebook.systems.url_shortener.config import ShortenerSettings


def test_url_shortener_rates_are_derived_from_80_million_urls_a_day_at_8_to_1() -> None:
    assert CAPACITY.writes_per_second == pytest.approx(925.926, abs=1e-3)
    assert CAPACITY.reads_per_second == pytest.approx(7407.407, abs=1e-3)
    assert CAPACITY.requests_per_second == pytest.approx(8333.333, abs=1e-3)
    assert CAPACITY.peak_requests_per_second == pytest.approx(16666.667, abs=1e-3)
    assert CAPACITY.rate("seed") == CAPACITY.requests_per_second
    assert CAPACITY.rate("peak") == CAPACITY.peak_requests_per_second


def test_url_shortener_storage_is_146_billion_records_of_90_bytes() -> None:
    assert CAPACITY.storage_per_day == 7.2e9
    assert CAPACITY.records_over_horizon == 146e9
    assert CAPACITY.storage_over_horizon == pytest.approx(13.14e12)


def test_the_seeds_slips_are_noted_with_their_size_and_cause() -> None:
    notes = {f.key: f.note for f in CAPACITY.figures()}
    assert notes["writes_per_second"].startswith("seed off by +0.4%")
    assert "930" in notes["writes_per_second"]
    assert notes["reads_per_second"].startswith("seed off by +0.4%")
    assert notes["storage_per_day"].startswith("seed off by -2.8%")
    assert notes["storage_over_horizon"].startswith("seed off by 5.0x")
    assert "twice" in notes["storage_over_horizon"]
    # Figures the seed got right carry no note; the one input it never stated says so.
    assert notes["records_over_horizon"] == ""
    assert notes["writes_per_day"] == ""
    assert notes["peak_factor"].startswith("assumed:")


def test_summary_rows_show_ours_beside_the_seeds() -> None:
    rows = {label: (ours, seed) for label, ours, seed, _ in CAPACITY.summary_rows()}
    assert rows["new short URLs per second"] == ("926/s", "930 writes/s")
    assert rows["redirects per second"] == ("7,407/s", "7,440 reads/s")
    assert rows["storage per day"] == ("7.2 GB/day", "7 GB/day")
    assert rows["storage over 5 years"] == ("13.1 TB", "65.7 TB")
    assert rows["records over 5 years"] == ("146 billion", "146 billion")


def model(**changes: object) -> CapacityModel:
    fields: dict[str, object] = {
        "slug": "demo",
        "source": "test",
        "writes_per_day": 86_400_000,
        "reads_per_write": 4,
        "object_bytes": 100,
        "retention_years": 1,
        "peak_factor": 3,
    }
    fields.update(changes)
    return CapacityModel(**fields)  # type: ignore[arg-type]


def test_a_seed_figure_that_differs_must_say_why() -> None:
    with pytest.raises(ValueError, match="say why"):
        model(seed={"writes_per_second": SeedClaim(1100, "1,100/s")})
    noted = model(seed={"writes_per_second": SeedClaim(1100, "1,100/s", why="rounded up")})
    assert noted.figure("writes_per_second").note == "seed off by +10.0%: rounded up"


def test_a_seed_figure_that_agrees_must_not_carry_an_excuse() -> None:
    with pytest.raises(ValueError, match="agrees"):
        model(seed={"writes_per_second": SeedClaim(1000, "1,000/s", why="rounded")})
    assert (
        model(seed={"writes_per_second": SeedClaim(1000.5, "1,000/s")})
        .figure("writes_per_second")
        .agrees
    )


def test_unknown_figure_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="no capacity figure"):
        model(seed={"writes_per_fortnight": SeedClaim(1, "1")})
    with pytest.raises(ValueError, match="no capacity figure"):
        model(assumed={"gravity": "9.81"})


async def _setup(client: httpx.AsyncClient, plan: LoadSetup) -> None:
    return None


async def _get(client: httpx.AsyncClient, state: None) -> httpx.Response:
    return await client.get("/")


def test_the_load_mix_must_have_the_models_read_write_ratio() -> None:
    def mix(reads: int, writes: int) -> LoadMix[None]:
        return LoadMix(
            setup=_setup,
            actions=(
                LoadAction("read", "read", reads, _get, frozenset({200})),
                LoadAction("write", "write", writes, _get, frozenset({201})),
            ),
        )

    assert model(load=mix(8, 2)).load is not None
    with pytest.raises(ValueError, match="3:1 reads:writes"):
        model(load=mix(3, 1))
    with pytest.raises(ValueError, match="no write action"):
        model(
            load=LoadMix(
                setup=_setup, actions=(LoadAction("r", "read", 1, _get, frozenset({200})),)
            )
        )


def test_rates_are_seed_peak_or_a_positive_number() -> None:
    demo = model()
    assert demo.rate("seed") == 5000
    assert demo.rate("peak") == 15000
    assert demo.rate("250") == 250
    for bad in ("fast", "0", "-5", "inf", "nan"):
        with pytest.raises(ValueError):
            demo.rate(bad)


def test_quantities_read_as_people_write_them() -> None:
    assert format_quantity(925.93, Unit.RATE) == "926/s"
    assert format_quantity(12.345, Unit.RATE) == "12.3/s"
    assert format_quantity(65.7e12, Unit.BYTES) == "65.7 TB"
    assert format_quantity(27.375e15, Unit.BYTES) == "27.4 PB"
    assert format_quantity(512, Unit.BYTES) == "512 B"
    assert format_quantity(40e6, Unit.BYTES_PER_DAY) == "40 MB/day"
    assert format_quantity(2.5e9, Unit.PER_DAY) == "2.5 billion/day"
    assert format_quantity(100, Unit.RATIO) == "100:1"


def test_capacity_command_prints_the_table_with_the_seeds_values_and_notes() -> None:
    result = CliRunner().invoke(cli, ["capacity", "url-shortener"])
    assert result.exit_code == 0, result.output
    assert "926/s" in result.output
    assert "930 writes/s" in result.output
    assert "13.1 TB" in result.output and "65.7 TB" in result.output
    assert "multiplies by the 5 years twice" in result.output


def test_capacity_command_json_carries_every_figure() -> None:
    result = CliRunner().invoke(cli, ["capacity", "url-shortener", "--json"])
    assert result.exit_code == 0, result.output
    figures = {f["key"]: f for f in json.loads(result.output)["figures"]}
    assert figures["storage_over_horizon"]["value"] == pytest.approx(13.14e12)
    assert figures["storage_over_horizon"]["seed_value"] == 65.7e12
    assert figures["storage_over_horizon"]["agrees"] is False


def test_capacity_command_says_so_for_a_system_without_a_model() -> None:
    result = CliRunner().invoke(cli, ["capacity", "agoda"])
    assert result.exit_code == 1
    assert "agoda: no capacity model yet" in result.output
    unknown = CliRunner().invoke(cli, ["capacity", "no-such-system"])
    assert unknown.exit_code == 2


def test_the_url_shortener_mix_is_the_seeds_8_to_1_of_redirects_and_new_links() -> None:
    mix = CAPACITY.load
    assert mix is not None
    assert {(a.name, a.kind, a.weight) for a in mix.actions} == {
        ("redirect", "read", 8),
        ("shorten", "write", 1),
    }
    assert mix.share("write") == pytest.approx(1 / 9)


def test_the_simulated_population_keeps_every_client_within_half_its_limits() -> None:
    limits = ShortenerSettings(shorten_per_minute_api_key=600, shorten_per_minute_ip=120)
    seed_rate = LoadSetup(items=1000, rate=CAPACITY.requests_per_second)
    keys, addresses = population(seed_rate, 1 / 9, limits)
    # 925.9 writes/s at 5/s per key (half of 600/min) and 1/s per address (half of 120/min),
    # plus the 1,000 setup links at half of each burst.
    assert (keys, addresses) == (186 + 4, 926 + 17)
    assert population(LoadSetup(items=1, rate=0), 1 / 9, limits) == (1, 1)


def test_load_test_targets_are_as_long_as_the_seeds_average_url() -> None:
    state = ShortenerLoad(clients=[], codes=["abc"])
    urls = {state.target_url() for _ in range(50)}
    assert len(urls) == 50
    assert {len(url.encode()) for url in urls} == {URL_BYTES} == {90}
