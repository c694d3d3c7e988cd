"""Razorpay's capacity model: seed-003's estimate recomputed with its 100x slip named, and the
100:1 load mix driven against the real `/v1` API."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.engines.ledger.verify import verify
from casebook.platform.capacity import LoadSetup
from casebook.platform.context import Platform
from casebook.systems.razorpay.capacity import (
    CAPACITY,
    LOAD_MIX,
    create_payment,
    fetch_payment,
    prepare_merchant,
)
from casebook.systems.razorpay.runtime import Razorpay


def test_rates_are_four_million_payments_a_day_each_read_100_times() -> None:
    assert CAPACITY.writes_per_day == 2_000_000 * 2
    assert CAPACITY.writes_per_second == pytest.approx(46.296, abs=1e-3)
    assert CAPACITY.reads_per_day == 400_000_000
    assert CAPACITY.requests_per_second == pytest.approx(4_675.9, abs=0.1)
    assert CAPACITY.rate("peak") == pytest.approx(3 * CAPACITY.requests_per_second)


def test_storage_is_4_gb_a_day_and_4_38_tb_over_3_years() -> None:
    assert CAPACITY.storage_per_day == 4e9
    assert CAPACITY.records_over_horizon == 4_380_000_000
    assert CAPACITY.storage_over_horizon == pytest.approx(4.38e12)


def test_the_seeds_100x_slip_is_named_and_its_right_figures_agree() -> None:
    notes = {f.key: f.note for f in CAPACITY.figures()}
    for key in ("writes_per_day", "storage_per_day", "storage_over_horizon"):
        assert notes[key].startswith("seed off by"), key
    assert "0.02 payments per user" in notes["writes_per_day"]
    assert "4,676" in notes["requests_per_second"]
    # 4 M / 86,400 = 46.3/s is right as the payment rate; the user and size inputs agree.
    for key in ("writes_per_second", "daily_active_users", "reads_per_write", "object_bytes"):
        assert notes[key] == "", key
    assert notes["peak_factor"].startswith("assumed:")


def test_capacity_command_prints_razorpays_table() -> None:
    result = CliRunner().invoke(cli, ["capacity", "razorpay"])
    assert result.exit_code == 0, result.output
    assert "4,676/s" in result.output and "43.8 GB" in result.output
    as_json = CliRunner().invoke(cli, ["capacity", "razorpay", "--json"])
    figures = {f["key"]: f for f in json.loads(as_json.output)["figures"]}
    assert figures["storage_over_horizon"]["agrees"] is False
    assert figures["storage_over_horizon"]["seed_value"] == 43.8e9


def test_the_mix_is_a_hundred_fetches_per_payment() -> None:
    assert {(a.name, a.kind, a.weight) for a in LOAD_MIX.actions} == {
        ("fetch-payment", "read", 100),
        ("create-payment", "write", 1),
    }
    assert LOAD_MIX.share("write") == pytest.approx(1 / 101)


async def test_the_mix_pays_and_fetches_through_the_api(
    client: httpx.AsyncClient, state: Razorpay, platform: Platform
) -> None:
    load = await prepare_merchant(client, LoadSetup(items=2, rate=1))
    assert len(set(load.payment_ids)) == 2
    fetched = await fetch_payment(client, load)
    assert fetched.status_code == 200
    assert fetched.json()["id"] in load.payment_ids
    assert fetched.json()["status"] == "captured"
    created = await create_payment(client, load)
    assert created.status_code == 200
    assert created.json()["status"] == "captured"
    assert created.json()["id"] not in load.payment_ids
    # The key pair is the merchant's own: another key cannot fetch these payments.
    stranger = await client.get(
        f"/api/razorpay/v1/payments/{load.payment_ids[0]}", auth=("rzp_test_nobody", "x")
    )
    assert stranger.status_code == 401
    async with platform.db.session() as session:
        assert (await verify(session)).ok
