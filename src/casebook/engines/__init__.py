"""Engines: the hard cores that two or more systems share (ARCHITECTURE §1).

An engine is a plain domain object with a small API and exhaustive tests; persistence wraps it. It
imports the platform, never a system.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from casebook.platform.context import Platform

ENGINE_MODEL_MODULES: tuple[str, ...] = (
    "casebook.engines.ledger.models",
    "casebook.engines.feed.models",
    "casebook.engines.messaging.models",
    "casebook.engines.feed.engagement_models",
    "casebook.engines.matching.models",
    "casebook.engines.matching.md_models",
    "casebook.engines.matching.news",
)


def import_engine_models() -> None:
    """Import every engine's model module so `Base.metadata` holds its tables."""
    for module in ENGINE_MODEL_MODULES:
        importlib.import_module(module)


async def schedule_engine_jobs(platform: Platform) -> None:
    """Enqueue the periodic jobs of the engines that systems installed; after the queue starts."""
    from casebook.engines.ledger.expiry import EXPIRY_JOB, schedule_expiry

    if platform.state.get(EXPIRY_JOB):
        await schedule_expiry(platform)
