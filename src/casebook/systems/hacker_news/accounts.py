"""Hacker News accounts: a unique username on top of the platform user, karma and "about".

`register` is the seed's `POST /api/register {username, email, password}`: a platform user and
its username in one transaction. A user who already has a platform account claims a username with
`claim_username`. `login` accepts the username (or the e-mail) and the password.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.models import User
from casebook.platform.auth.service import TokenPair, authenticate, register_user
from casebook.platform.context import Platform
from casebook.systems.hacker_news.errors import (
    AlreadyHasAccount,
    InvalidUsername,
    NoAccount,
    UsernameTaken,
)
from casebook.systems.hacker_news.models import Account

USERNAME = re.compile(r"^[A-Za-z0-9_-]{2,15}$")


def check_username(username: str) -> str:
    """`username` if it is 2-15 letters, digits, "-" or "_"; raises InvalidUsername."""
    if not USERNAME.match(username):
        raise InvalidUsername(f"{username[:40]!r} is not a valid username.")
    return username


async def claim_username(session: AsyncSession, user_id: int, username: str) -> Account:
    """Give platform user `user_id` the Hacker News `username` (case-insensitively unique).

    Raises InvalidUsername (422), AlreadyHasAccount or UsernameTaken (409); the unique index
    decides between two concurrent claims of one name.
    """
    check_username(username)
    if await session.get(Account, user_id) is not None:
        raise AlreadyHasAccount()
    account = Account(user_id=user_id, username=username, username_key=username.lower())
    try:
        async with session.begin_nested():
            session.add(account)
            await session.flush()
    except IntegrityError:
        if await session.get(Account, user_id) is not None:
            raise AlreadyHasAccount() from None
        raise UsernameTaken(f"{username} is taken.") from None
    return account


async def register(platform: Platform, username: str, email: str, password: str) -> Account:
    """A new platform user with `username`. Raises what `claim_username` and `register_user`
    raise (422 for bad input, 409 for a taken name or e-mail); nothing is created on error."""
    check_username(username)
    async with platform.db.session() as session:
        taken = await session.scalar(
            select(Account.user_id).where(Account.username_key == username.lower())
        )
        if taken is not None:
            raise UsernameTaken(f"{username} is taken.")
        user = await register_user(session, email, password, username, settings=platform.settings)
        return await claim_username(session, user.id, username)


async def login(
    platform: Platform, name: str, password: str, client_ip: str | None
) -> tuple[Account | None, TokenPair]:
    """Log in by username (or e-mail) and password: the account and a token pair.

    Raises InvalidCredentials (401) or TooManyRequests (429) as the platform's login does; an
    unknown username costs the same as a wrong password.
    """
    async with platform.db.session() as session:
        row = (
            await session.execute(
                select(Account, User.email)
                .join(User, User.id == Account.user_id)
                .where(Account.username_key == name.strip().lower())
            )
        ).one_or_none()
        email = row[1] if row is not None else name
        tokens = await authenticate(
            session,
            platform.settings,
            email,
            password,
            limiter=platform.rate_limiter,
            client_ip=client_ip,
        )
        return (row[0] if row is not None else None), tokens


async def account_of(session: AsyncSession, user_id: int) -> Account:
    """The caller's account; raises NoAccount (403) when they have no username yet."""
    account = await session.get(Account, user_id)
    if account is None:
        raise NoAccount("Claim a username with POST /api/hacker-news/account first.")
    return account


async def account_named(session: AsyncSession, username: str) -> Account | None:
    """The account whose username is exactly `username` (the HN API's ids are case-sensitive)."""
    return await session.scalar(select(Account).where(Account.username == username))
