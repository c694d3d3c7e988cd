"""Members of the exchange and their traders, and the trading accounts they hold.

An exchange deals with MEMBERS (broker firms), not with the public: a member's users are its
traders, and every trading account belongs to one member and one trader — the account's beneficial
owner, which surveillance uses to see two accounts of one trader as one party. A user who signs up
through the seed's `/register` becomes a self-directed `individual` member of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.errors import Forbidden, NotFound
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange.errors import (
    AccountNotFound,
    AlreadyAMember,
    MemberNameTaken,
    NotAMember,
)
from casebook.systems.stock_exchange.models import ExchangeAccount, Member, Trader

MemberKind = Literal["firm", "individual"]


def venue_owner(member_id: int, user_id: int, label: str) -> str:
    """The venue account's `owner` key for a trader's account (unique per venue)."""
    return f"member:{member_id}:trader:{user_id}:{label}"


async def create_member(
    session: AsyncSession, name: str, kind: MemberKind, admin_user_id: int
) -> Member:
    """A new member with `admin_user_id` as its first trader (role admin).

    Raises MemberNameTaken (409) and AlreadyAMember (409: the user trades for a member)."""
    if await session.get(Trader, admin_user_id) is not None:
        raise AlreadyAMember("You already trade for a member of the exchange.")
    if await session.scalar(select(Member.id).where(Member.name == name)) is not None:
        raise MemberNameTaken(f"A member named {name!r} exists.")
    member = Member(id=new_id(), name=name, kind=kind)
    session.add(member)
    try:
        await session.flush()
    except IntegrityError:
        raise MemberNameTaken(f"A member named {name!r} exists.") from None
    session.add(Trader(user_id=admin_user_id, member_id=member.id, role="admin"))
    await session.flush()
    return member


async def add_trader(
    session: AsyncSession, member_id: int, admin_user_id: int, user_id: int
) -> Trader:
    """Add `user_id` as a trader of the member; only the member's admin may.

    Raises Forbidden (not the member's admin), AlreadyAMember (409)."""
    admin = await session.get(Trader, admin_user_id)
    if admin is None or admin.member_id != member_id or admin.role != "admin":
        raise Forbidden("Only the member's admin adds traders.")
    if await session.get(Trader, user_id) is not None:
        raise AlreadyAMember("That user already trades for a member.")
    trader = Trader(user_id=user_id, member_id=member_id, role="trader")
    session.add(trader)
    await session.flush()
    return trader


async def trader_of(session: AsyncSession, user_id: int) -> Trader:
    """The user's membership; raises NotAMember (403)."""
    trader = await session.get(Trader, user_id)
    if trader is None:
        raise NotAMember("Join a member of the exchange first (POST /members or /register).")
    return trader


async def member(session: AsyncSession, member_id: int) -> Member:
    found = await session.get(Member, member_id)
    if found is None:
        raise NotFound("No such member.")
    return found


async def attach_account(
    session: AsyncSession, account_id: int, member_id: int, user_id: int, label: str
) -> ExchangeAccount:
    """Record the venue account `account_id` as the trader's account `label` (idempotent)."""
    existing = await session.get(ExchangeAccount, account_id)
    if existing is not None:
        return existing
    account = ExchangeAccount(
        account_id=account_id, member_id=member_id, user_id=user_id, label=label
    )
    session.add(account)
    await session.flush()
    return account


async def accounts_of(session: AsyncSession, user_id: int) -> list[ExchangeAccount]:
    stmt = (
        select(ExchangeAccount)
        .where(ExchangeAccount.user_id == user_id)
        .order_by(ExchangeAccount.created_at, ExchangeAccount.account_id)
    )
    return list((await session.scalars(stmt)).all())


async def account_of(session: AsyncSession, user_id: int, label: str) -> ExchangeAccount:
    """The user's account `label`; raises AccountNotFound (404) — also for another's account."""
    account = await session.scalar(
        select(ExchangeAccount).where(
            ExchangeAccount.user_id == user_id, ExchangeAccount.label == label
        )
    )
    if account is None:
        raise AccountNotFound(f"You have no trading account {label!r}.")
    return account


async def owners(session: AsyncSession, account_ids: Iterable[int]) -> dict[int, int]:
    """account id → beneficial owner (the trader's user id), for the accounts that are ours."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(ExchangeAccount.account_id, ExchangeAccount.user_id).where(
            ExchangeAccount.account_id.in_(ids)
        )
    )
    return {account_id: user_id for account_id, user_id in rows}
