"""Run the matching engine's market simulator on a system's venue, with the bots that system
admits: `casebook simulate trading` (a platform of its own) and `casebook serve --simulate`
(inside the server, `start_in_app`)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable

import structlog

from casebook.engines.matching import venue as venues
from casebook.engines.matching.simulator import (
    AccountOpener,
    Simulation,
    SimulationConfig,
    SimulationStats,
    open_venue_account,
)
from casebook.platform.context import Platform
from casebook.platform.registry import System

log = structlog.get_logger("casebook.simulate")

_TASKS = "casebook.simulate:tasks"


def opener_of(system: System) -> AccountOpener:
    """How a bot becomes a trader on the system's venue: the system's
    `simulation.open_bot_account` when it has a trading gate (the Stock Exchange's KYC), else
    a plain venue account."""
    name = f"casebook.systems.{system.package}.simulation"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as missing:
        if missing.name != name:
            raise
        return open_venue_account
    opener: AccountOpener = module.open_bot_account
    return opener


def has_venue(platform: Platform, system: System) -> bool:
    """Whether the system runs a venue of its own in this process (named by its slug)."""
    try:
        venues.get(platform, system.slug)
    except KeyError:
        return False
    return True


async def simulate(
    platform: Platform,
    system: System,
    *,
    seed: int = 1,
    symbols: tuple[str, ...] = (),
    rate: float = 50.0,
    duration: float | None = None,
    steps: int | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Simulation], None] | None = None,
    progress: Callable[[SimulationStats], None] | None = None,
) -> SimulationStats:
    """Set the bots up on the system's (started) venue and run them until a bound. Raises
    InvalidInput when the venue lists nothing (or not `symbols`)."""
    venue = venues.get(platform, system.slug)
    simulation = Simulation(
        venue, SimulationConfig(seed=seed, symbols=symbols), opener=opener_of(system)
    )
    await simulation.setup()
    if on_ready:
        on_ready(simulation)
    return await simulation.run(
        duration=duration, steps=steps, rate=rate, stop=stop, progress=progress
    )


async def start_in_app(platform: Platform, systems: list[System], rate: float) -> None:
    """Start one simulation task per served system with a venue (after the demo data, so the
    venues list something); `stop_in_app` ends them. A venue that cannot be simulated (it lists
    nothing) is logged and skipped; the server goes on."""
    stop = asyncio.Event()
    tasks = []
    for system in systems:
        if not has_venue(platform, system):
            continue
        task = asyncio.create_task(
            _run(platform, system, rate, stop), name=f"simulate-{system.slug}"
        )
        tasks.append(task)
    platform.state[_TASKS] = (stop, tasks)


async def _run(platform: Platform, system: System, rate: float, stop: asyncio.Event) -> None:
    try:
        stats = await simulate(
            platform,
            system,
            rate=rate,
            stop=stop,
            on_ready=lambda sim: log.info(
                "simulating",
                venue=system.slug,
                symbols=[i.symbol for i in sim.instruments],
                rate=rate,
            ),
        )
        log.info("simulation stopped", venue=system.slug, stats=stats.line())
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the server goes on without bots on this venue
        log.warning("simulation failed", venue=system.slug, error=str(exc))


async def stop_in_app(platform: Platform) -> None:
    """Stop the simulation tasks (each finishes its current step) before the venues stop."""
    entry = platform.state.pop(_TASKS, None)
    if entry is None:
        return
    stop, tasks = entry
    stop.set()
    for task in tasks:
        try:
            await asyncio.wait_for(task, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
