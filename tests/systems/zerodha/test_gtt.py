"""GTT: a trigger on the last traded price places its order once, an OCO fires only the leg
whose trigger the price crossed, and the official client manages triggers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from kiteconnect import exceptions as kite_errors
from sqlalchemy import func, select

from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput
from casebook.systems.zerodha import gtt, oms
from casebook.systems.zerodha.kite import kite_origin
from casebook.systems.zerodha.models import ZerodhaGtt, ZerodhaOrder
from tests.servers import serve_in_loop
from tests.systems.zerodha.conftest import API, onboarded
from tests.systems.zerodha.test_kite import kite_session
from tests.systems.zerodha.test_oms import order, zclient

pytestmark = pytest.mark.feature("zerodha", "order-placement")


async def settled(platform: Platform, gtt_id: int) -> ZerodhaGtt:
    """Waits (up to 3 s) for the trigger to fire and its order's outcome to be stored."""
    async with asyncio.timeout(3):
        while True:
            async with platform.db.session() as session:
                row = await session.get(ZerodhaGtt, gtt_id)
            assert row is not None
            if row.result is not None:
                return row
            await asyncio.sleep(0.02)


async def trade_at(
    client: httpx.AsyncClient, platform: Platform, venue: Venue, price: int, symbol: str = "INFY"
) -> None:
    """Two other clients trade 1 share at `price` paise (moves the last price)."""
    maker = await onboarded(client, venue, platform, shares={symbol: 1})
    taker = await onboarded(client, venue, platform, cash=price * 2)
    await oms.place(
        platform, venue, await zclient(platform, maker), order("sell", 1, price, symbol=symbol)
    )
    await oms.place(
        platform, venue, await zclient(platform, taker), order("buy", 1, price, symbol=symbol)
    )


async def test_an_oco_fires_only_the_leg_whose_trigger_the_price_crossed(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform, cash=100_000, shares={"INFY": 10})
    async with platform.db.session(write=True) as session:
        row = await gtt.create(
            session,
            zerodha,
            await zclient(platform, me),
            "two-leg",
            "INFY",
            [180_000, 190_000],
            185_000,
            [
                gtt.GttOrder("sell", 10, "CNC", 179_500),  # stop-loss
                gtt.GttOrder("sell", 10, "CNC", 190_000),  # target
            ],
        )
    await trade_at(client, platform, zerodha, 186_000)  # inside the band: nothing fires
    await asyncio.sleep(0.1)
    async with platform.db.session() as session:
        assert (await session.get(ZerodhaGtt, row.id)).status == "active"  # type: ignore[union-attr]
    await trade_at(client, platform, zerodha, 190_500)
    fired = await settled(platform, row.id)
    assert (fired.status, fired.fired_leg, fired.result) == ("triggered", 1, "success")
    async with platform.db.session() as session:
        placed = await session.get(ZerodhaOrder, fired.result_order_id)
        view = await oms.venue_order(session, zerodha, placed) if placed else None
        mine = await session.scalar(
            select(func.count()).select_from(ZerodhaOrder).where(ZerodhaOrder.user_id == me.user_id)
        )
    assert view is not None and (view.side, view.qty, view.price) == ("sell", 10, 190_000)
    assert mine == 1


async def test_a_trigger_fires_once_however_many_listeners_see_the_price(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform, cash=1_000_000)
    async with platform.db.session(write=True) as session:
        row = await gtt.create(
            session,
            zerodha,
            await zclient(platform, me),
            "single",
            "INFY",
            [180_000],
            185_000,
            [gtt.GttOrder("buy", 1, "CNC", 180_000)],
        )
    triggers = gtt.Triggers(platform, zerodha)
    await asyncio.gather(*(triggers.fire(row.id, 0) for _ in range(5)))
    async with platform.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(ZerodhaOrder).where(ZerodhaOrder.user_id == me.user_id)
        )
    assert count == 1


async def test_bad_triggers_are_refused(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform)
    z = await zclient(platform, me)
    leg = gtt.GttOrder("sell", 1, "CNC", 190_000)
    async with platform.db.session(write=True) as session:
        for kind, triggers, last, legs in (
            ("single", [190_000, 200_000], 185_000, [leg]),  # two triggers on a single
            ("two-leg", [186_000, 190_000], 185_000, [leg, leg]),  # not straddling the price
            ("single", [185_000], 185_000, [leg]),  # trigger at the last price
            ("three", [190_000], 185_000, [leg]),
        ):
            with pytest.raises(InvalidInput):
                await gtt.create(session, zerodha, z, kind, "INFY", triggers, last, legs)
        assert await session.scalar(select(func.count()).select_from(ZerodhaGtt)) == 0


@pytest.fixture
async def kite_root(app: FastAPI, zerodha: Venue) -> AsyncIterator[str]:
    async with serve_in_loop(kite_origin(app)) as base:
        yield base


@pytest.mark.feature("zerodha", "algo-trading")
async def test_the_official_client_places_lists_modifies_and_deletes_gtts(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform, kite_root: str
) -> None:
    me = await onboarded(client, zerodha, platform, cash=1_000_000, shares={"INFY": 5})
    other = await onboarded(client, zerodha, platform)
    kite = await kite_session(client, me, kite_root)
    theirs = await kite_session(client, other, kite_root)

    def flow() -> dict[str, Any]:
        out: dict[str, Any] = {}
        legs = [
            {
                "transaction_type": "SELL",
                "quantity": 5,
                "order_type": "LIMIT",
                "product": "CNC",
                "price": 1795.5,
            },
            {
                "transaction_type": "SELL",
                "quantity": 5,
                "order_type": "LIMIT",
                "product": "CNC",
                "price": 1900,
            },
        ]
        placed = kite.place_gtt(kite.GTT_TYPE_OCO, "INFY", "NSE", [1800, 1900], 1850, legs)
        out["id"] = placed["trigger_id"]
        out["one"] = kite.get_gtt(out["id"])
        out["modified"] = kite.modify_gtt(
            out["id"], kite.GTT_TYPE_OCO, "INFY", "NSE", [1790, 1910], 1850, legs
        )
        out["all"] = kite.get_gtts()
        try:
            theirs.delete_gtt(out["id"])
            out["theirs"] = "deleted"
        except kite_errors.KiteException as error:
            out["theirs"] = (type(error).__name__, error.code)
        try:
            kite.place_gtt(kite.GTT_TYPE_OCO, "INFY", "NSE", [1860, 1900], 1850, legs)
            out["bad"] = "placed"
        except kite_errors.KiteException as error:
            out["bad"] = (type(error).__name__, error.code)
        out["deleted"] = kite.delete_gtt(out["id"])
        out["after"] = kite.get_gtt(out["id"])
        return out

    out = await asyncio.to_thread(flow)
    assert out["one"]["condition"]["trigger_values"] == [1800.0, 1900.0]
    assert out["one"]["orders"][0]["price"] == 1795.5 and out["one"]["status"] == "active"
    assert out["modified"]["trigger_id"] == out["id"]
    assert out["all"][0]["condition"]["trigger_values"] == [1790.0, 1910.0]
    assert out["theirs"] == ("GeneralException", 404)
    assert out["bad"] == ("InputException", 400)
    assert out["deleted"] == {"trigger_id": out["id"]}
    assert out["after"]["status"] == "deleted"
    listed = await client.get(f"{API}/account", headers=me.headers)
    assert listed.status_code == 200
