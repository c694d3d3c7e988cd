"""Moderation hooks: reports, per-user hides, auto-hide past a report threshold, and spam
heuristics run when content is created.

Reports: one per (user, target), with a reason from `REPORT_REASONS`. Reporting also hides the
target for the reporter. The target's "reports" counter is one atomic upsert that returns its
new value; the report that reaches `ModerationConfig.report_threshold` hides the target from
everyone (a `FeedModeration` row; a comment becomes status "hidden"). From then on the target
registry (targets.resolve) answers None for it to everyone but its owner, so reactions,
comments, shares and notifications all treat it as gone. Feed reads filter page ids with
`hidden_ids`.

Spam heuristics (`screen`), in order, before the content is written:
1. rate: at most `create_rate` creations per user (GCRA on the platform's rate limiter; 429);
2. link reputation: a link to a blocklisted domain (or a subdomain of one) is refused (422);
   more than `max_unvetted_links` links to domains not on the allowlist mark it as spam;
3. duplicate content: the same text (case and spacing ignored) from the same user within
   `duplicate_window` is refused (409). The check is one upsert on (system, user, digest) that
   only refreshes a fingerprint older than the window, so two racing duplicates cannot both pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import counters, targets
from casebook.engines.feed.engagement_models import (
    FeedFingerprint,
    FeedHide,
    FeedModeration,
    FeedReport,
)
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, InvalidInput
from casebook.platform.ids import new_id
from casebook.platform.ratelimit import RateLimit, RateLimiter, enforce

REPORT_REASONS = ("spam", "harassment", "hate", "violence", "nudity", "misinformation", "other")
LINK = re.compile(r"(?i)\b(?:https?://|www\.)([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)+)")


@dataclass(frozen=True)
class ModerationConfig:
    report_threshold: int = 5
    """Distinct reporters after which a target is hidden from everyone."""
    create_rate: RateLimit = field(default_factory=lambda: RateLimit.per_minute(20, burst=10))
    duplicate_window: timedelta = timedelta(minutes=10)
    blocked_domains: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()
    max_unvetted_links: int = 2


class InvalidReport(InvalidInput):
    type_ = "feed/invalid-report"
    title = "The report is not valid"


class OwnContent(Conflict):
    type_ = "feed/own-content"
    title = "You cannot report your own content"


class LinkBlocked(InvalidInput):
    type_ = "feed/link-blocked"
    title = "The content links to a blocked site"


class DuplicateContent(Conflict):
    type_ = "feed/duplicate-content"
    title = "You posted the same content moments ago"


@dataclass(frozen=True)
class Verdict:
    """What `screen` decided for content it let through: `spam` stores it as spam."""

    spam: bool
    reasons: tuple[str, ...] = ()


def domains_in(text: str) -> list[str]:
    """The lower-cased host names of the links in `text`, without a leading "www."."""
    return [m.group(1).lower().removeprefix("www.") for m in LINK.finditer(text)]


def _listed(domain: str, listing: frozenset[str]) -> bool:
    """Whether `domain` or one of its parent domains is in `listing`. O(labels)."""
    labels = domain.split(".")
    return any(".".join(labels[i:]) in listing for i in range(len(labels) - 1))


def _digest(text: str) -> str:
    normalised = " ".join(text.lower().split())
    return hashlib.sha256(normalised.encode()).hexdigest()


async def screen(
    session: AsyncSession,
    limiter: RateLimiter,
    system: str,
    user_id: int,
    text: str,
    config: ModerationConfig | None = None,
    *,
    action: str = "comment",
) -> Verdict:
    """Run the spam heuristics on content `user_id` is about to create (module docstring).

    Raises `TooManyRequests` (429), `LinkBlocked` (422) or `DuplicateContent` (409); otherwise
    returns the verdict. Records the content's fingerprint in the caller's transaction, so a
    creation that fails later leaves no fingerprint. Cost: one rate-limit hit, O(links) set
    probes, one upsert and one bounded cleanup of the user's expired fingerprints.
    """
    config = config or ModerationConfig()
    await enforce(limiter, f"feed:{system}:{action}:{user_id}", config.create_rate)
    domains = domains_in(text)
    blocked = sorted({d for d in domains if _listed(d, config.blocked_domains)})
    if blocked:
        raise LinkBlocked(f"Links to {', '.join(blocked)} are not allowed.")
    now = utcnow()
    cutoff = now - config.duplicate_window
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(FeedFingerprint).values(
        system=system, user_id=user_id, digest=_digest(text), created_at=now
    )
    fresh = await session.scalar(
        stmt.on_conflict_do_update(
            index_elements=["system", "user_id", "digest"],
            set_={"created_at": stmt.excluded.created_at},
            where=FeedFingerprint.created_at < cutoff,
        ).returning(FeedFingerprint.digest)
    )
    if fresh is None:
        raise DuplicateContent(
            "The same text was posted less than "
            f"{int(config.duplicate_window.total_seconds() // 60)} minutes ago."
        )
    await session.execute(
        delete(FeedFingerprint).where(
            FeedFingerprint.system == system,
            FeedFingerprint.user_id == user_id,
            FeedFingerprint.created_at < cutoff,
        )
    )
    unvetted = [d for d in domains if not _listed(d, config.allowed_domains)]
    if len(unvetted) > config.max_unvetted_links:
        return Verdict(True, ("links",))
    return Verdict(False)


@dataclass(frozen=True)
class ReportResult:
    created: bool
    """False when the user had already reported the target (nothing changed)."""
    hidden: bool
    """Whether the target is now hidden from everyone."""


async def _hide_for(session: AsyncSession, system: str, user_id: int, kind: str, tid: int) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(FeedHide)
        .values(
            system=system, user_id=user_id, target_kind=kind, target_id=tid, created_at=utcnow()
        )
        .on_conflict_do_nothing()
    )


async def _hide_from_everyone(
    session: AsyncSession, system: str, kind: str, target_id: int, reason: str
) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(FeedModeration)
        .values(
            system=system,
            target_kind=kind,
            target_id=target_id,
            reason=reason,
            hidden=True,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    if kind == "comment":
        from casebook.engines.feed.comments import hide_comment

        await hide_comment(session, system, target_id)


async def report(
    session: AsyncSession,
    system: str,
    reporter_id: int,
    target_kind: str,
    target_id: int,
    reason: str,
    note: str = "",
    config: ModerationConfig | None = None,
) -> ReportResult:
    """`reporter_id` reports a target they can see; it is hidden for them at once, and for
    everyone when the distinct reporters reach the threshold.

    Raises `InvalidReport` (422: unknown reason, note over 500 characters), `TargetNotFound`
    (404), `OwnContent` (409). A repeated report changes nothing. O(1) statements.
    """
    config = config or ModerationConfig()
    if reason not in REPORT_REASONS:
        raise InvalidReport(f"reason is one of {', '.join(REPORT_REASONS)}.")
    if len(note) > 500:
        raise InvalidReport("A note has at most 500 characters.")
    owner = await targets.require(session, system, target_kind, reporter_id, target_id)
    if owner == reporter_id:
        raise OwnContent("Delete it instead.")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = await session.scalar(
        insert(FeedReport)
        .values(
            id=new_id(),
            system=system,
            target_kind=target_kind,
            target_id=target_id,
            reporter_id=reporter_id,
            reason=reason,
            note=note,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=["system", "target_kind", "target_id", "reporter_id"]
        )
        .returning(FeedReport.id)
    )
    await _hide_for(session, system, reporter_id, target_kind, target_id)
    if created is None:
        return ReportResult(False, await is_hidden(session, system, target_kind, target_id))
    count = (await counters.add(session, system, target_kind, target_id, {counters.REPORTS: 1}))[
        counters.REPORTS
    ]
    if count >= config.report_threshold:
        await _hide_from_everyone(session, system, target_kind, target_id, "reports")
        return ReportResult(True, True)
    return ReportResult(True, False)


async def hide(
    session: AsyncSession, system: str, user_id: int, target_kind: str, target_id: int
) -> None:
    """Hide a target the user can see from the user's own lists (404 if they cannot see it)."""
    await targets.require(session, system, target_kind, user_id, target_id)
    await _hide_for(session, system, user_id, target_kind, target_id)


async def unhide(
    session: AsyncSession, system: str, user_id: int, target_kind: str, target_id: int
) -> bool:
    """Undo the user's own hide; True when there was one."""
    result = await session.execute(
        delete(FeedHide).where(
            FeedHide.system == system,
            FeedHide.user_id == user_id,
            FeedHide.target_kind == target_kind,
            FeedHide.target_id == target_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def is_hidden(session: AsyncSession, system: str, target_kind: str, target_id: int) -> bool:
    """Whether moderation hid the target from everyone. One primary-key probe."""
    row = await session.get(FeedModeration, (system, target_kind, target_id))
    return row is not None and row.hidden


async def hidden_ids(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    target_kind: str,
    target_ids: Iterable[int],
) -> set[int]:
    """Of `target_ids`, those hidden from `viewer_id`: by moderation, or by the viewer's own hide
    or report. For feed pages: two indexed `IN` queries, whatever the page size."""
    ids = list(set(target_ids))
    if not ids:
        return set()
    hidden = set(
        await session.scalars(
            select(FeedModeration.target_id).where(
                FeedModeration.system == system,
                FeedModeration.target_kind == target_kind,
                FeedModeration.target_id.in_(ids),
                FeedModeration.hidden.is_(True),
            )
        )
    )
    if viewer_id is not None:
        hidden |= set(
            await session.scalars(
                select(FeedHide.target_id).where(
                    FeedHide.system == system,
                    FeedHide.user_id == viewer_id,
                    FeedHide.target_kind == target_kind,
                    FeedHide.target_id.in_(ids),
                )
            )
        )
    return hidden


async def my_reports(
    session: AsyncSession, system: str, reporter_id: int, limit: int = 50
) -> list[FeedReport]:
    """The reporter's own reports, newest first (nobody else's are ever listed)."""
    rows = await session.scalars(
        select(FeedReport)
        .where(FeedReport.system == system, FeedReport.reporter_id == reporter_id)
        .order_by(FeedReport.id.desc())
        .limit(max(1, min(limit, 100)))
    )
    return list(rows)
