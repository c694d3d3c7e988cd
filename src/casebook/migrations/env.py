"""Alembic environment: runs on the connection handed over by `casebook.migrations.upgrade`."""

from __future__ import annotations

from alembic import context

from casebook.platform.db import Base
from casebook.platform.models import import_platform_models
from casebook.systems import import_models

import_platform_models()
import_models()

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `casebook migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
