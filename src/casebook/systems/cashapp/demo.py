"""Demo data: the demo account as `$demo` with some cash, a friend and a coffee shop to pay, one
payment made and one request waiting.

Sign in at /login as `demo@example.com` / `casebook-demo` and open /cashapp/. Loading is
idempotent: it does nothing once `$demo` exists. No card is issued, because its number would be
shown to nobody: issue one from the page and charge it at the merchant terminal there.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.cashapp import payments, profiles, wallet
from casebook.systems.cashapp.models import Profile

DEMO_PASSWORD = "casebook-demo"
PEOPLE = (
    ("demo@example.com", "Demo user", "$demo", False),
    ("casey@example.com", "Casey", "$casey", False),
    ("coffee@example.com", "Corner Coffee", "$CornerCoffee", True),
)


async def _user_id(session: AsyncSession, platform: Platform, email: str, name: str) -> int:
    user_id = await session.scalar(select(User.id).where(User.email == email))
    if user_id is not None:
        return user_id
    user = await register_user(session, email, DEMO_PASSWORD, name, settings=platform.settings)
    return user.id


async def load_demo(platform: Platform) -> None:
    """`System.demo`: three profiles, cash, a payment and a waiting request."""
    async with platform.db.session(write=True) as session:
        if await session.scalar(select(Profile).where(Profile.cashtag_key == "demo")):
            return
        ids = []
        for email, name, cashtag, business in PEOPLE:
            user_id = await _user_id(session, platform, email, name)
            await profiles.save_profile(session, user_id, cashtag, is_business=business)
            ids.append(user_id)
        demo, casey, _ = ids
        await wallet.add_cash(session, demo, 25_000)
        await wallet.add_cash(session, casey, 8_000)
        await payments.send(session, demo, "$CornerCoffee", 475, "flat white and a croissant")
        await payments.send(session, casey, "$demo", 1_800, "concert tickets")
        await payments.request(session, casey, "$demo", 2_250, "dinner on Friday")
