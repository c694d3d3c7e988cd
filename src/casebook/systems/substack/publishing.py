"""Publications, their authors and posts: drafts, scheduled and published posts, and who may
read what (the paywall).

Every function takes the session explicitly and checks the caller: only a publication's authors
see its drafts and scheduled posts or change anything; a paid post's full text goes to its
authors and to readers whose paid access runs past now, everyone else gets the preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.substack.errors import (
    AlreadyPublished,
    InvalidSchedule,
    NotAnAuthor,
    PostNotFound,
    PublicationNotFound,
    SlugTaken,
)
from casebook.systems.substack.models import Author, PaidSubscription, Post, Publication
from casebook.systems.substack.rendering import render_post

NEWEST_PUBLISHED = Keyset(Post.published_at, Post.id)
NEWEST_CREATED = Keyset(Post.created_at, Post.id)
NEWEST_PUBLICATIONS = Keyset(Publication.created_at, Publication.id)
RESERVED_SLUGS = frozenset({"dashboard", "unsubscribe", "posts", "api", "static"})
"""Slugs that name the pages' own paths under `/substack/` (a publication lives at
`/substack/<slug>/`), so no publication may take them."""


async def create_publication(
    session: AsyncSession,
    owner_id: int,
    *,
    slug: str,
    name: str,
    description: str = "",
    monthly_price: int | None = None,
    annual_price: int | None = None,
) -> Publication:
    """A new publication owned (and written) by `owner_id`. Raises SlugTaken (also for the
    reserved slugs). O(log n)."""
    if slug in RESERVED_SLUGS:
        raise SlugTaken(f"The address {slug!r} is reserved; choose another.")
    publication = Publication(
        id=new_id(),
        owner_id=owner_id,
        slug=slug,
        name=name,
        description=description,
        monthly_price=monthly_price,
        annual_price=annual_price,
        currency="USD",
        subscriber_count=0,
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(publication)
            await session.flush()  # the author row's foreign key needs the publication first
            session.add(Author(publication_id=publication.id, user_id=owner_id, role="owner"))
    except IntegrityError:
        raise SlugTaken(f"The address {slug!r} belongs to another publication.") from None
    return publication


async def get_publication(session: AsyncSession, ref: int | str) -> Publication:
    """The publication with this id or slug; raises PublicationNotFound."""
    column = Publication.id if isinstance(ref, int) else Publication.slug
    found = await session.scalar(select(Publication).where(column == ref))
    if found is None:
        raise PublicationNotFound()
    return found


async def discover(session: AsyncSession, page: PageParams) -> tuple[list[Publication], str | None]:
    """Every publication, newest first, a page at a time."""
    rows = list(await session.scalars(NEWEST_PUBLICATIONS.apply(select(Publication), page)))
    return _paged(NEWEST_PUBLICATIONS, rows, page)


def _paged(keyset: Keyset, rows: list[Any], page: PageParams) -> tuple[list[Any], str | None]:
    if len(rows) > page.limit:
        return rows[: page.limit], keyset.cursor_for(rows[page.limit - 1])
    return rows, None


async def authored_publications(session: AsyncSession, user_id: int) -> list[Publication]:
    """The publications `user_id` owns or writes for, newest first (at most 100). O(k log n)."""
    rows = await session.scalars(
        select(Publication)
        .join(Author, Author.publication_id == Publication.id)
        .where(Author.user_id == user_id)
        .order_by(Publication.created_at.desc(), Publication.id.desc())
        .limit(100)
    )
    return list(rows)


async def is_author(session: AsyncSession, publication_id: int, user_id: int | None) -> bool:
    if user_id is None:
        return False
    found = await session.get(Author, (publication_id, user_id))
    return found is not None


async def require_author(session: AsyncSession, publication_id: int, user_id: int) -> None:
    if not await is_author(session, publication_id, user_id):
        raise NotAnAuthor()


async def add_author(
    session: AsyncSession, owner_id: int, publication_id: int, user_id: int
) -> Author:
    """Let `user_id` write for the publication; only its owner may. Idempotent."""
    publication = await get_publication(session, publication_id)
    if publication.owner_id != owner_id:
        raise NotAnAuthor("Only the publication's owner adds authors.")
    existing = await session.get(Author, (publication_id, user_id))
    if existing is not None:
        return existing
    author = Author(publication_id=publication_id, user_id=user_id, role="writer")
    session.add(author)
    await session.flush()
    return author


@dataclass(frozen=True)
class PostDraft:
    title: str
    body: str
    subtitle: str = ""
    audience: str = "everyone"
    send_email: bool = True


async def create_post(
    session: AsyncSession, author_id: int, publication_id: int, draft: PostDraft
) -> Post:
    """A new draft by `author_id`, its Markdown rendered and sanitized. Raises NotAnAuthor."""
    await get_publication(session, publication_id)
    await require_author(session, publication_id, author_id)
    rendered = render_post(draft.body)
    now = utcnow()
    post = Post(
        id=new_id(),
        publication_id=publication_id,
        author_id=author_id,
        title=draft.title,
        subtitle=draft.subtitle,
        body_markdown=draft.body,
        body_html=rendered.html,
        preview_html=rendered.preview_html,
        links=rendered.links,
        audience=draft.audience,
        status="draft",
        send_email=draft.send_email,
        email_status="none",
        created_at=now,
        updated_at=now,
    )
    session.add(post)
    await session.flush()
    return post


async def authored_post(session: AsyncSession, user_id: int, post_id: int) -> Post:
    """The post, if `user_id` is one of its publication's authors; else PostNotFound."""
    post = await session.get(Post, post_id)
    if post is None or not await is_author(session, post.publication_id, user_id):
        raise PostNotFound()
    return post


async def edit_post(
    session: AsyncSession, user_id: int, post_id: int, changes: dict[str, Any]
) -> Post:
    """Change title, subtitle, body, audience or send_email of a post its author may edit.

    Editing a published post changes the web copy; e-mails already sent stay as they were.
    """
    post = await authored_post(session, user_id, post_id)
    for name in ("title", "subtitle", "audience", "send_email"):
        if name in changes and changes[name] is not None:
            setattr(post, name, changes[name])
    if changes.get("body") is not None:
        rendered = render_post(changes["body"])
        post.body_markdown = changes["body"]
        post.body_html = rendered.html
        post.preview_html = rendered.preview_html
        post.links = rendered.links
    post.updated_at = utcnow()
    await session.flush()
    return post


async def publish_post(
    session: AsyncSession, user_id: int, post_id: int, at: datetime | None = None
) -> Post:
    """Publish now (`at` None) or schedule for `at`. Raises AlreadyPublished, InvalidSchedule.

    The caller enqueues the send job (now) or the publish job (at `at`) after committing.
    """
    post = await authored_post(session, user_id, post_id)
    if post.status == "published":
        raise AlreadyPublished()
    now = utcnow()
    if at is not None:
        if at <= now:
            raise InvalidSchedule("Choose a time in the future, or publish now.")
        post.status, post.scheduled_at = "scheduled", at
    else:
        mark_published(post, now)
    post.updated_at = now
    await session.flush()
    return post


def mark_published(post: Post, now: datetime) -> None:
    post.status = "published"
    post.published_at = now
    post.scheduled_at = None
    post.email_status = "pending" if post.send_email else "none"


async def unschedule(session: AsyncSession, user_id: int, post_id: int) -> Post:
    """A scheduled post back to draft."""
    post = await authored_post(session, user_id, post_id)
    if post.status == "published":
        raise AlreadyPublished()
    post.status, post.scheduled_at = "draft", None
    await session.flush()
    return post


async def publish_due(session: AsyncSession, now: datetime | None = None) -> list[int]:
    """Publish every scheduled post whose time has come; returns their ids.

    One conditional UPDATE per post (`WHERE status = 'scheduled'`), so two sweeps at once
    publish each post once. O(log n + k) for k due posts through ix_substack_posts_due.
    """
    now = now or utcnow()
    due = list(
        await session.scalars(
            select(Post.id).where(Post.status == "scheduled", Post.scheduled_at <= now)
        )
    )
    published = []
    for post_id in due:
        result = await session.execute(
            update(Post)
            .where(Post.id == post_id, Post.status == "scheduled")
            .values(
                status="published",
                published_at=now,
                scheduled_at=None,
                email_status=case((Post.send_email, "pending"), else_="none"),
                updated_at=now,
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            published.append(post_id)
    return published


async def has_paid_access(
    session: AsyncSession, publication_id: int, user_id: int | None, now: datetime | None = None
) -> bool:
    """Authors, and readers whose paid period runs past `now`. O(log n)."""
    if user_id is None:
        return False
    if await is_author(session, publication_id, user_id):
        return True
    found = await session.scalar(
        select(PaidSubscription.id).where(
            PaidSubscription.publication_id == publication_id,
            PaidSubscription.user_id == user_id,
            PaidSubscription.current_period_end > (now or utcnow()),
        )
    )
    return found is not None


@dataclass(frozen=True)
class ReadablePost:
    post: Post
    full: bool
    """False when the reader gets the preview of a paid post."""

    @property
    def html(self) -> str:
        return self.post.body_html if self.full else self.post.preview_html


async def read_post(session: AsyncSession, viewer_id: int | None, post_id: int) -> ReadablePost:
    """A post as `viewer_id` may read it: drafts only for authors (else PostNotFound), paid
    posts whole only with paid access."""
    post = await session.get(Post, post_id)
    if post is None:
        raise PostNotFound()
    author = await is_author(session, post.publication_id, viewer_id)
    if post.status != "published" and not author:
        raise PostNotFound()
    full = post.audience == "everyone" or author
    if not full:
        full = await has_paid_access(session, post.publication_id, viewer_id)
    return ReadablePost(post, full)


async def list_posts(
    session: AsyncSession,
    publication_id: int,
    viewer_id: int | None,
    page: PageParams,
    *,
    status: str = "published",
) -> tuple[list[Post], str | None]:
    """A publication's posts, newest first: published ones for anyone, drafts or scheduled ones
    for its authors only (NotAnAuthor otherwise). O(log n + page)."""
    if status != "published":
        if viewer_id is None:
            raise NotAnAuthor()
        await require_author(session, publication_id, viewer_id)
        keyset = NEWEST_CREATED
    else:
        keyset = NEWEST_PUBLISHED
    stmt = select(Post).where(and_(Post.publication_id == publication_id, Post.status == status))
    rows = list(await session.scalars(keyset.apply(stmt, page)))
    return _paged(keyset, rows, page)
