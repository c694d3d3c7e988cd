"""KYC records and their audit trail, the trading gate, AML flags and the review queue, staff —
against the database of both backends."""

from __future__ import annotations

import pytest

from casebook.platform.context import Platform
from casebook.platform.errors import Forbidden, NotFound
from casebook.systems.stock_exchange import aml, kyc, members, staff
from casebook.systems.stock_exchange.errors import (
    AccountFrozen,
    AlreadyAMember,
    AlreadyDecided,
    KycRequired,
    MemberNameTaken,
)
from tests.systems.stock_exchange.conftest import NewUserId

RULES = aml.AmlRules()


async def trader_with_account(platform: Platform, new_user_id: NewUserId, account_id: int) -> int:
    user_id = await new_user_id()
    async with platform.db.session() as session:
        member = await members.create_member(session, f"Self {user_id}", "individual", user_id)
        await members.attach_account(session, account_id, member.id, user_id, "main")
    return user_id


@pytest.mark.feature("stock-exchange", "kyc-aml")
async def test_kyc_gate_refuses_until_an_officer_verifies(
    platform: Platform, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    user = await trader_with_account(platform, new_user_id, 501)
    async with platform.db.session() as session:
        with pytest.raises(KycRequired, match="not been submitted"):
            await kyc.can_trade(session, 501)
        with pytest.raises(KycRequired, match="not registered"):
            await kyc.can_trade(session, 999)  # not one of ours
        await kyc.submit(session, user, "Ada Lovelace", "GB", "P1234567")
    async with platform.db.session() as session:
        with pytest.raises(KycRequired, match="is pending"):
            await kyc.can_trade(session, 501)
        with pytest.raises(Forbidden):
            await kyc.decide(session, user, user, "verified", "self")  # four eyes
        await kyc.decide(session, user, officer, "verified", "passport checked")
    async with platform.db.session() as session:
        await kyc.can_trade(session, 501)
        with pytest.raises(AlreadyDecided):
            await kyc.decide(session, user, officer, "rejected", "again")
        with pytest.raises(AlreadyDecided):
            await kyc.submit(session, user, "Ada", "GB", "X")
        trail = await kyc.audit_trail(session, user)
    assert [(e.action, e.actor_id) for e in trail] == [("submitted", user), ("verified", officer)]
    assert trail[1].note == "passport checked"


@pytest.mark.feature("stock-exchange", "kyc-aml")
async def test_a_rejected_user_may_resubmit_and_is_pending_again(
    platform: Platform, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    user = await trader_with_account(platform, new_user_id, 502)
    async with platform.db.session() as session:
        await kyc.submit(session, user, "Bob", "US", "D1")
        await kyc.decide(session, user, officer, "rejected", "blurry scan")
    async with platform.db.session() as session:
        with pytest.raises(KycRequired, match="is rejected"):
            await kyc.can_trade(session, 502)
        record = await kyc.submit(session, user, "Bob Smith", "US", "D2")
        assert (record.status, record.decided_by) == ("pending", None)
        assert [r.user_id for r in await kyc.pending(session)] == [user]
        with pytest.raises(NotFound):
            await kyc.decide(session, officer, user, "verified", "")  # the officer has no record
        actions = [e.action for e in await kyc.audit_trail(session, user)]
    assert actions == ["submitted", "rejected", "submitted"]


@pytest.mark.feature("stock-exchange", "kyc-aml")
async def test_structuring_deposits_are_queued_and_a_freeze_stops_trading(
    platform: Platform, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    user = await trader_with_account(platform, new_user_id, 503)
    async with platform.db.session() as session:
        await kyc.submit(session, user, "Carol", "US", "D3")
        await kyc.decide(session, user, officer, "verified", "")
    flags_per_deposit = []
    for transfer_id, amount in ((9001, 950_000), (9002, 50_000), (9003, 990_000), (9004, 900_000)):
        async with platform.db.session() as session:
            flags = await aml.record_movement(
                session, RULES, transfer_id, 503, "deposit", "USD", amount
            )
            flags_per_deposit.append([f.rule for f in flags])
    assert flags_per_deposit == [[], [], [], ["structuring"]]
    async with platform.db.session() as session:
        big = await aml.record_movement(session, RULES, 9005, 503, "withdrawal", "USD", 2_000_000)
    assert [f.rule for f in big] == ["large-transfer"]
    async with platform.db.session() as session:
        queue = await aml.review_queue(session)
        assert [(f.transfer_id, f.rule) for f in queue] == [
            (9004, "structuring"),
            (9005, "large-transfer"),
        ]
        await aml.review(session, queue[1].id, officer, "clear", "salary of a known client")
        await kyc.can_trade(session, 503)
        await aml.review(session, queue[0].id, officer, "freeze", "classic structuring")
    async with platform.db.session() as session:
        assert await aml.review_queue(session) == []
        assert [f.transfer_id for f in await aml.review_queue(session, status="frozen")] == [9004]
        with pytest.raises(AccountFrozen):
            await kyc.can_trade(session, 503)
        with pytest.raises(AlreadyDecided):
            await aml.review(session, queue[0].id, officer, "clear", "")


async def test_staff_is_a_granted_role(platform: Platform, new_user_id: NewUserId) -> None:
    user, other = await new_user_id(), await new_user_id()
    async with platform.db.session() as session:
        assert not await staff.is_staff(session, user)
        first = await staff.grant(session, user)
        again = await staff.grant(session, user, granted_by=other)
        assert (first.granted_by, again.granted_by) == (None, None)
        assert await staff.is_staff(session, user)
        assert not await staff.is_staff(session, other)
        with pytest.raises(ValueError):
            await staff.grant(session, other, role="janitor")


async def test_members_own_traders_and_accounts(platform: Platform, new_user_id: NewUserId) -> None:
    admin, trader, outsider = await new_user_id(), await new_user_id(), await new_user_id()
    async with platform.db.session() as session:
        firm = await members.create_member(session, "Acme Securities", "firm", admin)
        with pytest.raises(MemberNameTaken):
            await members.create_member(session, "Acme Securities", "firm", outsider)
        with pytest.raises(AlreadyAMember):
            await members.create_member(session, "Other", "firm", admin)
        with pytest.raises(Forbidden):
            await members.add_trader(session, firm.id, outsider, trader)  # not the admin
        await members.add_trader(session, firm.id, admin, trader)
        with pytest.raises(AlreadyAMember):
            await members.add_trader(session, firm.id, admin, trader)
        await members.attach_account(session, 601, firm.id, trader, "main")
        await members.attach_account(session, 602, firm.id, trader, "hedge")
        assert (await members.trader_of(session, trader)).member_id == firm.id
        assert [a.label for a in await members.accounts_of(session, trader)] == ["main", "hedge"]
        assert await members.owners(session, [601, 602, 603]) == {601: trader, 602: trader}
        with pytest.raises(NotFound):
            await members.account_of(session, outsider, "main")
