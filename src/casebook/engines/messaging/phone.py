"""Phone-number accounts: SMS verification codes, sign-up and log-in by phone number.

Viber and Telegram identify people by phone number. The flow:

1. `POST /auth/phone/code {phone}`: a 6-digit code goes to the phone by SMS (platform.sms, the
   simulated carrier). At most one code a number every 30 s and 5 an hour, and 20 an hour per
   client address; a new code replaces the old. It lives 5 minutes.
2. `POST /auth/phone/register {phone, code, password, display_name}`: a new account whose login
   is the number, or `PUT /profile/phone {phone, code}` to add a number to an existing account.
3. `POST /auth/phone/login {phone, password}`: the seed's `POST /authenticate`.

Codes are compared as HMAC-SHA256 digests under the install's signing key in constant time. Each
try is counted in its own committed transaction (so a failed request cannot roll the count
back); the fifth wrong try burns the code. A phone-registered account's platform login name is
a reserved address derived from the number (`<digits>.<system>@phone.casebook.example`), never
shown or mailed; the user logs in with the number.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import contacts
from casebook.engines.messaging.models import MessagingPhoneCode, MessagingProfile
from casebook.platform.auth import passwords
from casebook.platform.auth import service as auth
from casebook.platform.auth.deps import CurrentPrincipal, client_ip
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.ratelimit import RateLimit, enforce_all
from casebook.platform.sms import check_number

CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
PER_NUMBER_BURST = RateLimit(rate=1 / 30, burst=1)
PER_NUMBER_HOURLY = RateLimit(rate=5 / 3600, burst=5)
PER_ADDRESS_HOURLY = RateLimit(rate=20 / 3600, burst=20)
LOGIN_DOMAIN = "phone.casebook.example"


class WrongCode(InvalidInput):
    type_ = "messaging/wrong-code"
    title = "The verification code is wrong or expired"


class SmsNotDelivered(Problem):
    status = 422
    type_ = "messaging/sms-not-delivered"
    title = "The code could not be delivered"


def login_email(system: str, phone: str) -> str:
    return f"{phone.lstrip('+')}.{system}@{LOGIN_DOMAIN}"


def _digest(secret: str, system: str, phone: str, code: str) -> str:
    message = f"{system}\x00{phone}\x00{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _insert(session: AsyncSession) -> object:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(MessagingPhoneCode)


async def send_code(platform: Platform, system: str, phone: str, address: str | None) -> None:
    """Text a fresh code to `phone`, replacing any earlier one. Raises InvalidPhoneNumber (422),
    TooManyRequests (429) or SmsNotDelivered (422, nothing kept)."""
    check_number(phone)
    await enforce_all(
        platform,
        [
            (f"{system}:phone-code:{phone}", PER_NUMBER_BURST),
            (f"{system}:phone-code-hour:{phone}", PER_NUMBER_HOURLY),
            (f"{system}:phone-code-ip:{address or 'unknown'}", PER_ADDRESS_HOURLY),
        ],
    )
    code = f"{secrets.randbelow(10**6):06d}"
    receipt = await platform.sms.send(
        phone, f"Your {system} code: {code}. Do not share it with anyone.", sender=system[:11]
    )
    if receipt.status != "delivered":
        raise SmsNotDelivered("The carrier could not deliver the code; check the number.")
    now = utcnow()
    values = {
        "code_hash": _digest(platform.settings.signing_key, system, phone, code),
        "attempts": 0,
        "expires_at": now + CODE_TTL,
        "created_at": now,
    }
    async with platform.db.session() as session:
        insert = _insert(session)
        await session.execute(
            insert.values(system=system, phone=phone, **values).on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["system", "phone"], set_=values
            )
        )


async def check_code(platform: Platform, system: str, phone: str, code: str) -> None:
    """Use up `phone`'s code if `code` is it; raises WrongCode. Each try is committed before
    this answers, so five wrong guesses burn the code whatever the caller does next."""
    async with platform.db.session() as session:
        counted = await session.execute(
            update(MessagingPhoneCode)
            .where(
                MessagingPhoneCode.system == system,
                MessagingPhoneCode.phone == phone,
                MessagingPhoneCode.attempts < MAX_ATTEMPTS,
                MessagingPhoneCode.expires_at > utcnow(),
            )
            .values(attempts=MessagingPhoneCode.attempts + 1)
            .returning(MessagingPhoneCode.code_hash)
        )
        stored = counted.scalar_one_or_none()
        expected = _digest(platform.settings.signing_key, system, phone, code)
        if stored is not None and hmac.compare_digest(stored, expected):
            await session.execute(
                delete(MessagingPhoneCode).where(
                    MessagingPhoneCode.system == system, MessagingPhoneCode.phone == phone
                )
            )
            return
    raise WrongCode("That code is wrong or has expired; request a new one if it keeps failing.")


async def register_by_phone(
    platform: Platform,
    session: AsyncSession,
    system: str,
    phone: str,
    code: str,
    password: str,
    display_name: str,
    address: str | None,
) -> auth.TokenPair:
    """Create an account for a verified number and log it in. Raises WrongCode, PhoneTaken
    (409: log in instead) and the platform's password/name rules (422).

    `session` must not have begun writing: the code is checked in a transaction of its own
    (committed whatever happens next), which on SQLite waits for the single writer."""
    check_number(phone)
    if await contacts.user_by_phone(session, system, phone) is not None:
        raise contacts.PhoneTaken("This number already has an account; log in instead.")
    # A weak password or a bad name is refused before the code is used up.
    passwords.check_password(password, login_email(system, phone))
    auth.clean_name(display_name, "display name")
    await check_code(platform, system, phone, code)
    user = await auth.register_user(
        session, login_email(system, phone), password, display_name, settings=platform.settings
    )
    await contacts.set_verified_phone(session, system, user.id, phone)
    return await auth.authenticate(
        session,
        platform.settings,
        login_email(system, phone),
        password,
        limiter=platform.rate_limiter,
        client_ip=address,
    )


async def login_by_phone(
    platform: Platform,
    session: AsyncSession,
    system: str,
    phone: str,
    password: str,
    address: str | None,
) -> auth.TokenPair:
    """Log in with number and password. An unknown number costs the same as a wrong password
    and gets the same answer (InvalidCredentials), like e-mail log-in."""
    email = await session.scalar(
        select(User.email)
        .join(MessagingProfile, MessagingProfile.user_id == User.id)
        .where(MessagingProfile.system == system, MessagingProfile.phone == phone)
    )
    return await auth.authenticate(
        session,
        platform.settings,
        email or login_email(system, phone),
        password,
        limiter=platform.rate_limiter,
        client_ip=address,
    )


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=16)


class PhoneRegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=16)
    code: str = Field(pattern=r"^[0-9]{6}$")
    password: str = Field(max_length=1024)
    display_name: str = Field(min_length=1, max_length=100)


class PhoneLoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=16)
    password: str = Field(max_length=1024)


class PhoneVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=16)
    code: str = Field(pattern=r"^[0-9]{6}$")


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


PlatformDep = Annotated[Platform, Depends(get_platform)]


def router(system: str) -> APIRouter:
    api = APIRouter(tags=[system])

    @api.post("/auth/phone/code", status_code=202)
    async def request_code(body: CodeIn, request: Request, platform: PlatformDep) -> dict[str, str]:
        """Text a 6-digit verification code to the number (valid 5 minutes)."""
        await send_code(platform, system, body.phone, client_ip(request))
        return {"status": "sent", "expires_in": str(int(CODE_TTL.total_seconds()))}

    @api.post("/auth/phone/register", status_code=201)
    async def register(
        body: PhoneRegisterIn, request: Request, platform: PlatformDep, session: Session
    ) -> Tokens:
        """Sign up with a verified number and a password; answers tokens, like /api/auth/login."""
        pair = await register_by_phone(
            platform,
            session,
            system,
            body.phone,
            body.code,
            body.password,
            body.display_name,
            client_ip(request),
        )
        return Tokens(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )

    @api.post("/auth/phone/login")
    async def login(
        body: PhoneLoginIn, request: Request, platform: PlatformDep, session: WriteSession
    ) -> Tokens:
        """Log in with phone number and password."""
        pair = await login_by_phone(
            platform, session, system, body.phone, body.password, client_ip(request)
        )
        return Tokens(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )

    @api.put("/profile/phone")
    async def verify_phone(
        body: PhoneVerifyIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        session: Session,
    ) -> dict[str, str]:
        """Add (or change to) a number you prove with its code."""
        check_number(body.phone)
        await check_code(platform, system, body.phone, body.code)
        profile = await contacts.set_verified_phone(session, system, principal.user_id, body.phone)
        return {"phone": profile.phone or ""}

    return api
