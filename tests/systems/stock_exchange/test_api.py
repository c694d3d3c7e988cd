"""The seed's endpoints and the exchange's own, through the app: register/login, KYC by a
compliance officer, listings, orders, balances, deposits, reports; nobody reads another's data."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.systems.stock_exchange.conftest import API, Member, list_aapl, seed_register, verified


@pytest.mark.feature("stock-exchange", "user-accounts")
async def test_seed_register_login_and_bearer_required(client: httpx.AsyncClient) -> None:
    member = await seed_register(client)
    assert (await client.get(f"{API}/account/balance")).status_code == 401
    assert (await client.post(f"{API}/orders", json={})).status_code == 401
    bad = await client.post(
        f"{API}/login", json={"username": "nobody@example.com", "password": "x"}
    )
    assert bad.status_code == 401
    me = await client.get(f"{API}/me", headers=member.headers)
    assert me.status_code == 200
    assert me.json()["member"]["kind"] == "individual"
    assert [a["label"] for a in me.json()["accounts"]] == ["main"]
    assert (me.json()["kyc_status"], me.json()["staff"]) == (None, False)


@pytest.mark.feature("stock-exchange", "listings")
async def test_listings_have_symbol_and_company_name(
    client: httpx.AsyncClient, officer: Member
) -> None:
    outsider = await seed_register(client)
    refused = await client.post(
        f"{API}/instruments",
        json={"symbol": "MSFT", "company_name": "Microsoft", "reference_price": "300.00"},
        headers=outsider.headers,
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/stock-exchange/staff-only"
    # A symbol no other system lists at startup (Robinhood lists AAPL, Zerodha its INR shares).
    listing = {"symbol": "NVDA", "company_name": "NVIDIA Corporation", "reference_price": "150.00"}
    first = await client.post(f"{API}/instruments", json=listing, headers=officer.headers)
    again = await client.post(f"{API}/instruments", json=listing, headers=officer.headers)
    assert (first.status_code, again.status_code) == (201, 201)  # idempotent
    listings = [x for x in (await client.get(f"{API}/instruments")).json() if x["symbol"] == "NVDA"]
    assert [(x["symbol"], x["company_name"], x["status"]) for x in listings] == [
        ("NVDA", "NVIDIA Corporation", "trading")
    ]
    assert (
        listings[0]["instrument_id"]
        == first.json()["instrument_id"]
        == again.json()["instrument_id"]
    )
    assert listings[0]["reference_price"] == "150.00"


@pytest.mark.feature("stock-exchange", "kyc-aml")
async def test_orders_need_kyc_and_staff_decide_it(
    client: httpx.AsyncClient, officer: Member
) -> None:
    await list_aapl(client, officer)
    member = await seed_register(client)
    order = {"symbol": "AAPL", "side": "buy", "quantity": 10, "price": 150.50}
    refused = await client.post(f"{API}/orders", json=order, headers=member.headers)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/stock-exchange/kyc-required"
    # Only staff may decide, and may see the queue.
    await client.post(
        f"{API}/kyc",
        json={"legal_name": "Al", "country": "US", "document_number": "D-0001"},
        headers=member.headers,
    )
    for path in ("/compliance/kyc", "/compliance/aml", "/compliance/alerts"):
        assert (await client.get(f"{API}{path}", headers=member.headers)).status_code == 403
    self_verify = await client.post(
        f"{API}/compliance/kyc/{member.user_id}/decision",
        json={"verdict": "verified"},
        headers=member.headers,
    )
    assert self_verify.status_code == 403
    queue = (await client.get(f"{API}/compliance/kyc", headers=officer.headers)).json()
    assert [r["user_id"] for r in queue] == [str(member.user_id)]
    decided = await client.post(
        f"{API}/compliance/kyc/{member.user_id}/decision",
        json={"verdict": "verified", "note": "ok"},
        headers=officer.headers,
    )
    assert [e["action"] for e in decided.json()["trail"]] == ["submitted", "verified"]
    assert decided.json()["trail"][1]["actor_id"] == str(officer.user_id)
    still_broke = await client.post(f"{API}/orders", json=order, headers=member.headers)
    assert still_broke.status_code == 409  # verified now; no cash to hold


@pytest.mark.feature("stock-exchange", "order-entry")
@pytest.mark.feature("stock-exchange", "account-balance")
async def test_place_look_up_cancel_and_balances(
    client: httpx.AsyncClient, officer: Member
) -> None:
    await list_aapl(client, officer)
    buyer = await verified(client, officer, USD=10_000_00)
    seller = await verified(client, officer, AAPL=100)
    placed = await client.post(
        f"{API}/orders",
        json={"symbol": "AAPL", "side": "buy", "quantity": 10, "price": 150.50},
        headers=buyer.headers,
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["status"], order["price"], order["price_ticks"]) == ("open", "150.50", 15_050)
    balance = (await client.get(f"{API}/account/balance", headers=buyer.headers)).json()
    (usd,) = balance["cash"]
    hold = 15_050 * 10 + 15_050 * 10 * 2 // 10_000
    assert (usd["total"], usd["locked"], usd["available"]) == (10_000_00, hold, 10_000_00 - hold)
    # Nobody else sees or cancels it.
    assert (
        await client.get(f"{API}/orders/{order['id']}", headers=seller.headers)
    ).status_code == 404
    assert (
        await client.delete(f"{API}/orders/{order['id']}", headers=seller.headers)
    ).status_code == 404
    seller_balance = (await client.get(f"{API}/account/balance", headers=seller.headers)).json()
    assert seller_balance["account_id"] == str(seller.account_id)
    assert [h["asset"] for h in seller_balance["holdings"]] == ["AAPL"]
    # A FOK sell for more than the bid is killed; an IOC sell fills what it can.
    fok = await client.post(
        f"{API}/orders",
        json={
            "symbol": "AAPL",
            "side": "sell",
            "quantity": 20,
            "price": "150.00",
            "time_in_force": "fok",
        },
        headers=seller.headers,
    )
    assert (fok.json()["status"], fok.json()["filled_quantity"]) == ("expired", 0)
    market = await client.post(
        f"{API}/orders",
        json={"symbol": "AAPL", "side": "sell", "quantity": 4, "type": "market"},
        headers=seller.headers,
    )
    assert market.status_code == 201, market.text
    assert (market.json()["status"], market.json()["average_price"]) == ("filled", "150.5000")
    # Cancel the rest: 204, then it reads cancelled, and the hold is released.
    cancelled = await client.delete(f"{API}/orders/{order['id']}", headers=buyer.headers)
    assert cancelled.status_code == 204
    looked_up = (await client.get(f"{API}/orders/{order['id']}", headers=buyer.headers)).json()
    assert (looked_up["status"], looked_up["filled_quantity"]) == ("cancelled", 4)
    again = await client.delete(f"{API}/orders/{order['id']}", headers=buyer.headers)
    assert again.status_code == 409
    after = (await client.get(f"{API}/account/balance", headers=buyer.headers)).json()
    assert after["cash"][0]["locked"] == 0
    assert after["holdings"] == [{"asset": "AAPL", "total": 4, "locked": 0, "available": 4}]
    listed = (await client.get(f"{API}/orders", headers=buyer.headers)).json()
    assert [o["id"] for o in listed] == [order["id"]]


async def test_bad_orders_are_refused_and_change_nothing(
    client: httpx.AsyncClient, officer: Member
) -> None:
    await list_aapl(client, officer)
    buyer = await verified(client, officer, USD=1_000_00)
    for body, status in (
        ({"symbol": "AAPL", "side": "buy", "quantity": 1, "price": "150.001"}, 422),
        ({"symbol": "AAPL", "side": "buy", "quantity": 0, "price": "150"}, 422),
        ({"symbol": "AAPL", "side": "hold", "quantity": 1, "price": "150"}, 422),
        ({"symbol": "AAPL", "side": "buy", "quantity": 1}, 422),
        ({"symbol": "AAPL", "side": "buy", "quantity": 1, "price": "1", "type": "market"}, 422),
        ({"symbol": "ZZZZ", "side": "buy", "quantity": 1, "price": "1"}, 404),
        ({"symbol": "AAPL", "side": "buy", "quantity": 1, "price": "1", "account": "x"}, 404),
    ):
        response = await client.post(f"{API}/orders", json=body, headers=buyer.headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"{API}/orders", headers=buyer.headers)).json() == []
    balance = (await client.get(f"{API}/account/balance", headers=buyer.headers)).json()
    assert balance["cash"][0]["locked"] == 0


@pytest.mark.feature("stock-exchange", "kyc-aml")
async def test_large_deposits_and_structuring_reach_the_review_queue(
    client: httpx.AsyncClient, officer: Member
) -> None:
    member = await verified(client, officer)
    flagged = []
    for amount in (950_000, 980_000, 990_000, 2_000_000):
        moved = await client.post(
            f"{API}/account/deposits",
            json={"asset": "USD", "amount": amount},
            headers=member.headers,
        )
        flagged.append(moved.json()["flagged"])
    assert flagged == [[], [], ["structuring"], ["large-transfer"]]
    queue = (await client.get(f"{API}/compliance/aml", headers=officer.headers)).json()
    assert [f["rule"] for f in queue] == ["structuring", "large-transfer"]
    frozen = await client.post(
        f"{API}/compliance/aml/{queue[0]['id']}/review",
        json={"decision": "freeze", "note": "structuring"},
        headers=officer.headers,
    )
    assert frozen.json()["status"] == "frozen"
    out = await client.post(
        f"{API}/account/withdrawals", json={"asset": "USD", "amount": 100}, headers=member.headers
    )
    assert out.status_code == 403
    assert out.json()["type"] == "/problems/stock-exchange/account-frozen"
    too_much = await client.post(
        f"{API}/account/withdrawals",
        json={"asset": "USD", "amount": 10**12},
        headers=officer.headers,
    )
    assert too_much.status_code == 409


@pytest.mark.feature("stock-exchange", "reporting")
@pytest.mark.feature("stock-exchange", "market-data")
async def test_reports_and_market_data_after_a_trade(
    client: httpx.AsyncClient, officer: Member
) -> None:
    await list_aapl(client, officer)
    buyer = await verified(client, officer, USD=10_000_00)
    seller = await verified(client, officer, AAPL=10)
    await client.post(
        f"{API}/orders",
        json={"symbol": "AAPL", "side": "sell", "quantity": 10, "price": "151.00"},
        headers=seller.headers,
    )
    await client.post(
        f"{API}/orders",
        json={"symbol": "AAPL", "side": "buy", "quantity": 3, "price": "151.00"},
        headers=buyer.headers,
    )
    quote = (await client.get(f"{API}/instruments/AAPL/quote")).json()
    assert (quote["ask_price_text"], quote["ask_qty"], quote["last_price_text"]) == (
        "151.00",
        7,
        "151.00",
    )
    depth = (await client.get(f"{API}/instruments/AAPL/depth")).json()
    assert [(a["price"], a["qty"]) for a in depth["asks"]] == [(15_100, 7)]
    today = datetime.now(UTC).date().isoformat()
    daily = (await client.get(f"{API}/reports/daily", params={"date": today})).json()
    assert [(d["symbol"], d["open"], d["vwap"], d["volume"]) for d in daily] == [
        ("AAPL", "151.00", "151.0000", 3)
    ]
    mine = await client.get(
        f"{API}/reports/settlement", params={"date": today}, headers=buyer.headers
    )
    (line,) = mine.json()
    assert (line["securities_in"], line["cash_paid"]) == (3, 3 * 15_100 + 3 * 15_100 * 2 // 10_000)
    everyone = await client.get(
        f"{API}/compliance/reports/settlement", params={"date": today}, headers=officer.headers
    )
    assert len(everyone.json()) == 2
    assert (
        await client.get(
            f"{API}/compliance/reports/settlement", params={"date": today}, headers=buyer.headers
        )
    ).status_code == 403
    activity = await client.get(
        f"{API}/compliance/reports/member-activity", params={"date": today}, headers=officer.headers
    )
    assert sorted(a["trades"] for a in activity.json()) == [1, 1]


@pytest.mark.feature("stock-exchange", "order-entry")
async def test_an_order_retried_with_its_idempotency_key_is_placed_once(
    client: httpx.AsyncClient, officer: Member
) -> None:
    await list_aapl(client, officer)
    buyer = await verified(client, officer, USD=1_000_00)
    headers = {**buyer.headers, "Idempotency-Key": "order-1"}
    body = {"symbol": "AAPL", "side": "buy", "quantity": 1, "price": "10.00"}
    first = await client.post(f"{API}/orders", json=body, headers=headers)
    again = await client.post(f"{API}/orders", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len((await client.get(f"{API}/orders", headers=buyer.headers)).json()) == 1


@pytest.mark.feature("stock-exchange", "order-entry")
async def test_the_engines_generic_routes_act_on_the_callers_main_account(
    client: httpx.AsyncClient, officer: Member
) -> None:
    await list_aapl(client, officer)
    buyer = await verified(client, officer, USD=1_000_00)
    other = await verified(client, officer)
    placed = await client.post(
        f"{API}/venue/orders",
        json={"symbol": "AAPL", "side": "buy", "qty": 2, "price": 10_000},
        headers=buyer.headers,
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert (await client.get(f"{API}/orders/{order_id}", headers=buyer.headers)).json()[
        "price"
    ] == "100.00"
    moved = await client.patch(
        f"{API}/venue/orders/{order_id}", json={"price": 9_000}, headers=buyer.headers
    )
    assert moved.status_code == 200, moved.text
    assert (await client.get(f"{API}/orders/{order_id}", headers=buyer.headers)).json()[
        "price_ticks"
    ] == 9_000
    denied = await client.patch(
        f"{API}/venue/orders/{order_id}", json={"price": 1}, headers=other.headers
    )
    assert denied.status_code == 404
    balances = (await client.get(f"{API}/venue/balances", headers=buyer.headers)).json()
    usd = next(b for b in balances["items"] if b["asset"] == "USD")
    assert {b["asset"] for b in balances["items"]} <= {"USD", "AAPL"}
    hold = 9_000 * 2 + 9_000 * 2 * 2 // 10_000
    assert (usd["asset"], usd["total"], usd["locked"]) == ("USD", 1_000_00, hold)
