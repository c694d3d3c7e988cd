"""Text messages to phones, through a simulated SMS carrier.

A real deployment sends SMS through a carrier aggregator (Twilio, Vonage…), which cannot exist
here, so `SimulatedSmsCarrier` plays that external party faithfully enough for verification codes:

- numbers must be E.164; a message is split into segments the way GSM networks do (GSM-7 text: 160
  characters alone or 153 per part of a concatenated message; anything outside GSM-7 switches the
  whole message to UCS-2: 70 alone or 67 per part), at most 10 segments;
- every message gets a carrier id and a delivery status: numbers of the unassigned fictional
  ranges the simulator treats as unreachable (`UNREACHABLE_PREFIXES`) fail, the rest deliver;
- the carrier keeps its own records (`sim_sms_messages`, a table of the simulator, not of any
  system), which is what the simulated handset reads: `casebook sms inbox <number>` and tests.

Callers see the `SmsGateway` protocol only, so swapping in a real aggregator changes one class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, Database, utcnow
from casebook.platform.errors import InvalidInput
from casebook.platform.ids import new_id

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_SEGMENTS = 10
UNREACHABLE_PREFIXES = ("+1555",)
"""The simulator's unassigned range: messages to these numbers fail, like a dead number would."""
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
"""Characters GSM-7 sends as two septets (an escape, then the character)."""


class InvalidPhoneNumber(InvalidInput):
    type_ = "invalid-phone-number"
    title = "The phone number is not valid"


class SmsTooLong(InvalidInput):
    type_ = "sms-too-long"
    title = "The text message is too long"


class SimSmsMessage(Base):
    """One message as the simulated carrier recorded it."""

    __tablename__ = "sim_sms_messages"
    __table_args__ = (Index("ix_sim_sms_messages_to", "to_number", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    to_number: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(11))
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(5))
    segments: Mapped[int]
    status: Mapped[str] = mapped_column(String(10))
    """delivered or failed."""
    error: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class SmsReceipt:
    carrier_id: int
    status: str
    segments: int
    encoding: str
    error: str | None = None


class SmsGateway(Protocol):
    async def send(self, to: str, text: str, *, sender: str) -> SmsReceipt: ...


def check_number(number: str) -> str:
    """`number` if it is E.164; raises InvalidPhoneNumber."""
    if not E164.fullmatch(number):
        raise InvalidPhoneNumber(
            "Give the number in international form: a + and the country code, e.g. +447700900123."
        )
    return number


def segment_count(text: str) -> tuple[str, int]:
    """(encoding, segments) of `text` as a GSM network splits it. O(len(text))."""
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in text):
        septets = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return "gsm7", 1 if septets <= 160 else -(-septets // 153)
    # UCS-2 counts UTF-16 code units: characters beyond the BMP (most emoji) take two.
    units = len(text.encode("utf-16-le")) // 2
    return "ucs2", 1 if units <= 70 else -(-units // 67)


class SimulatedSmsCarrier:
    """The carrier, with its records in `sim_sms_messages` of the platform's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def send(self, to: str, text: str, *, sender: str) -> SmsReceipt:
        """Send `text` to `to` from the alphanumeric `sender` (≤ 11 characters). Raises
        InvalidPhoneNumber or SmsTooLong (nothing is sent); a dead number answers status failed."""
        check_number(to)
        if not text:
            raise SmsTooLong("A text message needs some text.")
        encoding, segments = segment_count(text)
        if segments > MAX_SEGMENTS:
            raise SmsTooLong(f"A text message has at most {MAX_SEGMENTS} parts.")
        error = "unreachable number" if to.startswith(UNREACHABLE_PREFIXES) else None
        record = SimSmsMessage(
            id=new_id(),
            to_number=to,
            sender=sender[:11],
            text=text,
            encoding=encoding,
            segments=segments,
            status="failed" if error else "delivered",
            error=error,
            created_at=utcnow(),
        )
        async with self.db.session() as session:
            session.add(record)
        return SmsReceipt(record.id, record.status, segments, encoding, error)

    async def inbox(self, number: str, limit: int = 20) -> list[SimSmsMessage]:
        """What the handset of `number` received, newest first (failed messages never arrive)."""
        async with self.db.session() as session:
            rows = await session.scalars(
                select(SimSmsMessage)
                .where(SimSmsMessage.to_number == number, SimSmsMessage.status == "delivered")
                .order_by(SimSmsMessage.created_at.desc(), SimSmsMessage.id.desc())
                .limit(limit)
            )
            return list(rows)
