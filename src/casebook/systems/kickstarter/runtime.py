"""Kickstarter's startup and shutdown hooks: the card network simulator of this process and the
settlement sweep job."""

from __future__ import annotations

from casebook.platform.context import Platform
from casebook.systems.kickstarter import settlement
from casebook.systems.kickstarter.cardnetwork import CardNetwork
from casebook.systems.kickstarter.wallets import STATE_KEY


async def start(platform: Platform) -> None:
    """Create the card network, register the settlement sweep and queue its first run."""
    platform.state[STATE_KEY] = CardNetwork()
    settlement.install(platform)
    await settlement.schedule_settlement(platform)


async def stop(platform: Platform) -> None:
    platform.state.pop(STATE_KEY, None)
