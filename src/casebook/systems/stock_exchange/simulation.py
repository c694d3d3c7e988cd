"""Accounts of the market simulator's bots at the Stock Exchange (`casebook simulate trading`).

The exchange trades only for verified traders of its members (`kyc.can_trade`), so a bot gets
what any trader has: a user (`sim-<bot>@simulator.example.com`), a seat as trader of the member
firm "Casebook Market Simulator", a KYC record verified by the simulator's compliance desk (an
audit event like any other), and its trading account `main`. Each bot is its own beneficial
owner, so surveillance sees their trades with each other as ordinary trades, not wash trades.
Idempotent: a bot that exists is found again.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.venue import Venue
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.stock_exchange import kyc, members, staff, trading
from casebook.systems.stock_exchange.models import Member, Trader

FIRM = "Casebook Market Simulator"
DOMAIN = "simulator.example.com"
DESK = ("sim-desk", "Simulator compliance desk")


async def _user(session: AsyncSession, platform: Platform, local: str, name: str) -> int:
    email = f"{local}@{DOMAIN}"
    found = await session.scalar(select(User.id).where(User.email == email))
    if found is not None:
        return int(found)
    user = await register_user(
        session, email, secrets.token_urlsafe(24), name, settings=platform.settings
    )
    return user.id


async def open_bot_account(venue: Venue, name: str) -> int:
    """The simulator's `AccountOpener` for the Stock Exchange: the venue account of bot `name`
    (e.g. "AAPL:maker:0"), a verified trader of the simulator firm. One write transaction."""
    local = "sim-" + name.lower().replace(":", "-")
    platform = venue.platform
    async with platform.db.session(write=True) as session:
        desk = await _user(session, platform, *DESK)
        await staff.grant(session, desk)
        user_id = await _user(session, platform, local, f"Simulator {name}")
        if await session.get(Trader, user_id) is None:
            firm = await session.scalar(select(Member.id).where(Member.name == FIRM))
            if firm is None:
                await members.create_member(session, FIRM, "firm", user_id)
            else:
                admin = await session.scalar(
                    select(Trader.user_id).where(Trader.member_id == firm, Trader.role == "admin")
                )
                assert admin is not None
                await members.add_trader(session, firm, admin, user_id)
        record = await kyc.record_of(session, user_id)
        if record is None or record.status != "verified":
            await kyc.submit(session, user_id, f"Simulator {name}", "US", f"SIM-{user_id}")
            await kyc.decide(session, user_id, desk, "verified", "market simulator bot")
        account = await trading.open_trading_account(venue, session, user_id, "main")
        return account.account_id
