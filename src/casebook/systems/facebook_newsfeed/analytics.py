"""Post and author analytics: reach, impressions and engagement.

Every home-feed page a person is served counts: each post on it gets one impression (an atomic
upsert `impressions = impressions + 1` on its stats row) and, the first time this person is
served it, a row in `facebooknewsfeed_post_views` (insert-if-absent on the primary key
(post, viewer)), so reach — distinct people who were shown the post — is exact under
concurrent reads. Authors' own views are not counted.

Engagement comes from the feed engine's exact counters (reactions by kind, comments, shares).
Only the author reads a post's analytics or their own totals; anyone else gets 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import counters
from casebook.engines.feed.engagement_models import FeedCounter
from casebook.engines.feed.models import FeedPost
from casebook.platform.errors import NotFound
from casebook.systems.facebook_newsfeed.models import PostStat, PostView

SYSTEM = "facebook-newsfeed"
TOP_POSTS = 10


class PostNotFound(NotFound):
    type_ = "facebook-newsfeed/post-not-found"
    title = "No such post of yours"


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def record_feed_views(
    session: AsyncSession, viewer_id: int, served: Sequence[tuple[int, int]]
) -> None:
    """Count one impression of each served (post id, author id) and the viewer's first view.
    Two statements whatever the page size, in post-id order (so concurrent pages lock stats rows
    in one order and cannot deadlock)."""
    others = sorted({(p, a) for p, a in served if a != viewer_id})
    if not others:
        return
    insert = _insert(session)
    await session.execute(
        insert(PostView)
        .values([{"post_id": p, "viewer_id": viewer_id, "author_id": a} for p, a in others])
        .on_conflict_do_nothing(index_elements=["post_id", "viewer_id"])
    )
    stmt = insert(PostStat).values(
        [{"post_id": p, "author_id": a, "impressions": 1} for p, a in others]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["post_id"],
            set_={"impressions": PostStat.impressions + stmt.excluded.impressions},
        )
    )


def _engagement(counts: dict[str, int]) -> dict[str, Any]:
    by_kind = {
        name.split(":", 1)[1]: value
        for name, value in counts.items()
        if name.startswith("reaction:") and value
    }
    reactions = counts.get(counters.REACTIONS, 0)
    comments = counts.get(counters.COMMENTS, 0)
    shares = counts.get(counters.SHARES, 0)
    return {
        "reactions": reactions,
        "reactions_by_kind": by_kind,
        "comments": comments,
        "shares": shares,
        "engagement": reactions + comments + shares,
    }


async def post_report(session: AsyncSession, author_id: int, post_id: int) -> dict[str, Any]:
    """A post's reach, impressions and engagement. `PostNotFound` (404) unless the caller wrote
    it (deleted posts included: their numbers stay). Three indexed reads."""
    post = await session.get(FeedPost, post_id)
    if post is None or post.system != SYSTEM or post.author_id != author_id:
        raise PostNotFound("No post of yours has this id.")
    reach = await session.scalar(
        select(func.count()).select_from(PostView).where(PostView.post_id == post_id)
    )
    impressions = await session.scalar(
        select(PostStat.impressions).where(PostStat.post_id == post_id)
    )
    counts = await counters.read(session, SYSTEM, "post", post_id)
    engagement = _engagement(dict(counts))
    reach_n = int(reach or 0)
    return {
        "post_id": str(post_id),
        "reach": reach_n,
        "impressions": int(impressions or 0),
        **engagement,
        "engagement_rate": engagement["engagement"] / reach_n if reach_n else 0.0,
    }


async def author_report(session: AsyncSession, author_id: int) -> dict[str, Any]:
    """The author's totals over their posts: posts, impressions, reach (distinct people shown
    any of their posts), engagement, and their top posts by engagement. Four grouped reads over
    the author's rows (indexed by author)."""
    posts = await session.scalar(
        select(func.count()).where(
            FeedPost.system == SYSTEM,
            FeedPost.author_id == author_id,
            FeedPost.deleted_at.is_(None),
        )
    )
    impressions = await session.scalar(
        select(func.coalesce(func.sum(PostStat.impressions), 0)).where(
            PostStat.author_id == author_id
        )
    )
    reach = await session.scalar(
        select(func.count(func.distinct(PostView.viewer_id))).where(PostView.author_id == author_id)
    )
    rows = await session.execute(
        select(FeedCounter.target_id, FeedCounter.name, FeedCounter.value)
        .join(FeedPost, FeedPost.id == FeedCounter.target_id)
        .where(
            FeedCounter.system == SYSTEM,
            FeedCounter.target_kind == "post",
            FeedPost.system == SYSTEM,
            FeedPost.author_id == author_id,
            FeedPost.deleted_at.is_(None),
        )
    )
    per_post: dict[int, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for target_id, name, value in rows:
        per_post.setdefault(target_id, {})[name] = value
        totals[name] = totals.get(name, 0) + value
    top = sorted(
        ((pid, _engagement(c)["engagement"]) for pid, c in per_post.items()),
        key=lambda item: (-item[1], -item[0]),
    )[:TOP_POSTS]
    engagement = _engagement(totals)
    reach_n = int(reach or 0)
    return {
        "author_id": str(author_id),
        "posts": int(posts or 0),
        "impressions": int(impressions or 0),
        "reach": reach_n,
        **engagement,
        "engagement_rate": engagement["engagement"] / reach_n if reach_n else 0.0,
        "top_posts": [{"post_id": str(p), "engagement": e} for p, e in top],
    }
