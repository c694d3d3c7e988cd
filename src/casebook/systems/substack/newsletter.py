"""E-mailing posts: the send job, the messages, bounces, and the publish/sweep jobs.

Sending a post (`send_post`, the `substack.send-post` job):

1. one `Delivery` row per active, e-mail-enabled, unsuppressed subscriber is inserted with
   `ON CONFLICT (post_id, subscriber_id) DO NOTHING` — the row is the promise that this reader
   gets this post once; whether it carries the whole post or the preview (paid posts to readers
   without paid access) is decided here;
2. batches of `batch_size` queued deliveries are claimed by one conditional UPDATE (status
   queued → sending, tagged with this run's id), so two runs at once never claim the same row;
3. each batch goes out over one SMTP connection (`MailSender.send_batch`) and every row records
   what the relay said: sent, rejected (5xx: a hard bounce — the address is suppressed and its
   subscriptions end) or deferred (4xx or no connection);
4. when no queued row is left, deferred rows go back to queued and the job raises so the queue
   retries it with backoff; when none is deferred the post's e-mail is done.

Costs: O(n) inserts and n/batch_size claims and SMTP sessions for n subscribers. A crash after
the relay accepted a batch but before its rows were marked sent re-sends that batch once the
claim goes stale (at least once, like any mailer that cannot commit with the relay).

Every message carries `List-Unsubscribe` with a signed one-click URL and `List-Unsubscribe-Post:
List-Unsubscribe=One-Click` (RFC 8058), a signed open pixel, links rewritten to signed tracked
redirects (only the post's own links), and a VERP envelope sender `bounces+<token>@domain`, so a
DSN names the delivery it is about (`record_dsn`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import make_msgid
from html import escape, unescape
from html.parser import HTMLParser
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id
from casebook.platform.mail import DeliveryStatus
from casebook.systems.substack import payments, publishing, tokens
from casebook.systems.substack.errors import InvalidBounce
from casebook.systems.substack.models import (
    Author,
    Delivery,
    PaidSubscription,
    Post,
    Publication,
    Subscriber,
    SuppressedAddress,
)
from casebook.systems.substack.runtime import PUBLISH_JOB, SEND_JOB, Substack, substack
from casebook.systems.substack.subscriptions import end_subscription

log = structlog.get_logger("casebook.substack.newsletter")

STALE_CLAIM = timedelta(minutes=10)
"""A claim older than this belonged to a run that died; its rows are claimed again."""
INSERT_CHUNK = 500


class MailDeferred(RuntimeError):
    """Some deliveries were deferred; raised so the job queue retries the send later."""


async def enqueue_send(platform: Platform, post_id: int) -> str:
    return await platform.jobs.enqueue(SEND_JOB, {"post_id": str(post_id)}, key=str(post_id))


async def enqueue_publish(platform: Platform, post_id: int, at: datetime) -> str:
    delay = max(0.0, (at - utcnow()).total_seconds())
    key = f"{post_id}:{int(at.timestamp() * 1000)}"
    return await platform.jobs.enqueue(PUBLISH_JOB, {"post_id": str(post_id)}, key=key, delay=delay)


async def after_publish(platform: Platform, post: Post) -> None:
    """Queue what a publish or schedule set in motion: the e-mail of a post published now, or
    the job that publishes a scheduled one. Call after committing, so the job finds the post."""
    if post.status == "published" and post.email_status == "pending":
        await enqueue_send(platform, post.id)
    elif post.status == "scheduled" and post.scheduled_at is not None:
        await enqueue_publish(platform, post.id, post.scheduled_at)


async def publish_post_job(platform: Platform, payload: dict[str, Any]) -> None:
    """Publish the scheduled post if its time has come (a rescheduled one waits for its own
    job), then mail it."""
    post_id = int(payload["post_id"])
    async with platform.db.session(write=True) as session:
        post = await session.get(Post, post_id)
        if post is None or post.status != "scheduled" or post.scheduled_at is None:
            return
        if post.scheduled_at > utcnow():
            return
        publishing.mark_published(post, utcnow())
        mail = post.email_status == "pending"
    if mail:
        await enqueue_send(platform, post_id)


async def sweep(platform: Platform) -> None:
    """Publish due posts, re-queue unfinished mailings, renew or lapse paid subscriptions."""
    async with platform.db.session(write=True) as session:
        await publishing.publish_due(session)
    async with platform.db.session() as session:
        pending = list(await session.scalars(select(Post.id).where(Post.email_status == "pending")))
    for post_id in pending:
        await enqueue_send(platform, post_id)
    await payments.renew_due(platform.db)


async def send_post_job(platform: Platform, payload: dict[str, Any]) -> None:
    report = await send_post(platform, int(payload["post_id"]))
    if report.deferred:
        raise MailDeferred(f"{report.deferred} deliveries deferred; retrying later")


@dataclass(frozen=True)
class SendReport:
    sent: int = 0
    rejected: int = 0
    deferred: int = 0


def _insert(db: Database) -> Any:
    return sqlite_insert if db.is_sqlite else pg_insert


async def _create_deliveries(db: Database, post: Post) -> None:
    async with db.session() as session:
        recipients = (
            await session.execute(
                select(Subscriber.id, Subscriber.user_id, Subscriber.email).where(
                    Subscriber.publication_id == post.publication_id,
                    Subscriber.status == "active",
                    Subscriber.email_enabled.is_(True),
                    Subscriber.email.not_in(select(SuppressedAddress.email)),
                )
            )
        ).all()
        full_access: set[int] = set()
        if post.audience == "paid":
            now = utcnow()
            full_access |= set(
                await session.scalars(
                    select(PaidSubscription.user_id).where(
                        PaidSubscription.publication_id == post.publication_id,
                        PaidSubscription.current_period_end > now,
                    )
                )
            )
            full_access |= set(
                await session.scalars(
                    select(Author.user_id).where(Author.publication_id == post.publication_id)
                )
            )
    rows = [
        {
            "id": new_id(),
            "post_id": post.id,
            "subscriber_id": subscriber_id,
            "email": email,
            "full_access": post.audience == "everyone" or user_id in full_access,
            "status": "queued",
            "attempts": 0,
            "smtp_reply": "",
            "open_count": 0,
            "click_count": 0,
        }
        for subscriber_id, user_id, email in recipients
    ]
    insert = _insert(db)
    for start in range(0, len(rows), INSERT_CHUNK):
        async with db.session() as session:
            await session.execute(
                insert(Delivery)
                .values(rows[start : start + INSERT_CHUNK])
                .on_conflict_do_nothing(index_elements=["post_id", "subscriber_id"])
            )


async def _claim(db: Database, post_id: int, limit: int) -> tuple[int, list[Delivery]]:
    run = new_id()
    now = utcnow()
    claimable = or_(
        Delivery.status == "queued",
        (Delivery.status == "sending") & (Delivery.claimed_at < now - STALE_CLAIM),
    )
    async with db.session() as session:
        batch = (
            select(Delivery.id)
            .where(Delivery.post_id == post_id, claimable)
            .order_by(Delivery.id)
            .limit(limit)
            .scalar_subquery()
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(batch), claimable)
            .values(status="sending", claim=run, claimed_at=now, attempts=Delivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    async with db.session() as session:
        claimed = list(
            await session.scalars(
                select(Delivery).where(Delivery.claim == run).order_by(Delivery.id)
            )
        )
    return run, claimed


async def send_post(platform: Platform, post_id: int) -> SendReport:
    """Mail a published post to every subscriber who should get it (see the module docstring).

    Returns what this run did; safe to run again or concurrently.
    """
    state = substack(platform)
    db = platform.db
    async with db.session() as session:
        post = await session.get(Post, post_id)
        if post is None or post.status != "published" or post.email_status != "pending":
            return SendReport()
        publication = await session.get(Publication, post.publication_id)
        assert publication is not None
    await _create_deliveries(db, post)
    sent = rejected = deferred = 0
    while True:
        _run, batch = await _claim(db, post_id, state.batch_size)
        if not batch:
            break
        messages = [build_message(state, publication, post, d) for d in batch]
        results = await state.sender.send_batch(messages)
        async with db.session() as session:
            for delivery, result in zip(batch, results, strict=True):
                reply = result.reply[:300]
                if result.status is DeliveryStatus.SENT:
                    sent += 1
                    values: dict[str, Any] = {"status": "sent", "sent_at": utcnow()}
                elif result.status is DeliveryStatus.REJECTED:
                    rejected += 1
                    values = {"status": "rejected"}
                    await _suppress(session, delivery.email, f"{result.code} {reply}")
                else:
                    deferred += 1
                    values = {"status": "deferred"}
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery.id)
                    .values(smtp_reply=reply, claim=None, **values)
                )
    async with db.session() as session:
        if deferred:
            await session.execute(
                update(Delivery)
                .where(Delivery.post_id == post_id, Delivery.status == "deferred")
                .values(status="queued")
            )
        else:
            await session.execute(
                update(Post)
                .where(Post.id == post_id, Post.email_status == "pending")
                .values(email_status="done")
            )
    log.info("post mailed", post_id=post_id, sent=sent, rejected=rejected, deferred=deferred)
    return SendReport(sent, rejected, deferred)


async def _suppress(session: AsyncSession, email: str, reason: str) -> None:
    """A hard bounce: never mail `email` again, and end its active subscriptions."""
    dialect = (await session.connection()).dialect.name
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    await session.execute(
        insert(SuppressedAddress)
        .values(email=email, reason=reason[:300], created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["email"])
    )
    active = await session.scalars(
        select(Subscriber.id).where(Subscriber.email == email, Subscriber.status == "active")
    )
    for subscriber_id in list(active):
        await end_subscription(session, subscriber_id, "bounced")


# --- the message --------------------------------------------------------------------------

_HREF = re.compile(r'href="([^"]*)"')


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"p", "h1", "h2", "h3", "h4", "li", "blockquote", "pre", "tr"}:
            self.parts.append("\n\n")


def text_of(html: str) -> str:
    """Plain text of sanitized HTML, paragraphs separated by blank lines. O(n)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def post_url(state: Substack, publication: Publication, post: Post) -> str:
    return f"{state.base_url}/substack/{publication.slug}/p/{post.id}"


def unsubscribe_url(state: Substack, subscriber_id: int) -> str:
    token = tokens.sign(state.signing_key, tokens.Purpose.UNSUBSCRIBE, subscriber_id)
    return f"{state.base_url}/api/substack/unsubscribe/{token}"


def unsubscribe_page(state: Substack, subscriber_id: int) -> str:
    token = tokens.sign(state.signing_key, tokens.Purpose.UNSUBSCRIBE, subscriber_id)
    return f"{state.base_url}/substack/unsubscribe/{token}"


def tracked_html(state: Substack, post: Post, html: str, delivery_token: str) -> str:
    """`html` with each of the post's own links pointing at its tracked redirect. O(n)."""
    positions = {link: index for index, link in enumerate(post.links)}

    def rewrite(match: re.Match[str]) -> str:
        index = positions.get(unescape(match[1]))
        if index is None:
            return match[0]
        return f'href="{state.base_url}/api/substack/c/{delivery_token}/{index}"'

    return _HREF.sub(rewrite, html)


def build_message(
    state: Substack, publication: Publication, post: Post, delivery: Delivery
) -> EmailMessage:
    """The e-mail of `post` for one delivery: text and HTML parts, list headers, tracking."""
    token = tokens.sign(state.signing_key, tokens.Purpose.DELIVERY, delivery.id)
    body_html = post.body_html if delivery.full_access else post.preview_html
    online = post_url(state, publication, post)
    one_click = unsubscribe_url(state, delivery.subscriber_id)
    manage = unsubscribe_page(state, delivery.subscriber_id)
    message = EmailMessage()
    message["From"] = Address(publication.name, publication.slug, state.mail_domain)
    message["To"] = delivery.email
    message["Subject"] = post.title
    message["Message-ID"] = make_msgid(idstring=str(delivery.id), domain=state.mail_domain)
    message["Return-Path"] = f"<bounces+{token}@{state.mail_domain}>"
    message["List-Id"] = f"{publication.name} <{publication.slug}.{state.mail_domain}>"
    message["List-Unsubscribe"] = f"<{one_click}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    paywall_text = paywall_html = ""
    if not delivery.full_access:
        paywall_text = f"\n\nThis post is for paid subscribers. Subscribe to read it all: {online}"
        paywall_html = (
            f"<p><strong>This post is for paid subscribers.</strong> "
            f'<a href="{escape(online)}">Subscribe to read the rest</a>.</p>'
        )
    message.set_content(
        f"{post.title}\n{post.subtitle}\n\n{text_of(body_html)}{paywall_text}\n\n"
        f"Read online: {online}\nUnsubscribe: {manage}\n"
    )
    message.add_alternative(
        f"<!doctype html><html><body>"
        f"<h1>{escape(post.title)}</h1>"
        + (f"<h3>{escape(post.subtitle)}</h3>" if post.subtitle else "")
        + tracked_html(state, post, body_html, token)
        + paywall_html
        + f'<hr><p><a href="{escape(online)}">Read online</a> · '
        f'<a href="{escape(manage)}">Unsubscribe</a></p>'
        f'<img src="{state.base_url}/api/substack/o/{token}.gif" width="1" height="1" alt="">'
        f"</body></html>",
        subtype="html",
    )
    return message


# --- bounces ------------------------------------------------------------------------------

_VERP = re.compile(r"bounces\+([0-9]{1,19}\.[A-Za-z0-9_-]+)@", re.IGNORECASE)


@dataclass(frozen=True)
class BounceReport:
    delivery_id: int
    action: str
    status: str
    hard: bool


def _delivery_status_blocks(dsn: Message) -> list[Message]:
    for part in dsn.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, Message)]
    return []


def parse_dsn(raw: bytes, signing_key: str) -> BounceReport:
    """The delivery a DSN (RFC 3464 multipart/report) is about and what it says.

    The delivery is named by the signed VERP address the DSN was sent to; the first
    per-recipient block gives Action and Status (5.x.x with Action failed is a hard bounce).
    Raises InvalidBounce.
    """
    dsn = message_from_bytes(raw, policy=policy.compat32)
    match = _VERP.search(str(dsn.get("To", "")))
    if match is None:
        raise InvalidBounce("The report is not addressed to a Substack bounce address.")
    try:
        delivery_id = tokens.verify(signing_key, tokens.Purpose.DELIVERY, match[1])
    except Exception:
        raise InvalidBounce("The bounce address is not one we issued.") from None
    blocks = _delivery_status_blocks(dsn)
    recipient = next((b for b in blocks[1:] if b.get("Action")), None)
    if recipient is None:
        raise InvalidBounce("The report has no per-recipient delivery status.")
    action = str(recipient.get("Action", "")).strip().lower()
    status = str(recipient.get("Status", "")).strip()
    if not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status):
        raise InvalidBounce("The delivery status code is not valid.")
    return BounceReport(delivery_id, action, status, action == "failed" and status[0] == "5")


async def record_dsn(session: AsyncSession, report: BounceReport) -> bool:
    """Apply a parsed DSN: a hard bounce marks the delivery bounced and suppresses the address;
    a soft one (delayed, 4.x.x) is only noted. Returns whether the delivery exists."""
    delivery = await session.get(Delivery, report.delivery_id)
    if delivery is None:
        return False
    delivery.smtp_reply = f"DSN {report.action} {report.status}"
    if report.hard:
        delivery.status = "bounced"
        await _suppress(session, delivery.email, f"DSN {report.status}")
    await session.flush()
    return True
