"""Demo data for Viber: the sticker packs (drawn with Pillow) and a public account with a post.

Idempotent: the demo account is registered once, packs that exist are skipped, the public
account is created once and posts its welcome once (a fixed client id).
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from casebook.engines.messaging import service
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.viber import public_accounts, stickers
from casebook.systems.viber.models import ViberPublicAccount

SLUG = "viber"
DEMO_EMAIL = "viber-demo@example.com"
DEMO_HANDLE = "casebook_news"


async def demo_user_id(platform: Platform) -> int:
    """The demo account (owner of the demo packs' images and of the demo public account)."""
    async with platform.db.session() as session:
        user_id = await session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
        if user_id is not None:
            return user_id
        user = await register_user(
            session,
            DEMO_EMAIL,
            secrets.token_urlsafe(24),
            "Casebook Viber",
            settings=platform.settings,
        )
        return user.id


async def load_demo(platform: Platform) -> None:
    """`System.demo`: sticker packs and the @casebook_news public account."""
    owner = await demo_user_id(platform)
    await stickers.install_demo_packs(platform, SLUG, owner)
    async with platform.db.session(write=True) as session:
        account = await session.scalar(
            select(ViberPublicAccount).where(ViberPublicAccount.handle == DEMO_HANDLE)
        )
        events: list[service.Event] = []
        if account is None:
            account, events = await public_accounts.create_account(
                session,
                SLUG,
                owner,
                handle=DEMO_HANDLE,
                name="Casebook News",
                category="news",
                about="What is new in the Casebook case studies.",
                config=messenger(platform, SLUG).config,
            )
    await service.publish_all(platform.bus, SLUG, events)
    await messenger(platform, SLUG).writer.send(
        SendRequest(
            conversation_id=account.channel_id,
            sender_id=owner,
            client_id="demo-welcome",
            kind="text",
            body="Welcome to Casebook News: follow us for updates on every case study.",
        )
    )
