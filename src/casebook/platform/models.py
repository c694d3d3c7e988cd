"""The platform's own tables (users, tokens, API keys, idempotency records, …)."""

from __future__ import annotations

import importlib

PLATFORM_MODEL_MODULES: tuple[str, ...] = (
    "casebook.platform.auth.models",
    "casebook.platform.idempotency",
    "casebook.platform.sms",
)


def import_platform_models() -> None:
    """Import every platform model module so `Base.metadata` holds its tables."""
    for module in PLATFORM_MODEL_MODULES:
        importlib.import_module(module)
