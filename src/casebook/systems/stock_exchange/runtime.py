"""Start and stop the Stock Exchange in a process: its venue of the matching engine, gated by
KYC/AML (`kyc.can_trade`), with the surveillance desk listening to every committed batch."""

from __future__ import annotations

from casebook.engines.matching import mount
from casebook.engines.matching import venue as matching
from casebook.platform.context import Platform
from casebook.systems.stock_exchange.kyc import can_trade
from casebook.systems.stock_exchange.monitor import Surveillance

VENUE = "stock-exchange"
_DESK = "stock-exchange:surveillance"


async def start(platform: Platform) -> None:
    venue = await mount.startup(platform, matching.VenueConfig(venue=VENUE, can_trade=can_trade))
    desk = Surveillance(platform.db)
    venue.listeners.append(desk.on_commit)
    platform.state[_DESK] = desk


async def stop(platform: Platform) -> None:
    platform.state.pop(_DESK, None)
    await mount.shutdown(platform, VENUE)


def exchange(platform: Platform) -> matching.Venue:
    """The running venue of this process."""
    return matching.get(platform, VENUE)


def surveillance(platform: Platform) -> Surveillance:
    desk: Surveillance = platform.state[_DESK]
    return desk
