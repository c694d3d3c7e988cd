"""BotFather: users create, list and revoke bots; the Bot API authenticates a bot by its token.

A token is `<bot id>:<secret>` like Telegram's. The bot id is the id of a platform user created
for the bot (no password can log it in: its hash is not an argon2 hash), so the messaging
engine sees a bot as a user and a bot can be a member of any conversation. Only the SHA-256 of
the secret is stored; authenticating a token is one primary-key read plus a constant-time
comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.models import User
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.telegram.models import TelegramBot

USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]$")
"""Telegram's rule: 5-32 characters of latin letters, digits and underscores, ending in "bot"."""
TOKEN = re.compile(r"^([1-9][0-9]{0,18}):([A-Za-z0-9_-]{20,64})$")
MAX_BOTS_PER_USER = 20
UNUSABLE_PASSWORD = "!telegram-bot"
"""Stored as the bot user's password hash: no password verifies against it."""


class BotNotFound(NotFound):
    type_ = "telegram/bot-not-found"
    title = "Bot not found"


class UsernameTaken(Conflict):
    type_ = "telegram/username-taken"
    title = "This bot username is taken"


class TooManyBots(Conflict):
    type_ = "telegram/too-many-bots"
    title = "Too many bots"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _insert(session: AsyncSession) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return sqlite.Insert if session.get_bind().dialect.name == "sqlite" else postgresql.Insert


async def create_bot(
    session: AsyncSession, owner_id: int, *, name: str, username: str
) -> tuple[TelegramBot, str]:
    """Create a bot for `owner_id`; returns the bot and its token (shown once).

    Raises InvalidInput (bad name or username), UsernameTaken (409, decided by the unique
    index, so two racing creations cannot both win), TooManyBots (409).
    """
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise InvalidInput("A bot's name has 1 to 64 characters.")
    if not USERNAME.match(username):
        raise InvalidInput(
            "A bot's username has 5 to 32 latin letters, digits or underscores and ends in 'bot'."
        )
    owned = await session.scalar(
        select(func.count()).select_from(TelegramBot).where(TelegramBot.owner_id == owner_id)
    )
    if (owned or 0) >= MAX_BOTS_PER_USER:
        raise TooManyBots(f"A user has at most {MAX_BOTS_PER_USER} bots.")
    lowered = username.lower()
    bot_id = new_id()
    taken = await session.scalar(select(TelegramBot.id).where(TelegramBot.username == lowered))
    if taken is not None:
        raise UsernameTaken(f"@{username} is taken.")
    session.add(
        User(
            id=bot_id,
            email=f"bot-{bot_id}@bots.telegram.invalid",
            display_name=name,
            password_hash=UNUSABLE_PASSWORD,
        )
    )
    await session.flush()
    secret = secrets.token_urlsafe(27)
    inserted = await session.scalar(
        _insert(session)(TelegramBot)
        .values(
            id=bot_id,
            owner_id=owner_id,
            username=lowered,
            name=name,
            secret_hash=_hash(secret),
            created_at=utcnow(),
            last_update_id=0,
            webhook_failures=0,
        )
        .on_conflict_do_nothing(index_elements=["username"])
        .returning(TelegramBot.id)
    )
    if inserted is None:
        raise UsernameTaken(f"@{username} is taken.")
    bot = await session.get(TelegramBot, bot_id)
    assert bot is not None
    return bot, f"{bot_id}:{secret}"


async def list_bots(session: AsyncSession, owner_id: int) -> Sequence[TelegramBot]:
    """The owner's bots (revoked ones too), oldest first."""
    rows = await session.scalars(
        select(TelegramBot).where(TelegramBot.owner_id == owner_id).order_by(TelegramBot.id)
    )
    return rows.all()


async def owned_bot(session: AsyncSession, owner_id: int, bot_id: int) -> TelegramBot:
    """The owner's bot `bot_id`; BotNotFound for anyone else's (ids reveal nothing)."""
    bot = await session.get(TelegramBot, bot_id)
    if bot is None or bot.owner_id != owner_id:
        raise BotNotFound(f"No bot {bot_id} among yours.")
    return bot


async def revoke_bot(session: AsyncSession, owner_id: int, bot_id: int) -> TelegramBot:
    """Revoke the bot's token: every Bot API call with it answers 401 from now on. Pending
    updates and the webhook are dropped. Idempotent."""
    bot = await owned_bot(session, owner_id, bot_id)
    if bot.revoked_at is None:
        bot.revoked_at = utcnow()
        bot.webhook_url = None
        bot.webhook_secret = None
    return bot


async def bot_for_token(session: AsyncSession, token: str) -> TelegramBot | None:
    """The live bot whose token is `token`, or None (malformed, unknown, wrong secret, revoked).
    O(1): one primary-key read; the secret is compared in constant time."""
    match = TOKEN.match(token)
    if match is None:
        return None
    bot = await session.get(TelegramBot, int(match.group(1)))
    if bot is None or bot.revoked_at is not None:
        return None
    if not hmac.compare_digest(bot.secret_hash, _hash(match.group(2))):
        return None
    return bot
