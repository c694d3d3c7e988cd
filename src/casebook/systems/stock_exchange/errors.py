"""The Stock Exchange's own problems (RFC 9457 types under `/problems/stock-exchange/…`)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, Forbidden, NotFound


class KycRequired(Forbidden):
    type_ = "stock-exchange/kyc-required"
    title = "KYC verification required"


class AccountFrozen(Forbidden):
    type_ = "stock-exchange/account-frozen"
    title = "The account is frozen by an AML review"


class StaffOnly(Forbidden):
    type_ = "stock-exchange/staff-only"
    title = "Only exchange staff may do this"


class NotAMember(Forbidden):
    type_ = "stock-exchange/not-a-member"
    title = "The user trades for no member of the exchange"


class AlreadyDecided(Conflict):
    type_ = "stock-exchange/already-decided"
    title = "Already decided"


class MemberNameTaken(Conflict):
    type_ = "stock-exchange/member-name-taken"
    title = "A member with that name exists"


class AlreadyAMember(Conflict):
    type_ = "stock-exchange/already-a-member"
    title = "The user already trades for a member"


class AccountNotFound(NotFound):
    type_ = "stock-exchange/account-not-found"
    title = "No such trading account"
