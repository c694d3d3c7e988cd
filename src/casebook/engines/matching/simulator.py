"""A market simulator: bots that trade on a venue through its API, so books, tapes, candles and
pages have live activity (`casebook simulate trading`).

Per instrument, a fair value follows a seeded random walk in ticks (a Gaussian step of
`volatility_bps` of the value, and now and then a shock of `shock_bps`, which publishes a news
item through news.py). Two kinds of bots, each a real venue account funded from the venue's
external source (`Venue.credit`):

- market makers quote `quote_levels` levels a side around the fair value (half spread
  `spread_bps / 2`), replace quotes whose price moved (`Venue.replace`), lean their quotes against
  their inventory (position = base held - base funded) and stop quoting a side when the inventory
  reaches `max_inventory` lots;
- noise traders send market orders, or limit orders scattered around the fair value, and cancel
  their oldest resting order when they hold more than `noise_max_open`.

Actions run one at a time, so a run is a pure function of the seed and the venue's starting
state: the same seed on the same books makes the same actions (`Simulation.actions` records
them). Orders the venue refuses (funds, a gate) are counted and skipped; a bot short of funds is
topped up from the external source and goes on.

    sim = Simulation(venue, SimulationConfig(seed=7))
    await sim.setup()                       # accounts, funding, starting fair values
    stats = await sim.run(duration=10.0, rate=200)

Cost per step: one venue command (the writer's commit) plus, for a maker, one balance read.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching import news
from casebook.engines.matching.errors import OrderNotFound, OrderNotOpen
from casebook.engines.matching.types import TRADE, Side, TimeInForce
from casebook.engines.matching.venue import Instrument, NewOrder, OrderView, Venue
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.ids import new_id

__all__ = [
    "AccountOpener",
    "Action",
    "Simulation",
    "SimulationConfig",
    "SimulationStats",
    "open_venue_account",
]

AccountOpener = Callable[[Venue, str], Awaitable[int]]
"""(venue, bot name) → the bot's venue account id, committed and allowed to trade. A venue with
a trading gate (the Stock Exchange's KYC) supplies its own; the default opens a plain account."""

NEWS_SOURCE = "casebook-simulator"
_UP = ("{s} jumps {p} % as analysts raise targets", "{s} rallies {p} % after an earnings beat")
_DOWN = ("{s} slides {p} % on a guidance cut", "{s} drops {p} % as a key customer walks away")


async def open_venue_account(venue: Venue, name: str) -> int:
    """The default opener: a plain venue account owned by `sim:<name>`."""
    async with venue.platform.db.session(write=True) as session:
        return await venue.open_account(session, f"sim:{name}", None)


@dataclass(frozen=True)
class SimulationConfig:
    """What the bots do. Quantities are lots, spreads and moves basis points of the fair value."""

    seed: int = 1
    symbols: tuple[str, ...] = ()
    """Instruments to trade (empty: every instrument of the venue)."""
    makers: int = 1
    """Market makers per instrument."""
    noise_traders: int = 2
    """Noise traders per instrument."""
    quote_levels: int = 2
    quote_qty: int = 10
    spread_bps: int = 20
    max_inventory: int = 100
    volatility_bps: int = 5
    shock_probability: float = 0.002
    shock_bps: int = 400
    maker_share: float = 0.4
    """Probability that a step is a maker's turn rather than a noise trader's."""
    market_share: float = 0.5
    """Probability that a noise trader's order is a market order."""
    noise_max_qty: int = 5
    noise_max_open: int = 4

    def check(self) -> None:
        """InvalidInput (422) naming the first setting out of range."""
        counts = {
            "makers": (self.makers, 0, 20),
            "noise_traders": (self.noise_traders, 0, 50),
            "quote_levels": (self.quote_levels, 1, 20),
            "quote_qty": (self.quote_qty, 1, 10**6),
            "spread_bps": (self.spread_bps, 1, 5_000),
            "max_inventory": (self.max_inventory, 1, 10**8),
            "volatility_bps": (self.volatility_bps, 0, 1_000),
            "shock_bps": (self.shock_bps, 0, 5_000),
            "noise_max_qty": (self.noise_max_qty, 1, 10**6),
            "noise_max_open": (self.noise_max_open, 0, 1_000),
        }
        for name, (value, low, high) in counts.items():
            if not low <= value <= high:
                raise InvalidInput(f"{name} must be between {low} and {high}.")
        for name, share in (
            ("shock_probability", self.shock_probability),
            ("maker_share", self.maker_share),
            ("market_share", self.market_share),
        ):
            if not 0.0 <= share <= 1.0:
                raise InvalidInput(f"{name} is a probability between 0 and 1.")
        if self.makers + self.noise_traders == 0:
            raise InvalidInput("A simulation needs at least one bot per instrument.")


@dataclass(frozen=True)
class Action:
    """One decision of a bot, as recorded for reproducibility (no ids: they differ per run)."""

    bot: str
    kind: str
    """place | replace | cancel | news"""
    side: str = ""
    price: int = 0
    qty: int = 0
    outcome: str = ""
    """The order's status after the action, or the refusal's problem type."""


@dataclass
class SimulationStats:
    steps: int = 0
    placed: int = 0
    replaced: int = 0
    cancelled: int = 0
    refused: int = 0
    top_ups: int = 0
    news: int = 0
    trades: int = 0
    elapsed: float = 0.0

    @property
    def commands_per_second(self) -> float:
        done = self.placed + self.replaced + self.cancelled + self.refused
        return done / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.elapsed:6.1f}s  steps {self.steps:,}  placed {self.placed:,}  "
            f"replaced {self.replaced:,}  cancelled {self.cancelled:,}  refused {self.refused:,}  "
            f"trades {self.trades:,}  news {self.news:,}  {self.commands_per_second:,.0f} cmd/s"
        )


@dataclass
class _Bot:
    name: str
    role: str
    account_id: int
    instrument: Instrument
    cash_target: int
    base_target: int
    slots: dict[tuple[str, int], int] = field(default_factory=dict)
    """A maker's quote slot (side, level) → its order id."""
    resting: deque[int] = field(default_factory=deque)
    """A noise trader's resting orders, oldest first."""


class Simulation:
    """Bots trading on one venue (see the module docstring)."""

    def __init__(
        self,
        venue: Venue,
        config: SimulationConfig | None = None,
        *,
        opener: AccountOpener = open_venue_account,
    ) -> None:
        self.venue = venue
        self.config = config or SimulationConfig()
        self.config.check()
        self.opener = opener
        self.rng = random.Random(self.config.seed)
        self.stats = SimulationStats()
        self.actions: list[Action] = []
        self.fair: dict[int, int] = {}
        self.instruments: list[Instrument] = []
        self.makers: dict[int, list[_Bot]] = {}
        self.noise: dict[int, list[_Bot]] = {}

    # -- setup ------------------------------------------------------------------------------------

    async def setup(self) -> None:
        """Pick the instruments, open and fund every bot's account, set the starting fair values
        (last trade, else the book's mid, else the reference price, else 100 ticks). Raises
        InvalidInput for a symbol the venue does not list or a venue with no instruments."""
        async with self.venue.platform.db.session() as session:
            listed = await self.venue.instruments(session)
        by_symbol = {i.symbol: i for i in listed}
        if self.config.symbols:
            unknown = [s for s in self.config.symbols if s not in by_symbol]
            if unknown:
                raise InvalidInput(f"{self.venue.name} does not list {', '.join(unknown)}.")
            self.instruments = [by_symbol[s] for s in self.config.symbols]
        else:
            self.instruments = [i for i in listed if i.status == "trading"]
        if not self.instruments:
            raise InvalidInput(f"{self.venue.name} lists no instrument to trade.")
        cfg = self.config
        for instrument in self.instruments:
            fair = self._starting_value(instrument)
            self.fair[instrument.id] = fair
            depth = cfg.max_inventory + cfg.quote_qty * cfg.quote_levels
            self.makers[instrument.id] = [
                await self._bot(
                    instrument, "maker", i, fair * instrument.npl * depth * 3, depth * 2
                )
                for i in range(cfg.makers)
            ]
            lots = cfg.noise_max_qty * (cfg.noise_max_open + 1) * 10
            self.noise[instrument.id] = [
                await self._bot(instrument, "noise", i, fair * instrument.npl * lots * 2, lots)
                for i in range(cfg.noise_traders)
            ]

    def _starting_value(self, instrument: Instrument) -> int:
        book = self.venue.book(instrument.id)
        bid, ask = book.best_bid(), book.best_ask()
        mid = (bid + ask) // 2 if bid and ask else None
        return self.venue.last_price.get(instrument.id) or mid or instrument.reference_price or 100

    async def _bot(
        self, instrument: Instrument, role: str, index: int, cash: int, base_lots: int
    ) -> _Bot:
        name = f"{instrument.symbol}:{role}:{index}"
        account_id = await self.opener(self.venue, name)
        bot = _Bot(
            name=name,
            role=role,
            account_id=account_id,
            instrument=instrument,
            cash_target=max(cash, 1),
            base_target=base_lots * instrument.lot_size,
        )
        await self._top_up(bot)
        return bot

    async def _top_up(self, bot: _Bot) -> None:
        """Deposit, from the venue's external source, what brings the bot's totals back to its
        targets (nothing when it holds at least that)."""
        instrument = bot.instrument
        async with self.venue.platform.db.session(write=True) as session:
            held = {b.asset: b.total for b in await self.venue.balances(session, bot.account_id)}
            for asset, target in (
                (instrument.quote_asset, bot.cash_target),
                (instrument.base_asset, bot.base_target),
            ):
                missing = target - held.get(asset, 0)
                if missing > 0:
                    await self.venue.credit(
                        session, bot.account_id, asset, missing, new_id(), f"sim:{bot.name}"
                    )

    # -- running ----------------------------------------------------------------------------------

    async def run(
        self,
        *,
        duration: float | None = None,
        steps: int | None = None,
        rate: float = 100.0,
        progress: Callable[[SimulationStats], None] | None = None,
        progress_every: float = 1.0,
        stop: asyncio.Event | None = None,
    ) -> SimulationStats:
        """Run steps at up to `rate` per second until `duration` seconds passed, `steps` steps
        ran, or `stop` is set (at least one bound is needed). `progress(stats)` is called every
        `progress_every` seconds. Returns the stats (cumulative over runs)."""
        if duration is None and steps is None and stop is None:
            raise InvalidInput("Give a duration, a number of steps or a stop event.")
        if not 0 < rate <= 1_000_000:
            raise InvalidInput("rate is between 0 and 1,000,000 steps per second.")
        if duration is not None and not 0 < duration <= 7 * 86_400:
            raise InvalidInput("duration is between 0 and one week, in seconds.")
        if not self.instruments:
            await self.setup()
        watched = {i.id for i in self.instruments}

        async def count_trades(
            instrument: Instrument,
            events: Sequence[tuple[Any, ...]],
            orders: Mapping[int, OrderView],
        ) -> None:
            if instrument.id in watched:
                self.stats.trades += sum(1 for event in events if event[0] == TRADE)

        self.venue.listeners.append(count_trades)
        started = time.monotonic()
        base_elapsed = self.stats.elapsed
        last_report = started
        done = 0
        try:
            while steps is None or done < steps:
                now = time.monotonic()
                if duration is not None and now - started >= duration:
                    break
                if stop is not None and stop.is_set():
                    break
                ahead = started + done / rate - now
                if ahead > 0:
                    await asyncio.sleep(ahead)
                await self.step()
                done += 1
                self.stats.elapsed = base_elapsed + time.monotonic() - started
                if progress is not None and time.monotonic() - last_report >= progress_every:
                    last_report = time.monotonic()
                    progress(self.stats)
        finally:
            self.venue.listeners.remove(count_trades)
            self.stats.elapsed = base_elapsed + time.monotonic() - started
        return self.stats

    async def step(self) -> None:
        """One step: an instrument's fair value moves, then one of its bots acts."""
        instrument = self.rng.choice(self.instruments)
        await self._move_fair_value(instrument)
        makers, noise = self.makers[instrument.id], self.noise[instrument.id]
        if makers and (not noise or self.rng.random() < self.config.maker_share):
            await self._quote(self.rng.choice(makers))
        else:
            await self._trade(self.rng.choice(noise))
        self.stats.steps += 1

    async def _move_fair_value(self, instrument: Instrument) -> None:
        cfg, fair = self.config, self.fair[instrument.id]
        move = round(self.rng.gauss(0.0, fair * cfg.volatility_bps / 10_000))
        if self.rng.random() < cfg.shock_probability and cfg.shock_bps:
            shock = self.rng.choice((-1, 1)) * fair * cfg.shock_bps // 10_000
            move += shock
            await self._publish_news(instrument, fair, shock)
        self.fair[instrument.id] = max(1, fair + move)

    async def _publish_news(self, instrument: Instrument, fair: int, shock: int) -> None:
        percent = f"{abs(shock) * 100 / fair:.1f}"
        template = self.rng.choice(_UP if shock > 0 else _DOWN)
        headline = template.format(s=instrument.symbol, p=percent)
        body = (
            f"{instrument.symbol} moved {'up' if shock > 0 else 'down'} about {percent} % "
            f"against its last fair value of {fair} ticks. Generated by the market simulator."
        )
        async with self.venue.platform.db.session(write=True) as session:
            await news.publish(
                session, self.venue.name, instrument.symbol, headline, body, source=NEWS_SOURCE
            )
        self.stats.news += 1
        self.actions.append(Action(bot="wire", kind="news", outcome=headline))

    # -- market makers ---------------------------------------------------------------------------

    async def _inventory(self, bot: _Bot) -> int:
        """The maker's position in lots: base held (locked included) - its funding target."""
        async with self.venue.platform.db.session() as session:
            for balance in await self.venue.balances(session, bot.account_id):
                if balance.asset == bot.instrument.base_asset:
                    return (balance.total - bot.base_target) // bot.instrument.lot_size
        return -bot.base_target // bot.instrument.lot_size

    def _wanted_quotes(self, bot: _Bot, inventory: int) -> dict[tuple[str, int], int]:
        """(side, level) → price of every quote the maker wants now."""
        cfg, fair = self.config, self.fair[bot.instrument.id]
        half = max(1, fair * cfg.spread_bps // 20_000)
        skew = inventory * half // cfg.max_inventory
        wanted: dict[tuple[str, int], int] = {}
        for level in range(cfg.quote_levels):
            if inventory < cfg.max_inventory:
                wanted[("buy", level)] = max(1, fair - half - level * half - skew)
            if inventory > -cfg.max_inventory:
                wanted[("sell", level)] = max(1, fair + half + level * half - skew)
        return wanted

    async def _quote(self, bot: _Bot) -> None:
        """Bring the maker's quotes to what it wants: replace moved ones, place missing ones,
        cancel unwanted ones. O(levels) venue commands."""
        wanted = self._wanted_quotes(bot, await self._inventory(bot))
        book = self.venue.book(bot.instrument.id)
        for slot, order_id in list(bot.slots.items()):
            if book.open_order(order_id) is None:
                del bot.slots[slot]
            elif slot not in wanted:
                del bot.slots[slot]
                await self._cancel(bot, order_id)
        for (side, level), price in sorted(wanted.items()):
            current = bot.slots.get((side, level))
            if current is None:
                view = await self._place(bot, Side.BUY if side == "buy" else Side.SELL, price)
                if view is not None and view.open_qty:
                    bot.slots[(side, level)] = view.id
                continue
            resting = book.open_order(current)
            if resting is not None and resting[2] != price:
                view = await self._replace(bot, current, side, price)
                if view is None or not view.open_qty:
                    bot.slots.pop((side, level), None)

    # -- noise traders ---------------------------------------------------------------------------

    async def _trade(self, bot: _Bot) -> None:
        """A market order, or a limit order within a few spreads of the fair value; then cancel
        the oldest resting order when more than `noise_max_open` rest."""
        cfg, fair = self.config, self.fair[bot.instrument.id]
        side = self.rng.choice((Side.BUY, Side.SELL))
        qty = self.rng.randint(1, cfg.noise_max_qty)
        if self.rng.random() < cfg.market_share:
            await self._place(bot, side, None, qty=qty)
        else:
            spread = max(1, fair * cfg.spread_bps // 10_000)
            offset = self.rng.randint(-2 * spread, 3 * spread)
            price = max(1, fair - offset if side is Side.BUY else fair + offset)
            view = await self._place(bot, side, price, qty=qty)
            if view is not None and view.open_qty:
                bot.resting.append(view.id)
        book = self.venue.book(bot.instrument.id)
        while bot.resting and book.open_order(bot.resting[0]) is None:
            bot.resting.popleft()
        if len(bot.resting) > cfg.noise_max_open:
            await self._cancel(bot, bot.resting.popleft())

    # -- venue commands --------------------------------------------------------------------------

    async def _place(
        self, bot: _Bot, side: Side, price: int | None, *, qty: int | None = None
    ) -> OrderView | None:
        qty = qty or self.config.quote_qty
        order = NewOrder(
            account_id=bot.account_id,
            instrument_id=bot.instrument.id,
            side=side,
            qty=qty,
            price=price,
            type="limit" if price is not None else "market",
            tif=TimeInForce.GTC if price is not None else TimeInForce.IOC,
        )
        side_name = "buy" if side is Side.BUY else "sell"
        try:
            view = await self.venue.place(order)
        except InsufficientFunds:
            self._refused(bot, "place", side_name, price or 0, qty, "insufficient-funds")
            await self._top_up(bot)
            self.stats.top_ups += 1
            return None
        except Problem as problem:
            self._refused(bot, "place", side_name, price or 0, qty, problem.type_)
            return None
        self.stats.placed += 1
        self.actions.append(Action(bot.name, "place", side_name, price or 0, qty, view.status))
        return view

    async def _replace(self, bot: _Bot, order_id: int, side: str, price: int) -> OrderView | None:
        qty = self.config.quote_qty
        try:
            view = await self.venue.replace(bot.account_id, order_id, price, qty)
        except (OrderNotOpen, OrderNotFound):
            # Filled between the bot's look at the book and its command: nothing to move.
            return None
        except InsufficientFunds:
            self._refused(bot, "replace", side, price, qty, "insufficient-funds")
            await self._top_up(bot)
            self.stats.top_ups += 1
            return None
        except Problem as problem:
            self._refused(bot, "replace", side, price, qty, problem.type_)
            return None
        self.stats.replaced += 1
        self.actions.append(Action(bot.name, "replace", side, price, qty, view.status))
        return view

    async def _cancel(self, bot: _Bot, order_id: int) -> None:
        try:
            view = await self.venue.cancel(bot.account_id, order_id)
        except (OrderNotOpen, OrderNotFound):
            return
        self.stats.cancelled += 1
        self.actions.append(Action(bot.name, "cancel", view.side, view.price, 0, view.status))

    def _refused(self, bot: _Bot, kind: str, side: str, price: int, qty: int, reason: str) -> None:
        self.stats.refused += 1
        self.actions.append(Action(bot.name, kind, side, price, qty, f"refused:{reason}"))
