"""Substack's tables: publications and their authors, posts, subscribers, paid subscriptions,
e-mail deliveries (with open/click counters) and addresses suppressed after a hard bounce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class Publication(Base):
    __tablename__ = "substack_publications"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner_id: Mapped[int] = mapped_column(index=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    monthly_price: Mapped[int | None]
    """Cents a month for paid subscribers; None when the publication takes no payments."""
    annual_price: Mapped[int | None]
    subscriber_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Author(Base):
    """Who may write for a publication: its owner, and writers the owner added."""

    __tablename__ = "substack_authors"

    publication_id: Mapped[int] = mapped_column(
        ForeignKey("substack_publications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(10))
    """owner or writer."""


class Post(Base):
    __tablename__ = "substack_posts"
    __table_args__ = (
        Index("ix_substack_posts_feed", "publication_id", "status", "published_at", "id"),
        Index("ix_substack_posts_due", "status", "scheduled_at"),
        Index("ix_substack_posts_mailing", "email_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("substack_publications.id", ondelete="CASCADE")
    )
    author_id: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    subtitle: Mapped[str] = mapped_column(String(300), default="")
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    """Sanitized HTML of the whole post."""
    preview_html: Mapped[str] = mapped_column(Text)
    """Sanitized HTML of what readers without access see of a paid post."""
    links: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The post's own http(s) links, in order: the only targets of its tracked clicks."""
    audience: Mapped[str] = mapped_column(String(8), default="everyone")
    """everyone or paid."""
    status: Mapped[str] = mapped_column(String(10), default="draft")
    """draft, scheduled or published."""
    scheduled_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    send_email: Mapped[bool] = mapped_column(default=True)
    email_status: Mapped[str] = mapped_column(String(8), default="none")
    """none (not to be mailed), pending (the send job has work left) or done."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    """A reader's subscription to a publication (free; paid access is `PaidSubscription`)."""

    __tablename__ = "substack_subscribers"
    __table_args__ = (
        UniqueConstraint("publication_id", "user_id"),
        Index("ix_substack_subscribers_mailing", "publication_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("substack_publications.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(index=True)
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(12), default="active")
    """active, unsubscribed or bounced."""
    email_enabled: Mapped[bool] = mapped_column(default=True)
    """The reader's preference: new posts by e-mail, or only on the web."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    unsubscribed_at: Mapped[datetime | None]


class PaidSubscription(Base):
    __tablename__ = "substack_paid_subscriptions"
    __table_args__ = (
        UniqueConstraint("publication_id", "user_id"),
        Index("ix_substack_paid_due", "status", "current_period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("substack_publications.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(index=True)
    plan: Mapped[str] = mapped_column(String(8))
    """monthly or annual."""
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    """active (renews), canceled (ends at period end) or lapsed (a renewal could not be paid)."""
    current_period_end: Mapped[datetime]
    """Paid access lasts until this instant, whatever the status."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    renewals: Mapped[int] = mapped_column(default=0)


class Charge(Base):
    """One payment of a paid subscription or a voluntary contribution, as the ledger booked it."""

    __tablename__ = "substack_charges"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    publication_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(12))
    """subscription, renewal or contribution."""
    amount: Mapped[int]
    fee: Mapped[int]
    transfer_id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopUp(Base):
    __tablename__ = "substack_top_ups"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(index=True)
    amount: Mapped[int]
    card_last4: Mapped[str] = mapped_column(String(4))
    authorization_code: Mapped[str] = mapped_column(String(12))
    transfer_id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One e-mail of one post to one subscriber; unique per (post, subscriber), so a post is
    never mailed twice to anyone, however often its send job runs."""

    __tablename__ = "substack_deliveries"
    __table_args__ = (
        UniqueConstraint("post_id", "subscriber_id"),
        Index("ix_substack_deliveries_queue", "post_id", "status"),
        CheckConstraint("open_count >= 0 AND click_count >= 0", name="counts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    post_id: Mapped[int] = mapped_column(ForeignKey("substack_posts.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(index=True)
    email: Mapped[str] = mapped_column(String(254))
    full_access: Mapped[bool]
    """Whether this copy carries the whole post (free post or paid reader) or the preview."""
    status: Mapped[str] = mapped_column(String(10), default="queued")
    """queued, sending, sent, deferred, rejected (refused at SMTP time) or bounced (a DSN)."""
    claim: Mapped[int | None]
    """The send run that claimed this delivery (so two runs never send the same one)."""
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    smtp_reply: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    open_count: Mapped[int] = mapped_column(default=0)
    clicked_at: Mapped[datetime | None]
    click_count: Mapped[int] = mapped_column(default=0)


class SuppressedAddress(Base):
    """An address that hard-bounced: no publication mails it again."""

    __tablename__ = "substack_suppressed_addresses"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
