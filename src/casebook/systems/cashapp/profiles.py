"""CashApp profiles: a platform user's $cashtag, lookup by $cashtag / phone / e-mail, and wallet.

A $cashtag is `$` followed by 1 to 20 ASCII letters or digits; two cashtags that differ only in
case are the same cashtag (`cashtag_key` is the lower-case form and is unique). Phone numbers are
E.164, e-mails are compared in lower case; both are unique when given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger
from casebook.platform.auth.models import User
from casebook.systems.cashapp.accounts import open_wallet
from casebook.systems.cashapp.errors import (
    CashtagTaken,
    InvalidCashtag,
    ProfileRequired,
    RecipientNotFound,
)
from casebook.systems.cashapp.models import Profile

CASHTAG = re.compile(r"^\$?([A-Za-z0-9]{1,20})$")
PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")


def cashtag_key(cashtag: str) -> str:
    """`$Alice` → `alice`; raises InvalidCashtag."""
    match = CASHTAG.match(cashtag.strip())
    if match is None:
        raise InvalidCashtag(f"{cashtag!r} is not a $cashtag: use $ and 1 to 20 letters or digits.")
    return match.group(1).lower()


@dataclass(frozen=True)
class Party:
    """Someone you can pay: what another user may see of a profile."""

    user_id: int
    cashtag: str
    display_name: str
    is_business: bool


async def save_profile(
    session: AsyncSession,
    user_id: int,
    cashtag: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    is_business: bool = False,
) -> Profile:
    """Create or change the user's profile (and open their wallet on creation).

    Raises InvalidCashtag, and CashtagTaken when the cashtag (in any case), phone or e-mail is
    another user's. O(log n).
    """
    key = cashtag_key(cashtag)
    email = email.strip().lower() if email else None
    profile = await session.get(Profile, user_id)
    try:
        async with session.begin_nested():
            if profile is None:
                wallet = await open_wallet(Ledger(session), user_id)
                profile = Profile(user_id=user_id, wallet_account_id=wallet.id)
                session.add(profile)
            profile.cashtag = f"${cashtag.strip().removeprefix('$')}"
            profile.cashtag_key = key
            profile.phone = phone
            profile.email = email
            profile.is_business = is_business
    except IntegrityError as exc:
        raise CashtagTaken("That $cashtag, phone or e-mail is already someone else's.") from exc
    return profile


async def require_profile(session: AsyncSession, user_id: int) -> Profile:
    """The user's profile; raises ProfileRequired (409) if they have not made one."""
    profile = await session.get(Profile, user_id)
    if profile is None:
        raise ProfileRequired("Choose a $cashtag (PUT /api/cashapp/profile) before moving money.")
    return profile


async def find_party(session: AsyncSession, handle: str) -> Profile:
    """The profile a `$cashtag`, E.164 phone or e-mail names; raises RecipientNotFound. O(log n)."""
    handle = handle.strip()
    if "@" in handle:
        condition = Profile.email == handle.lower()
    elif handle.startswith("+"):
        condition = Profile.phone == handle
    else:
        condition = Profile.cashtag_key == cashtag_key(handle)
    profile = await session.scalar(select(Profile).where(condition))
    if profile is None:
        raise RecipientNotFound(f"Nobody on CashApp is {handle!r}.")
    return profile


async def parties(session: AsyncSession, user_ids: set[int]) -> dict[int, Party]:
    """Public views of the given users' profiles, by user id (users without one are left out)."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Profile, User.display_name)
        .join(User, User.id == Profile.user_id)
        .where(Profile.user_id.in_(sorted(user_ids)))
    )
    return {
        p.user_id: Party(p.user_id, p.cashtag, name or p.cashtag, p.is_business) for p, name in rows
    }
