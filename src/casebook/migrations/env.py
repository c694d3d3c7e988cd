"""Alembic environment: runs on the connection handed over by `casebook.migrations.upgrade`."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from casebook.migrations import include_object
from casebook.platform.db import Base, UTCDateTime
from casebook.platform.models import import_platform_models
from casebook.systems import import_models

import_platform_models()
import_models()

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `casebook migrate`, which supplies the connection")


def render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones, so migrations never import app code."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    render_item=render_item,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
