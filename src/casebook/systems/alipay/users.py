"""Alipay users: the seed's register (username, e-mail, password, phone) and login by username.

Identity is the product's shared one (`casebook.platform.auth`): registering here creates the
shared account and the Alipay profile (username, phone) in one transaction, and logging in issues
the shared bearer tokens. A user who signed up elsewhere adds a profile with `create_profile`.
Recipients of transfers and bills are found by username, phone or e-mail.
"""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.models import User
from casebook.platform.auth.service import TokenPair, authenticate, register_user
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.alipay.errors import ProfileNotFound, UsernameTaken
from casebook.systems.alipay.models import Profile, insert_unless_exists

USERNAME = re.compile(r"^[a-z][a-z0-9_]{2,31}$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


async def create_profile(session: AsyncSession, user_id: int, username: str, phone: str) -> Profile:
    """Give user `user_id` an Alipay username and phone. Raises UsernameTaken (409) when either
    is taken or the user already has a profile; the unique indexes decide races."""
    created = await session.scalar(
        insert_unless_exists(session, Profile)
        .values(user_id=user_id, username=username.lower(), phone=phone, created_at=utcnow())
        .returning(Profile.user_id)
    )
    if created is None:
        raise UsernameTaken(
            "That username or phone number is taken, or you already have a profile."
        )
    profile = await session.get(Profile, user_id)
    assert profile is not None
    return profile


async def register(
    session: AsyncSession,
    platform: Platform,
    username: str,
    email: str,
    password: str,
    phone: str,
) -> tuple[User, Profile]:
    """The seed's `POST /api/users/register`. Raises the shared register errors (422, 409 for a
    taken e-mail) and UsernameTaken."""
    user = await register_user(session, email, password, username, settings=platform.settings)
    profile = await create_profile(session, user.id, username, phone)
    return user, profile


async def login(
    session: AsyncSession, platform: Platform, username: str, password: str, ip: str | None
) -> TokenPair:
    """The seed's `POST /api/users/login`: tokens for a username (or e-mail) and password.

    An unknown username costs the same password check as a wrong password and fails the same
    way (401), so the answer does not reveal which usernames exist.
    """
    email = username
    if "@" not in username:
        email = (
            await session.scalar(
                select(User.email)
                .join(Profile, Profile.user_id == User.id)
                .where(Profile.username == username.lower())
            )
        ) or f"{username.lower()}@unknown.alipay.invalid"
    return await authenticate(
        session, platform.settings, email, password, limiter=platform.rate_limiter, client_ip=ip
    )


async def profile_of(session: AsyncSession, user_id: int) -> Profile | None:
    return await session.get(Profile, user_id)


async def resolve_user(session: AsyncSession, handle: str) -> int:
    """The id of the user with this username, phone (+…) or e-mail. Raises ProfileNotFound."""
    value = handle.strip()
    if "@" in value:
        user_id = await session.scalar(select(User.id).where(User.email == value.lower()))
    else:
        user_id = await session.scalar(
            select(Profile.user_id).where(
                or_(Profile.username == value.lower(), Profile.phone == value)
            )
        )
    if user_id is None:
        raise ProfileNotFound(f"No Alipay user is called {handle!r}.")
    return int(user_id)
