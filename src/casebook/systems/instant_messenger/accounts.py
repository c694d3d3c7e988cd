"""Username accounts: the seed's `POST /users/register {username, password}` and
`POST /users/login`, delegated to the platform's identity (ARCHITECTURE §4).

The username is the messaging engine's profile handle for Instant Messenger (unique per system,
5-32 lower-case letters, digits and underscores, a letter first: `contacts.HANDLE`). The platform
account needs an e-mail address to log in with; a username account gets a reserved address
derived from the username, `<username>.instant-messenger@username.casebook.example`, the way
`engines/messaging/phone.py` derives one from a phone number. `.example` is reserved by RFC 2606:
the address can never reach a mailbox, so nothing is ever mailed to it and it is never shown;
the user logs in with the username. The address's unique index is also what settles two racing
sign-ups of one username: exactly one INSERT wins, the other is told the name is taken.

Log-in finds the account through the profile's current handle (one index probe), so a user who
renames themselves (`PATCH /profile`) logs in with the new name and no longer with the old one.
Their original address stays reserved, so an old username is not given to someone else (it
answers "taken").
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import contacts
from casebook.engines.messaging.models import MessagingProfile
from casebook.platform.auth import passwords
from casebook.platform.auth import service as auth
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.errors import Conflict, InvalidInput

LOGIN_DOMAIN = "username.casebook.example"


class UsernameTaken(Conflict):
    type_ = "instant-messenger/username-taken"
    title = "That username is taken"


class InvalidUsername(InvalidInput):
    type_ = "instant-messenger/invalid-username"
    title = "That is not a valid username"


def normalize_username(username: str) -> str:
    """The lower-cased username if it follows the handle rule; raises InvalidUsername."""
    name = username.strip().lower()
    if not contacts.HANDLE.fullmatch(name):
        raise InvalidUsername(
            "A username is 5-32 letters, digits or underscores, starting with a letter.",
            field="username",
        )
    return name


def login_email(system: str, username: str) -> str:
    """The reserved platform login address of a username account (never mailed, never shown)."""
    return f"{username}.{system}@{LOGIN_DOMAIN}"


async def register(
    platform: Platform,
    session: AsyncSession,
    system: str,
    username: str,
    password: str,
    display_name: str | None = None,
) -> tuple[User, MessagingProfile]:
    """Create a platform account and its profile with `username` as handle.

    Raises InvalidUsername / the platform's InvalidPassword / InvalidName (422) or UsernameTaken
    (409). Everything happens in the caller's transaction, so a refused registration leaves
    nothing behind. Cost: one argon2 hash and a few index probes.
    """
    name = normalize_username(username)
    email = login_email(system, name)
    passwords.check_password(password, email)
    taken = await session.scalar(
        select(MessagingProfile.user_id).where(
            MessagingProfile.system == system, MessagingProfile.handle == name
        )
    )
    if taken is not None:
        raise UsernameTaken(f"@{name} is taken; choose another username.")
    try:
        user = await auth.register_user(
            session, email, password, display_name or name, settings=platform.settings
        )
    except auth.EmailTaken:
        raise UsernameTaken(f"@{name} is taken; choose another username.") from None
    try:
        profile = await contacts.update_profile(session, system, user.id, handle=name)
    except contacts.HandleTaken:
        raise UsernameTaken(f"@{name} is taken; choose another username.") from None
    return user, profile


async def login(
    platform: Platform,
    session: AsyncSession,
    system: str,
    username: str,
    password: str,
    address: str | None,
) -> tuple[int, auth.TokenPair]:
    """Log in with username and password: (user id, tokens). An unknown username costs the
    same argon2 verification as a wrong password and raises the same InvalidCredentials (401),
    so the answer does not tell which usernames exist; attempts count against the platform's
    per-address and per-client limits (429)."""
    name = username.strip().lower()
    row = (
        await session.execute(
            select(User.id, User.email)
            .join(MessagingProfile, MessagingProfile.user_id == User.id)
            .where(MessagingProfile.system == system, MessagingProfile.handle == name)
        )
    ).one_or_none()
    # No such username: log in against an address no account can have (`.invalid`, RFC 2606),
    # never the derived one, which a renamed user's account still holds.
    email = row.email if row is not None else f"{name}@unknown-username.invalid"
    pair = await auth.authenticate(
        session,
        platform.settings,
        email,
        password,
        limiter=platform.rate_limiter,
        client_ip=address,
    )
    assert row is not None  # the password matched, so the username has an account
    return int(row.id), pair
