"""Who is looking at a page: the signed-in user as the shared navigation shows them.

Pages get it through the `OptionalViewer` dependency, which resolves the request's credentials with
`casebook.platform.auth.deps.optional_principal` (in a browser: the `casebook_access` cookie) and
loads the user's name. FastAPI resolves a dependency once per request, so a page that also needs
the `Principal` shares the same lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from casebook.platform.auth.deps import Principal, optional_principal
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page."""

    user_id: int
    display_name: str
    email: str


async def optional_viewer(
    principal: Annotated[Principal | None, Depends(optional_principal)],
    platform: Annotated[Platform, Depends(get_platform)],
) -> Viewer | None:
    """FastAPI dependency: the signed-in user, or None for an anonymous visitor.

    A token whose user no longer exists counts as anonymous. One primary-key read for a signed-in
    visitor, in a short session of its own (so it never holds a connection for an anonymous one,
    nor shares a transaction with the page's own writes); none for an anonymous one.
    """
    if principal is None:
        return None
    async with platform.db.session() as session:
        user = await session.get(User, principal.user_id)
    if user is None:
        return None
    return Viewer(user_id=user.id, display_name=user.display_name or user.email, email=user.email)


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
