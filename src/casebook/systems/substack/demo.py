"""Demo data for the embedded server: a writer's publication with paid plans, free and paid
posts (one past its paywall marker), a draft and a scheduled post, and three readers — two free,
one paying monthly from a wallet topped up through the card simulator.

Sign in at /login as `substack-writer@example.com` (the dashboard at /substack/dashboard) or
`substack-reader1@example.com` (…2, 3; reader 3 pays), password `casebook-demo`; read at
/substack/field-notes/.

The published posts are not e-mailed (`send_email` off): a laptop running `casebook serve` has
no SMTP relay, and the demo should not leave send jobs retrying. Loading is idempotent: all of
it is created in ONE write transaction, skipped when the writer already exists, so a crash
leaves nothing half-made and a restart adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.substack import payments, publishing, subscriptions
from casebook.systems.substack.cards import Card
from casebook.systems.substack.rendering import PAYWALL_MARKER
from casebook.systems.substack.runtime import substack

PASSWORD = "casebook-demo"
WRITER_EMAIL = "substack-writer@example.com"
READER_EMAILS = tuple(f"substack-reader{n}@example.com" for n in range(1, 4))
PAYING_READER = 2
"""Index in READER_EMAILS of the reader with a paid subscription."""
SLUG = "field-notes"
DEMO_CARD = Card("4242424242424242", 12, 2099, "123")
WALLET_TOP_UP = 2_000


@dataclass(frozen=True)
class DemoPost:
    title: str
    subtitle: str
    body: str
    audience: str = "everyone"
    status: str = "published"
    """published, draft or scheduled (two days ahead)."""


DEMO_POSTS = (
    DemoPost(
        "Why queues beat cron",
        "On retries, backoff and idempotent jobs",
        "A job that runs twice must do its work once.\n\n"
        "- key every job by what it is about\n- retry with backoff\n- make the effect conditional"
        "\n\nRead more in [the jobs design](https://en.wikipedia.org/wiki/Idempotence).",
    ),
    DemoPost(
        "The ledger never lies",
        "Double entry for engineers",
        "Every movement of money is two entries that sum to zero.\n\n"
        f"{PAYWALL_MARKER}\n\n"
        "Paid subscribers read on: balances are derived from postings, never stored alone, "
        "so an audit is a sum.",
        audience="paid",
    ),
    DemoPost(
        "Mail at scale, one batch at a time",
        "What RFC 8058 asks of a newsletter",
        "One-click unsubscribe is a POST, never a GET: mail scanners fetch links.",
    ),
    DemoPost(
        "Notes on consistent hashing",
        "A draft",
        "Still thinking about *virtual nodes*.",
        status="draft",
    ),
    DemoPost(
        "Next week: caches",
        "Scheduled",
        "Write-through, write-back, and the thundering herd.",
        status="scheduled",
    ),
)


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the demo accounts, publication, posts and subscriptions (once)."""
    async with platform.db.session(write=True) as session:
        exists = await session.scalar(select(User.id).where(User.email == WRITER_EMAIL))
        if exists is None:
            await _create(session, platform)


async def _create(session: AsyncSession, platform: Platform) -> None:
    writer = await register_user(
        session, WRITER_EMAIL, PASSWORD, "Demo writer", settings=platform.settings
    )
    publication = await publishing.create_publication(
        session,
        writer.id,
        slug=SLUG,
        name="Field Notes",
        description="Systems design, one idea a week.",
        monthly_price=500,
        annual_price=5_000,
    )
    for spec in DEMO_POSTS:
        draft = publishing.PostDraft(
            title=spec.title,
            body=spec.body,
            subtitle=spec.subtitle,
            audience=spec.audience,
            send_email=False,
        )
        post = await publishing.create_post(session, writer.id, publication.id, draft)
        if spec.status == "published":
            await publishing.publish_post(session, writer.id, post.id)
        elif spec.status == "scheduled":
            at = utcnow() + timedelta(days=2)
            await publishing.publish_post(session, writer.id, post.id, at)
    for number, email in enumerate(READER_EMAILS, start=1):
        reader = await register_user(
            session, email, PASSWORD, f"Demo reader {number}", settings=platform.settings
        )
        await subscriptions.subscribe(session, reader.id, publication.id)
        if number - 1 == PAYING_READER:
            cards = substack(platform).cards
            await payments.top_up(session, cards, reader.id, DEMO_CARD, WALLET_TOP_UP)
            await payments.subscribe_paid(session, reader.id, publication.id, "monthly")
