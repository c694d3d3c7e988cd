"""The simulated gateways (their own rules and knobs) and smart routing with failover."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from casebook.systems.razorpay.gateways import (
    Approved,
    Card,
    Declined,
    Gateway,
    GatewayError,
    Instrument,
    Method,
    luhn_valid,
)
from casebook.systems.razorpay.routing import SmartRouter
from casebook.systems.razorpay.runtime import Razorpay
from tests.systems.razorpay.conftest import Merchant, create_order, pay

TODAY = date(2025, 6, 1)
CARD = Instrument(Method.CARD, card=Card("4111111111111111", 12, 2030, "123"))
UPI = Instrument(Method.UPI, vpa="success@razorpay")


def gateway(name: str, rate: float = 1.0, seed: int = 1) -> Gateway:
    return Gateway(name, frozenset({"INR"}), {Method.CARD: rate, Method.UPI: rate}, seed=seed)


@pytest.mark.feature("razorpay", "smart-routing")
async def test_gateway_applies_issuer_rules() -> None:
    g = gateway("g")
    assert isinstance(await g.authorize(CARD, 1_000, "INR", TODAY), Approved)
    expired = Instrument(Method.CARD, card=Card("4111111111111111", 1, 2024, "123"))
    assert await g.authorize(expired, 1_000, "INR", TODAY) == Declined(
        "BAD_REQUEST_ERROR", "card_expired"
    )
    bad = Instrument(Method.CARD, card=Card("4111111111111112", 12, 2030, "123"))
    assert isinstance(await g.authorize(bad, 1_000, "INR", TODAY), Declined)
    too_big = await g.authorize(UPI, 10_000_001, "INR", TODAY)
    assert too_big == Declined("BAD_REQUEST_ERROR", "amount_exceeds_upi_limit")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert len(g.authorizations) == 1
    with pytest.raises(GatewayError):
        await g.authorize(Instrument(Method.WALLET, wallet="paytm"), 1_000, "INR", TODAY)


@pytest.mark.feature("razorpay", "smart-routing")
async def test_gateway_success_rate_latency_and_seed_knobs() -> None:
    async def outcomes(seed: int) -> list[bool]:
        g = gateway("g", rate=0.7, seed=seed)
        results = []
        for _ in range(400):
            try:
                await g.authorize(CARD, 1_000, "INR", TODAY)
                results.append(True)
            except GatewayError:
                results.append(False)
        return results

    first, again = await outcomes(3), await outcomes(3)
    assert first == again  # deterministic under a seed
    assert 0.62 < sum(first) / len(first) < 0.78
    slow = gateway("slow")
    slow.latency = 0.05
    router = SmartRouter([slow, gateway("fast")], timeout=0.01, explore=0.0)
    result = await router.authorize(CARD, 1_000, "INR", TODAY)
    assert [a.outcome for a in result.attempts] == ["error", "approved"]
    assert result.gateway == "fast"
    down = gateway("down")
    down.down = True
    with pytest.raises(GatewayError):
        await down.authorize(CARD, 1_000, "INR", TODAY)


@pytest.mark.feature("razorpay", "smart-routing")
async def test_router_moves_traffic_to_the_more_reliable_gateway() -> None:
    flaky, steady = gateway("flaky", rate=0.3, seed=5), gateway("steady", rate=0.95, seed=5)
    router = SmartRouter([flaky, steady], explore=0.0, window=50)
    served: list[str] = []
    for _ in range(60):
        result = await router.authorize(CARD, 1_000, "INR", TODAY)
        served.append(result.attempts[0].gateway)
    # The first payment tries the listed-first gateway; once its failures show, steady is
    # tried first every time.
    assert served[-40:].count("steady") == 40
    assert router.success_rate("steady", Method.CARD, "INR") > router.success_rate(
        "flaky", Method.CARD, "INR"
    )
    # Per method: UPI history is separate, so UPI still starts on the listed-first gateway.
    assert router.ranking(Method.UPI, "INR")[0].name == "flaky"


@pytest.mark.feature("razorpay", "smart-routing")
async def test_failover_and_no_failover_on_decline() -> None:
    down, backup = gateway("down"), gateway("backup")
    down.down = True
    router = SmartRouter([down, backup], explore=0.0)
    result = await router.authorize(CARD, 1_000, "INR", TODAY)
    assert result.gateway == "backup"
    assert [a.outcome for a in result.attempts] == ["error", "approved"]
    declined = Instrument(Method.CARD, card=Card("4000000000000002", 12, 2030, "123"))
    result = await router.authorize(declined, 1_000, "INR", TODAY)
    assert isinstance(result.decision, Declined)
    assert len(result.attempts) == 1  # another gateway would be declined too
    backup.down = True
    result = await router.authorize(CARD, 1_000, "INR", TODAY)
    assert result.decision is None and len(result.attempts) == 2


@pytest.mark.feature("razorpay", "smart-routing")
async def test_payments_route_by_currency_and_fail_over_through_the_api(
    client: httpx.AsyncClient, merchant: Merchant, state: Razorpay
) -> None:
    state.gateway("hdfc").down = True
    order = await create_order(client, merchant, 10_000)
    payment = (await pay(client, merchant, order)).json()
    assert payment["status"] == "captured"
    assert payment["acquirer_data"]["gateway"] != "hdfc"
    # EUR is only processed by axis.
    eur = await client.post(
        "/api/razorpay/v1/payments/create/json",
        json={
            "amount": 5_000,
            "currency": "EUR",
            "method": "card",
            "capture": True,
            "card": {
                "number": "4111111111111111",
                "expiry_month": 1,
                "expiry_year": 2099,
                "cvv": "123",
            },
        },
        headers=merchant.basic,
    )
    assert eur.json()["acquirer_data"]["gateway"] == "axis"
    assert eur.json()["status"] == "captured"
    for g in state.gateways:
        g.down = True
    failed = (await pay(client, merchant, await create_order(client, merchant))).json()
    assert failed["status"] == "failed" and failed["error_code"] == "GATEWAY_ERROR"
