"""The AML rules as pure functions over movements (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casebook.systems.stock_exchange.aml import AmlRules, Movement, evaluate

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
RULES = AmlRules()  # USD threshold 1,000,000 cents; just under = 800,000..999,999; 3 in 24 h


def deposit(amount: int, at: datetime = T0, account: int = 1, asset: str = "USD") -> Movement:
    return Movement(account, "deposit", asset, amount, at)


@pytest.mark.feature("stock-exchange", "kyc-aml")
def test_a_deposit_at_the_threshold_is_flagged_large() -> None:
    findings = evaluate(RULES, deposit(1_000_000), [])
    assert [f.rule for f in findings] == ["large-transfer"]
    assert "1000000" in findings[0].detail


def test_a_deposit_below_the_threshold_alone_is_not_flagged() -> None:
    assert evaluate(RULES, deposit(999_999), []) == []
    assert evaluate(RULES, deposit(10_000), []) == []


@pytest.mark.feature("stock-exchange", "kyc-aml")
def test_three_just_under_deposits_in_a_day_are_structuring() -> None:
    earlier = [deposit(950_000, T0 - timedelta(hours=5)), deposit(900_000, T0 - timedelta(hours=1))]
    findings = evaluate(RULES, deposit(990_000), earlier)
    assert [f.rule for f in findings] == ["structuring"]
    assert "2840000" in findings[0].detail


def test_structuring_needs_the_window_the_account_the_asset_and_the_direction() -> None:
    new = deposit(990_000)
    two_days_ago = [
        deposit(950_000, T0 - timedelta(hours=30)),
        deposit(900_000, T0 - timedelta(hours=25)),
    ]
    assert evaluate(RULES, new, two_days_ago) == []
    others = [deposit(950_000, account=2), deposit(900_000, account=2)]
    assert evaluate(RULES, new, others) == []
    inr = [deposit(950_000, asset="INR"), deposit(900_000, asset="INR")]
    assert evaluate(RULES, new, inr) == []
    withdrawals = [Movement(1, "withdrawal", "USD", 950_000, T0)] * 2
    assert evaluate(RULES, new, withdrawals) == []
    small = [deposit(100_000), deposit(200_000)]
    assert evaluate(RULES, new, small) == []


def test_securities_are_not_screened_and_rules_are_configurable() -> None:
    assert evaluate(RULES, deposit(10**12, asset="AAPL"), []) == []
    strict = AmlRules(thresholds={"USD": 500}, structuring_count=2)
    assert [f.rule for f in evaluate(strict, deposit(450), [deposit(420)])] == ["structuring"]
    assert [f.rule for f in evaluate(strict, deposit(500), [])] == ["large-transfer"]
