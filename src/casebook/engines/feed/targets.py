"""The registry of engagement targets: what can be reacted to, commented on, reported or shared.

A target kind ("post", "comment", "substack-post", "instagram-media", …) registers one resolver:

    async def resolve(session, system, viewer_id, target_id) -> int | None

It answers the user id of the target's owner when the target exists, is not deleted and
`viewer_id` (None: an anonymous reader) may see it in `system`; None otherwise. On top of the
resolver, the registry answers None to everyone but the owner for a target that moderation hid
from everyone (moderation.py). Every engagement path (reactions, comments, shares, reports,
notifications) asks the registry first and answers 404 on None, so a target the viewer may not
see is indistinguishable from a missing one and its audience rules are enforced in one place —
the module that owns the target.

The feed core registers "post" when `casebook.engines.feed.audience` is imported; comments
register "comment" when `casebook.engines.feed.comments` is imported; other systems register
their own kinds from their packages. Lookups are O(1) dict reads; the cost of a resolution is
the resolver's (usually one indexed row read plus the owner's audience check).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.engagement_models import FeedModeration
from casebook.platform.errors import NotFound

Resolver = Callable[[AsyncSession, str, int | None, int], Awaitable[int | None]]
"""`await resolver(session, system, viewer_id, target_id)` → owner user id, or None."""

MAX_KIND_LENGTH = 24
"""Target kinds are stored in String(24) columns of the engagement tables."""

_resolvers: dict[str, Resolver] = {}


class TargetNotFound(NotFound):
    """The target does not exist, is deleted, or the caller may not see it (the same answer)."""

    type_ = "feed/target-not-found"
    title = "Not found"


class UnknownTargetKind(ValueError):
    """A kind nobody registered: a programming error, never the caller's input (APIs validate
    kinds against `kinds()` before resolving)."""


def _name(resolver: Resolver) -> str:
    return f"{getattr(resolver, '__module__', '?')}.{getattr(resolver, '__qualname__', '?')}"


def register(kind: str, resolver: Resolver) -> None:
    """Make `kind` a target kind resolved by `resolver`.

    Registering the same function again (a module imported twice, a reload) is harmless;
    registering a different function for a kind already taken raises ValueError, because two
    owners of one kind would make its audience rules ambiguous.
    """
    if not kind or len(kind) > MAX_KIND_LENGTH or not kind.replace("-", "").isalnum():
        raise ValueError(f"target kind {kind!r}: 1-{MAX_KIND_LENGTH} letters, digits or dashes")
    existing = _resolvers.get(kind)
    if existing is not None and _name(existing) != _name(resolver):
        raise ValueError(f"target kind {kind!r} is already resolved by {_name(existing)}")
    _resolvers[kind] = resolver


def kinds() -> frozenset[str]:
    """The registered target kinds."""
    return frozenset(_resolvers)


def is_registered(kind: str) -> bool:
    return kind in _resolvers


async def resolve(
    session: AsyncSession, system: str, kind: str, viewer_id: int | None, target_id: int
) -> int | None:
    """The owner of target (`kind`, `target_id`) of `system` if `viewer_id` may see it, else None.

    Costs the resolver plus one primary-key probe of the moderation table. Raises
    `UnknownTargetKind` for a kind nobody registered.
    """
    resolver = _resolvers.get(kind)
    if resolver is None:
        raise UnknownTargetKind(kind)
    owner = await resolver(session, system, viewer_id, target_id)
    if owner is None or owner == viewer_id:
        return owner
    # Content moderation hid from everyone is gone for all but its owner.
    hidden = await session.get(FeedModeration, (system, kind, target_id))
    return None if hidden is not None and hidden.hidden else owner


async def require(
    session: AsyncSession, system: str, kind: str, viewer_id: int | None, target_id: int
) -> int:
    """`resolve`, raising `TargetNotFound` (404) instead of answering None."""
    owner = await resolve(session, system, kind, viewer_id, target_id)
    if owner is None:
        raise TargetNotFound(f"No {kind} {target_id} here.")
    return owner
