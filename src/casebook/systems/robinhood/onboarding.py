"""Onboarding: the identity check (KYC) and the AML screen a customer passes before trading.

`apply(session, user_id, application, today)` screens the application synchronously and records
the outcome in `robinhood_customers`:

- identity: a legal name of two or more words, an adult (18+ on `today`), a country Robinhood
  serves (US), a tax id (SSN) of nine digits that the SSA could have issued (area not 000, 666
  or 900-999; group not 00; serial not 0000);
- AML: the name is screened against the sanctions list (`SANCTIONED`, a few entries in the
  shape of OFAC's SDN list), compared after normalising case, accents and punctuation and in
  any word order, so "MADURO moros, Nicolás" matches "Nicolas Maduro Moros".

A rejected applicant may apply again (a typo in a tax id); an approved one may not (409).
Only the tax id's last four digits are stored. `require_approved` is the trading gate.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.systems.robinhood.errors import (
    AlreadyOnboarded,
    OnboardingRejected,
    OnboardingRequired,
)
from casebook.systems.robinhood.models import Customer

SERVED_COUNTRIES = frozenset({"US"})
ADULT_AGE = 18
SANCTIONED = (
    "Nicolas Maduro Moros",
    "Kim Jong Un",
    "Ramzan Akhmadovich Kadyrov",
    "Joaquin Archivaldo Guzman Loera",
    "Viktor Anatolijevitch Bout",
)
"""Names screened against (a stand-in for the OFAC SDN list, which cannot be fetched here)."""
SSN = re.compile(r"^\d{9}$")


@dataclass(frozen=True)
class Application:
    legal_name: str
    birth_date: date
    country: str
    tax_id: str


def _name_key(name: str) -> tuple[str, ...]:
    """Words of a name, accent- and case-free, sorted: the key compared against the list."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return tuple(sorted(re.findall(r"[a-z]+", plain)))


_SANCTIONED_KEYS = frozenset(_name_key(name) for name in SANCTIONED)


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def screen(application: Application, today: date) -> str | None:
    """Why the application is refused, or None when it passes. Pure; O(len(name))."""
    if len(_name_key(application.legal_name)) < 2:
        return "The legal name needs a given name and a family name."
    if application.birth_date > today or _age(application.birth_date, today) < ADULT_AGE:
        return f"Customers must be at least {ADULT_AGE} years old."
    if application.country not in SERVED_COUNTRIES:
        return f"Robinhood serves residents of {', '.join(sorted(SERVED_COUNTRIES))} only."
    tax_id = application.tax_id
    if (
        not SSN.match(tax_id)
        or tax_id[:3] in ("000", "666")
        or tax_id[0] == "9"
        or tax_id[3:5] == "00"
        or tax_id[5:] == "0000"
    ):
        return "The tax id is not a valid SSN."
    if _name_key(application.legal_name) in _SANCTIONED_KEYS:
        return "The application could not be approved (AML screening)."
    return None


async def apply(
    session: AsyncSession, user_id: int, application: Application, today: date
) -> Customer:
    """Screen and record the user's application; returns the record (approved or rejected).

    Raises AlreadyOnboarded (409) for an approved customer. Locks the user's row (PostgreSQL)
    so two concurrent applications leave one consistent record."""
    customer = await session.get(Customer, user_id, with_for_update=True)
    if customer is not None and customer.status == "approved":
        raise AlreadyOnboarded("You are already a customer.")
    reason = screen(application, today)
    now = utcnow()
    if customer is None:
        customer = Customer(user_id=user_id, created_at=now)
        session.add(customer)
    customer.legal_name = application.legal_name
    customer.birth_date = application.birth_date
    customer.country = application.country
    customer.tax_id_last4 = application.tax_id[-4:]
    customer.status = "rejected" if reason else "approved"
    customer.reason = reason or ""
    customer.decided_at = now
    await session.flush()
    return customer


async def require_approved(session: AsyncSession, user_id: int) -> Customer:
    """The trading gate: the user's record if approved; OnboardingRequired (403) when they never
    applied, OnboardingRejected (403) when the screen refused them."""
    customer = await session.get(Customer, user_id)
    if customer is None:
        raise OnboardingRequired("Open your account first: POST /api/robinhood/onboarding.")
    if customer.status != "approved":
        raise OnboardingRejected(customer.reason or "The application was not approved.")
    return customer
