"""Start Zerodha in a process: the firm and its INR listings on the Stock Exchange's venue (made
idempotently: the exchange's demo need not have run), the OMS listener on the venue, and the
settlement of charges a crash left open. The exchange's startup runs first (BUILT order), so its
venue is running here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from casebook.engines.matching.venue import Instrument, OrderView, Venue
from casebook.engines.matching.venue import get as get_venue
from casebook.platform.context import Platform
from casebook.systems.stock_exchange.runtime import VENUE
from casebook.systems.zerodha import broker, gtt, oms

_HOUSE = "zerodha:house"
_LISTENER = "zerodha:listener"
_TRIGGERS = "zerodha:gtt"


async def start(platform: Platform) -> None:
    venue = get_venue(platform, VENUE)
    platform.state[_HOUSE] = await broker.ensure_house(platform)
    await broker.ensure_listings(venue)

    async def listener(
        instrument: Instrument,
        events: Sequence[tuple[Any, ...]],
        orders: Mapping[int, OrderView],
    ) -> None:
        await oms.on_commit(platform, venue, instrument, events, orders)

    triggers = gtt.Triggers(platform, venue)
    venue.listeners.extend([listener, triggers.on_commit])
    platform.state[_LISTENER] = listener
    platform.state[_TRIGGERS] = triggers
    await oms.reconcile(platform, venue)


async def stop(platform: Platform) -> None:
    listener = platform.state.pop(_LISTENER, None)
    triggers: gtt.Triggers | None = platform.state.pop(_TRIGGERS, None)
    platform.state.pop(_HOUSE, None)
    try:
        venue = get_venue(platform, VENUE)
    except KeyError:
        venue = None
    if venue is not None:
        for hook in (listener, triggers.on_commit if triggers else None):
            if hook in venue.listeners:
                venue.listeners.remove(hook)
    if triggers is not None:
        await triggers.drain()


def house(platform: Platform) -> broker.House:
    found: broker.House = platform.state[_HOUSE]
    return found


def exchange(platform: Platform) -> Venue:
    return get_venue(platform, VENUE)
