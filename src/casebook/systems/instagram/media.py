"""Uploads and the media processing job.

An upload streams straight into the blob store (`instagram/originals/<id>`, at most
`MAX_PHOTO_BYTES`/`MAX_VIDEO_BYTES`), its type is sniffed from its first bytes (the client's
Content-Type is not trusted), and a `pending` row plus the job `instagram.process-media` (keyed by
the media id, so a re-enqueue is a no-op) are written. The job (`process_media`) runs
`processing.process_photo` on the photo (or on a poster frame ffmpeg took from the video), stores
`instagram/media/<id>/<width>.jpg` for every variant, marks the row `ready` and deletes the
original — the only copy that still carried the uploader's EXIF/GPS. It is idempotent: a retry
finds the row ready (or failed) and only finishes the clean-up.

Who may fetch a rendition (`readable_media`): its owner; anyone who may see the post it is
attached to (the feed engine's audience rule); anyone who may see the live story it is in;
anyone not blocked either way when it is the owner's profile picture.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import filetype
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.audience import is_blocked_between, visible_post
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.instagram import processing
from casebook.systems.instagram.models import InstagramMedia, InstagramStory

SLUG = "instagram"
JOB = "instagram.process-media"
MAX_PHOTO_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 100 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
VIDEO_TYPES = {"video/mp4", "video/quicktime", "video/webm", "video/x-matroska"}
SNIFF_BYTES = 262

log = structlog.get_logger("casebook.instagram")


class MediaNotFound(NotFound):
    type_ = "instagram/media-not-found"
    title = "No such media"


class UnsupportedMedia(InvalidInput):
    type_ = "instagram/unsupported-media"
    title = "Unsupported media"


class MediaNotReady(Conflict):
    type_ = "instagram/media-not-ready"
    title = "The media is still being processed"


class MediaUnusable(Conflict):
    type_ = "instagram/media-unusable"
    title = "The media cannot be used"


def original_key(media_id: int) -> str:
    return f"instagram/originals/{media_id}"


def variant_key(media_id: int, width: int) -> str:
    return f"instagram/media/{media_id}/{width}.jpg"


def media_view(media: InstagramMedia) -> dict[str, Any]:
    """The API view of a media item: status, size, blurhash and the URLs of its renditions."""
    base = f"/api/{SLUG}/media/{media.id}"
    return {
        "id": str(media.id),
        "kind": media.kind,
        "status": media.status,
        "width": media.width,
        "height": media.height,
        "blurhash": media.blurhash,
        "duration_ms": media.duration_ms,
        "error": media.error,
        "variants": {str(w): f"{base}/{w}.jpg" for w in media.variants},
    }


async def upload(
    platform: Platform, owner_id: int, chunks: Any, declared_type: str | None
) -> InstagramMedia:
    """Store an upload and enqueue its processing. `chunks` is an async iterator of bytes.

    Raises `UnsupportedMedia` (422: not a photo/video type this pipeline reads, or empty) and
    `PayloadTooLarge` (413). Nothing stays in the blob store after a refusal.
    """
    is_video = (declared_type or "").startswith("video/")
    limit = MAX_VIDEO_BYTES if is_video else MAX_PHOTO_BYTES
    media_id = new_id()
    key = original_key(media_id)
    info = await platform.blobs.put(key, chunks, max_size=limit)
    head = await platform.blobs.get(key) if info.size <= SNIFF_BYTES else None
    if head is None:
        reader = await platform.blobs.open_range(key, 0, SNIFF_BYTES)
        try:
            head = b"".join([chunk async for chunk in reader])
        finally:
            await reader.aclose()
    sniffed = filetype.guess_mime(head) if head else None
    if sniffed in PHOTO_TYPES:
        kind = "photo"
    elif sniffed in VIDEO_TYPES:
        kind = "video"
    else:
        await platform.blobs.delete(key)
        raise UnsupportedMedia("Upload a JPEG, PNG, WebP or GIF photo, or an MP4/MOV/WebM video.")
    if kind == "photo" and info.size > MAX_PHOTO_BYTES:
        await platform.blobs.delete(key)
        raise UnsupportedMedia(f"A photo is at most {MAX_PHOTO_BYTES} bytes.")
    async with platform.db.session() as session:
        media = InstagramMedia(
            id=media_id,
            owner_id=owner_id,
            kind=kind,
            content_type=sniffed,
            size_bytes=info.size,
            status="pending",
            variants=[],
        )
        session.add(media)
    await platform.jobs.enqueue(JOB, {"media_id": str(media_id)}, key=str(media_id))
    return media


async def process_media(platform: Platform, payload: dict[str, Any]) -> None:
    """The processing job (see the module docstring). Idempotent."""
    media_id = int(payload["media_id"])
    async with platform.db.session() as session:
        media = await session.get(InstagramMedia, media_id)
        if media is None:
            return
        status, kind = media.status, media.kind
    key = original_key(media_id)
    if status != "pending":
        await platform.blobs.delete(key)
        return
    try:
        data = await platform.blobs.get(key)
    except NotFound:
        return  # a run that finished before us already deleted it
    duration_ms: int | None = None
    try:
        if kind == "video":
            poster = await asyncio.to_thread(processing.video_poster, data)
            duration_ms = poster.duration_ms
            data = poster.frame
        result = await asyncio.to_thread(processing.process_photo, data)
    except processing.MediaRejected as rejected:
        await _mark_failed(platform, media_id, str(rejected))
        await platform.blobs.delete(key)
        return
    for width, jpeg in result.variants.items():
        await platform.blobs.put(variant_key(media_id, width), jpeg)
    async with platform.db.session() as session:
        media = await session.get(InstagramMedia, media_id)
        if media is not None and media.status == "pending":
            media.status = "ready"
            media.width, media.height = result.width, result.height
            media.blurhash = result.blurhash
            media.variants = sorted(result.variants, reverse=True)
            media.duration_ms = duration_ms
            media.processed_at = utcnow()
    await platform.blobs.delete(key)
    log.info("instagram.media_processed", media_id=media_id, variants=list(result.variants))


async def _mark_failed(platform: Platform, media_id: int, reason: str) -> None:
    async with platform.db.session() as session:
        media = await session.get(InstagramMedia, media_id)
        if media is not None and media.status == "pending":
            media.status = "failed"
            media.error = reason[:200]


async def own_media(session: AsyncSession, owner_id: int, media_id: int) -> InstagramMedia:
    """The caller's own media item; `MediaNotFound` (404) for anyone else's or a missing one."""
    media = await session.get(InstagramMedia, media_id)
    if media is None or media.owner_id != owner_id:
        raise MediaNotFound(f"No media {media_id}.")
    return media


def check_usable(media: InstagramMedia) -> None:
    """Refuse media that is not ready, failed, or already used by a post or story."""
    if media.status == "pending":
        raise MediaNotReady(f"Media {media.id} is still being processed; try again shortly.")
    if media.status != "ready":
        raise MediaUnusable(f"Media {media.id} could not be processed: {media.error}")
    if media.post_id is not None or media.story_id is not None:
        raise MediaUnusable(f"Media {media.id} is already part of a post or story.")


async def readable_media(
    session: AsyncSession, viewer_id: int | None, media_id: int, now: datetime
) -> InstagramMedia:
    """The media item if the viewer may fetch it (see the module docstring); else
    `MediaNotFound` (404), the same answer as for a missing one. At most one post visibility
    check (six probes) or one story check."""
    media = await session.get(InstagramMedia, media_id)
    if media is None:
        raise MediaNotFound(f"No media {media_id}.")
    if viewer_id is not None and media.owner_id == viewer_id:
        return media
    if media.post_id is not None:
        if await visible_post(session, SLUG, viewer_id, media.post_id) is not None:
            return media
    elif media.story_id is not None:
        from casebook.systems.instagram import stories

        story = await session.get(InstagramStory, media.story_id)
        if story is not None and await stories.may_view(session, viewer_id, story, now):
            return media
    from casebook.systems.instagram import profiles

    if await profiles.is_avatar(session, media) and (
        viewer_id is None or not await is_blocked_between(session, SLUG, viewer_id, media.owner_id)
    ):
        return media
    raise MediaNotFound(f"No media {media_id}.")


async def uploads_of(session: AsyncSession, owner_id: int, limit: int) -> list[InstagramMedia]:
    """The owner's newest uploads (any status). One index range read."""
    rows = await session.scalars(
        select(InstagramMedia)
        .where(InstagramMedia.owner_id == owner_id)
        .order_by(InstagramMedia.id.desc())
        .limit(limit)
    )
    return list(rows)
