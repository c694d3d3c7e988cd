"""The case studies. `catalog.toml` lists all of them; `BUILT` names the packages that exist."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from casebook.engines import import_engine_models
from casebook.platform.registry import System, load_catalog

CATALOG_PATH = Path(__file__).with_name("catalog.toml")

BUILT: tuple[str, ...] = (
    "url_shortener",
    "kickstarter",
    "cashapp",
    "razorpay",
    "alipay",
    "instant_messenger",
    "telegram",
    "viber",
    "facebook_newsfeed",
    "hacker_news",
    "substack",
    "facebook_timeline",
    "instagram",
    "stock_exchange",
    "robinhood",
    "zerodha",
    "binance",
)
"""Packages under `casebook.systems` that export `SYSTEM`; the rest of the catalogue is unbuilt."""

IN_PROGRESS_MODEL_MODULES: tuple[str, ...] = ()
"""Model modules of systems whose parts exist and are tested but that are not registered yet
(none now: Binance's chain, DEX and wallets preceded its venue and are registered). Their
tables are migrated with everything else, so the schema never depends on which modules a process
imported."""


@cache
def catalog() -> dict[str, System]:
    return load_catalog(CATALOG_PATH)


def catalog_entry(slug: str) -> System:
    """The catalogue entry for `slug`, for a system package to attach its parts to."""
    return catalog()[slug]


@cache
def all_systems() -> tuple[System, ...]:
    """Every system in catalogue order, built ones with their implementation attached."""
    systems = dict(catalog())
    for package in BUILT:
        module = importlib.import_module(f"{__name__}.{package}")
        system: System = module.SYSTEM
        systems[system.slug] = system
    return tuple(systems.values())


def import_models() -> None:
    """Import every engine's and built system's models so `Base.metadata` holds all tables."""
    import_engine_models()
    for system in all_systems():
        if system.models_module:
            importlib.import_module(system.models_module)
    for module in IN_PROGRESS_MODEL_MODULES:
        importlib.import_module(module)
