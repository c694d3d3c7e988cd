"""Demo data for the embedded server: a wallet with money, a shop with a payment code, a bill.

Sign in at /login as `demo@example.com` with password `casebook-demo` (the shared demo account;
Alipay adds its profile `demo`). Also created: the shop `Lucky Noodles` (sign in as
`noodles@example.com`) showing a fresh payment code, and the biller `City Power` with a bill to
the demo user. Loading runs once: it does nothing when the demo user already has a profile.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.alipay import banking, bills, fund, payments, transfers, users
from casebook.systems.alipay.runtime import alipay

DEMO_PASSWORD = "casebook-demo"
DEMO_USERS = (
    ("demo@example.com", "Demo user", "demo", "+8613800000000"),
    ("noodles@example.com", "Lucky Noodles", "lucky_noodles", "+8613800000001"),
    ("power@example.com", "City Power", "city_power", "+8613800000002"),
)


async def _user_id(platform: Platform, email: str, name: str) -> int:
    async with platform.db.session() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        if user_id is not None:
            return int(user_id)
        user = await register_user(session, email, DEMO_PASSWORD, name, settings=platform.settings)
        return user.id


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the accounts above and a little history."""
    state = alipay(platform)
    ids = [await _user_id(platform, email, name) for email, name, _, _ in DEMO_USERS]
    async with platform.db.session() as session:
        if await users.profile_of(session, ids[0]) is not None:
            return
        for user_id, (_, _, username, phone) in zip(ids, DEMO_USERS, strict=True):
            if await users.profile_of(session, user_id) is None:
                await users.create_profile(session, user_id, username, phone)
    demo, noodles, power = ids
    link = await banking.open_and_link(platform.db, state.bank, demo, "Demo user", 500_000)
    await banking.top_up(platform.db, state.bank, demo, link.id, 200_000)
    async with platform.db.session(write=True) as session:
        shop = await payments.create_merchant(session, noodles, "Lucky Noodles", "shop")
        biller = await payments.create_merchant(session, power, "City Power", "utility")
        await fund.subscribe(session, demo, 100_000)
        await transfers.send(session, demo, "lucky_noodles", 1_800, "lunch money")
        today = utcnow().date()
        await bills.issue(session, biller, "demo", 23_456, today + timedelta(days=7), "Electricity")
        await bills.issue(session, biller, "demo", 8_900, today - timedelta(days=2), "Water")
        await payments.issue_qr(session, state.qr_key, shop, 2_800, state.config.qr_max_ttl_seconds)
