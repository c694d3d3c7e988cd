"""The market simulator: bots trade through the venue API, the books stay uncrossed and the ledger
balances, makers respect their inventory limits, shocks publish news, a seed reproduces a run,
and a gated venue trades only through the opener it is given."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import news
from casebook.engines.matching import venue as venues
from casebook.engines.matching.models import MatchingOrder, MatchingTrade
from casebook.engines.matching.simulator import Simulation, SimulationConfig
from casebook.engines.matching.venue import Venue, VenueConfig
from casebook.platform.context import Platform
from casebook.platform.db import Database
from casebook.platform.errors import Forbidden, InvalidInput
from casebook.platform.settings import Settings
from tests.engines.matching.conftest import assert_books_balance, list_stock

FAST = 100_000.0


async def test_bots_trade_keep_the_books_uncrossed_and_balanced(venue: Venue) -> None:
    aapl = await list_stock(venue, "AAPL", maker_bps=1, taker_bps=2, reference_price=10_000)
    ford = await list_stock(venue, "F", reference_price=1_200)
    config = SimulationConfig(seed=11, shock_probability=0.05, max_inventory=30)
    sim = Simulation(venue, config)
    stats = await sim.run(steps=200, rate=FAST)

    assert stats.steps == 200 and stats.placed > 50 and stats.replaced > 0
    assert stats.trades > 0 and stats.news > 0
    async with venue.platform.db.session() as session:
        trades = await session.scalar(select(func.count()).select_from(MatchingTrade))
        assert trades == stats.trades
        headlines = await news.latest(session, venue.name, "AAPL", limit=100)
        headlines += await news.latest(session, venue.name, "F", limit=100)
        assert len(headlines) == stats.news
        assert {item.source for item in headlines} == {"casebook-simulator"}
        for instrument in (aapl, ford):
            book = venue.book(instrument.id)
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is None or ask is None or bid < ask
            for maker in sim.makers[instrument.id]:
                position = await _position(session, venue, maker.account_id, instrument.symbol)
                limit = config.max_inventory + config.quote_levels * config.quote_qty
                assert -limit <= position - maker.base_target <= limit
    await assert_books_balance(venue)


async def _position(session: AsyncSession, venue: Venue, account_id: int, asset: str) -> int:
    balances = {b.asset: b for b in await venue.balances(session, account_id)}
    balance = balances[asset]
    assert 0 <= balance.locked <= balance.total
    return balance.total


async def _run(platform: Platform, name: str, seed: int) -> list[object]:
    venue = await venues.start(platform, VenueConfig(venue=name))
    try:
        await list_stock(venue, "AAPL", maker_bps=1, taker_bps=2, reference_price=10_000)
        sim = Simulation(venue, SimulationConfig(seed=seed, shock_probability=0.05))
        await sim.run(steps=80, rate=FAST)
        await assert_books_balance(venue)
        return list(sim.actions)
    finally:
        await venues.stop(platform, name)


async def test_the_same_seed_on_the_same_books_makes_the_same_run(platform: Platform) -> None:
    first = await _run(platform, "sim-a", seed=5)
    again = await _run(platform, "sim-b", seed=5)
    other = await _run(platform, "sim-c", seed=6)
    assert len(first) >= 80
    assert first == again
    assert first != other


async def test_a_gated_venue_trades_only_through_the_opener_it_is_given(
    platform: Platform,
) -> None:
    allowed: set[int] = set()

    async def can_trade(session: AsyncSession, account_id: int) -> None:
        if account_id not in allowed:
            raise Forbidden("not a member")

    venue = await venues.start(platform, VenueConfig(venue="gated", can_trade=can_trade))
    try:
        await list_stock(venue, "AAPL", reference_price=10_000)
        refused = Simulation(venue, SimulationConfig(seed=1))
        stats = await refused.run(steps=20, rate=FAST)
        assert stats.refused > 0 and stats.placed == 0
        assert {a.outcome for a in refused.actions} == {"refused:forbidden"}
        async with venue.platform.db.session() as session:
            orders = await session.scalar(select(func.count()).select_from(MatchingOrder))
        assert orders == 0

        async def member_opener(venue: Venue, name: str) -> int:
            async with venue.platform.db.session(write=True) as session:
                account_id = await venue.open_account(session, f"member:{name}", None)
            allowed.add(account_id)
            return account_id

        admitted = Simulation(venue, SimulationConfig(seed=1), opener=member_opener)
        stats = await admitted.run(steps=40, rate=FAST)
        assert stats.placed > 0 and stats.refused == 0 and stats.trades > 0
        await assert_books_balance(venue)
    finally:
        await venues.stop(platform, "gated")


async def test_bad_settings_and_unknown_symbols_are_refused(venue: Venue) -> None:
    await list_stock(venue, "AAPL", reference_price=10_000)
    for bad in (
        SimulationConfig(makers=0, noise_traders=0),
        SimulationConfig(spread_bps=0),
        SimulationConfig(market_share=1.5),
    ):
        with pytest.raises(InvalidInput):
            Simulation(venue, bad)
    with pytest.raises(InvalidInput):
        await Simulation(venue, SimulationConfig(symbols=("NOPE",))).setup()
    sim = Simulation(venue)
    with pytest.raises(InvalidInput):
        await sim.run(rate=10)
    with pytest.raises(InvalidInput):
        await sim.run(steps=1, rate=0)
    assert sim.stats.steps == 0


async def test_simulate_trading_on_the_stock_exchange_trades_as_verified_members(
    settings: Settings,
) -> None:
    from casebook.cli import _simulate_trading
    from casebook.engines.ledger.verify import verify
    from casebook.systems.stock_exchange.models import Alert, ExchangeAccount, KycRecord, Member
    from casebook.systems.stock_exchange.simulation import FIRM

    stats = await _simulate_trading(settings, "stock-exchange", 3, ("AAPL",), steps=60, rate=FAST)
    assert stats.placed > 0 and stats.trades > 0
    assert stats.refused == 0  # every bot passed the exchange's KYC gate
    again = await _simulate_trading(settings, "stock-exchange", 3, ("AAPL",), steps=10, rate=FAST)
    assert again.placed > 0 and again.refused == 0
    db = Database(settings.resolved_database_url)
    try:
        async with db.session() as session:
            bots = list(
                await session.scalars(
                    select(ExchangeAccount.user_id)
                    .join(Member, Member.id == ExchangeAccount.member_id)
                    .where(Member.name == FIRM)
                )
            )
            verified = await session.scalar(
                select(func.count()).select_from(KycRecord).where(KycRecord.status == "verified")
            )
            washes = await session.scalar(
                select(func.count()).select_from(Alert).where(Alert.kind == "wash-trade")
            )
            report = await verify(session)
    finally:
        await db.dispose()
    assert len(bots) == len(set(bots)) == 3  # one trader per bot: no shared beneficial owner
    assert verified is not None and verified >= 3
    assert washes == 0
    assert report.ok, report.breaks


async def test_serve_with_simulate_runs_the_bots_inside_the_server(settings: Settings) -> None:
    """`casebook serve --simulate R`: the app starts the simulator on each served venue after
    the demo data, trades appear while it serves, and shutdown stops the bots before the venues
    (the ledger still verifies)."""
    import asyncio

    from casebook.app import create_app
    from casebook.engines.ledger.verify import verify

    served = settings.model_copy(
        update={"simulate_trading": 200.0, "demo_data": True, "systems": ["stock-exchange"]}
    )
    app = create_app(served)
    async with app.router.lifespan_context(app):
        platform = app.state.platform
        trades = 0
        async with asyncio.timeout(20):
            while trades < 3:
                await asyncio.sleep(0.1)
                async with platform.db.session() as session:
                    trades = int(
                        await session.scalar(select(func.count()).select_from(MatchingTrade)) or 0
                    )
    db = Database(settings.resolved_database_url)
    try:
        async with db.session() as session:
            report = await verify(session)
    finally:
        await db.dispose()
    assert report.ok, report.breaks


def test_serve_refuses_simulate_with_several_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from casebook.cli import app

    monkeypatch.setenv("CASEBOOK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CASEBOOK_SYSTEMS", "[]")
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--simulate", "5"])
    assert result.exit_code == 2
    assert "--workers 1" in result.output
