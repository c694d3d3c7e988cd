"""Binance's staff: who may review withdrawals held for approval (wallets.py). A row per staff
member in `binance_staff`, granted by an operator (CLI or demo), never through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.auth.deps import Principal
from casebook.platform.db import Base, utcnow


class BinanceStaff(Base):
    __tablename__ = "binance_staff"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


async def grant(session: AsyncSession, user_id: int) -> None:
    """Make the user staff (idempotent)."""
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(BinanceStaff)
        .values(user_id=user_id, granted_at=utcnow())
        .on_conflict_do_nothing()
    )


async def is_staff(session: AsyncSession, principal: Principal) -> bool:
    """Whether the caller is staff; an API key must also carry the `binance:staff` scope."""
    if not principal.has_scope("binance:staff"):
        return False
    found = await session.scalar(
        select(BinanceStaff.user_id).where(BinanceStaff.user_id == principal.user_id)
    )
    return found is not None
