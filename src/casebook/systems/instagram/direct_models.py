"""Instagram's own state of a direct thread: who opened it and whether it sits in the
recipient's inbox or among their message requests.

The messaging engine holds the conversation, its members and its log (system "instagram"); it
has no notion of a message request, so Instagram keeps one row per thread here, written by the
writer's in-transaction hook (direct.py) when the thread's first message commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

THREAD_STATUSES = ("pending", "accepted", "declined")


class InstagramDirectThread(Base):
    """One direct thread's request state.

    `sender_id` wrote the thread's first message to `recipient_id`. `status` is "accepted" at
    once when the two were connected then (either followed the other); otherwise "pending": the
    thread is a message request in the recipient's requests until they accept it ("accepted")
    or decline it ("declined": their copy of the history is cleared and the thread leaves their
    lists; the sender's next message makes it a pending request again, as on Instagram).
    """

    __tablename__ = "instagram_direct_threads"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'declined')", name="status"),
        Index("ix_instagram_direct_threads_requests", "recipient_id", "status", "conversation_id"),
    )

    conversation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sender_id: Mapped[int] = mapped_column(BigInteger)
    recipient_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
