"""Exchange staff: who may see surveillance alerts and decide KYC and AML reviews.

Staff is a role table (`stockexchange_staff`), not a setting, so it is granted and audited like
any other record and works the same in every process. The operator's first grant is made by
`grant(..., granted_by=None)` — the demo data does it for its compliance officer — and staff can
grant staff afterwards. An API key acts as staff only with the `stock-exchange:compliance` scope;
a user's own session has every scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.deps import Principal, require_scope
from casebook.platform.db import get_session
from casebook.systems.stock_exchange.errors import StaffOnly
from casebook.systems.stock_exchange.models import Staff

COMPLIANCE_SCOPE = "stock-exchange:compliance"
ROLES = ("compliance",)


async def grant(
    session: AsyncSession, user_id: int, role: str = "compliance", granted_by: int | None = None
) -> Staff:
    """Make `user_id` staff (idempotent: an existing grant is returned unchanged).

    Raises ValueError for an unknown role (callers validate input before)."""
    if role not in ROLES:
        raise ValueError(f"unknown staff role {role!r}")
    existing = await session.get(Staff, user_id)
    if existing is not None:
        return existing
    staff = Staff(user_id=user_id, role=role, granted_by=granted_by)
    session.add(staff)
    await session.flush()
    return staff


async def is_staff(session: AsyncSession, user_id: int) -> bool:
    return await session.get(Staff, user_id) is not None


async def require_staff(
    principal: Annotated[Principal, Depends(require_scope(COMPLIANCE_SCOPE))],
    session: Annotated[AsyncSession, Depends(get_session, scope="function")],
) -> Principal:
    """Dependency: the caller, if it is exchange staff; raises StaffOnly (403) otherwise."""
    if not await is_staff(session, principal.user_id):
        raise StaffOnly("This is for the exchange's compliance staff.")
    return principal


StaffPrincipal = Annotated[Principal, Depends(require_staff)]
