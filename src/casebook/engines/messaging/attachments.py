"""Attachments: files uploaded into the blob store, named by messages, downloaded by those who
can see such a message.

Upload (`receive_upload`): the multipart body streams into the blob store chunk by chunk
(memory O(chunk)), refused with 413 as soon as it passes its kind's limit (image 10 MB, video
100 MB, voice 10 MB, file 100 MB by default; `configure_limits`). The content type is sniffed
from the first bytes (`filetype`), never taken from the client, and must fit the kind (an
"image" is a JPEG, PNG, GIF or WebP; a "voice" note is audio). The blob store computes the
SHA-256 while writing.

Images are then processed by a job (`make_variants`, registered by `register_jobs`): Pillow
makes a compressed variant (longest side ≤ 1280 px, JPEG, or WebP when the image has
transparency) and a 320 px thumbnail; the attachment is "processing" until then, then "ready"
(or "failed" for bytes Pillow cannot decode). Videos, voice notes and files are "ready" at once.

End-to-end attachments (`e2e=true`) are encrypted by the client before upload: they are stored
and served as opaque `application/octet-stream`, never sniffed or processed, and only messages of
end-to-end conversations may name them.

Access: the uploader, and the members of any conversation where a message that they can see
(sent after they joined) names the attachment. Messages name attachments in
`data["attachments"]` (a list of id strings, content.py); the writer calls `record_refs` in the
transaction that inserts the messages, which records one `MessagingAttachmentRef` per
(attachment, conversation). The download check is then one primary-key probe per conversation
the attachment was shared in, joined to the caller's membership: O(refs of the attachment).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import posixpath
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import filetype
from fastapi import APIRouter, Depends, Query, Request, Response
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel
from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import content
from casebook.engines.messaging.models import (
    MessagingAttachment,
    MessagingAttachmentRef,
    MessagingMember,
)
from casebook.engines.messaging.multipart import MultipartStream
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.blobs import blob_response
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import (
    PROBLEM_JSON,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Problem,
)
from casebook.platform.ids import IdStr, new_id
from casebook.platform.ratelimit import RateLimit, enforce

AttachmentKind = Literal["image", "video", "voice", "file"]
Variant = Literal["original", "compressed", "thumbnail"]

COMPRESSED_MAX_SIDE = 1280
THUMBNAIL_MAX_SIDE = 320
MAX_IMAGE_PIXELS = 50_000_000
"""Larger images are refused by the job (status "failed"): decoding one would take gigabytes."""
SNIFF_BYTES = 262
"""`filetype` decides from the first 261 bytes; a little more costs nothing."""
MULTIPART_OVERHEAD = 16 * 1024
"""Room for boundaries and part headers when a declared Content-Length is checked up front."""

MB = 1_000_000
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime", "video/x-matroska"})
VOICE_TYPES = frozenset(
    {
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/m4a",
        "audio/aac",
        "audio/x-wav",
        "audio/amr",
        "audio/x-flac",
        # Browsers' MediaRecorder records voice into a WebM container.
        "video/webm",
    }
)
ALLOWED_TYPES: dict[str, frozenset[str] | None] = {
    "image": IMAGE_TYPES,
    "video": VIDEO_TYPES,
    "voice": VOICE_TYPES,
    "file": None,  # anything; served as a download, never inline
}
OPAQUE = "application/octet-stream"
JOB_PREFIX = "messaging"


class AttachmentNotFound(NotFound):
    type_ = "attachment-not-found"
    title = "No such attachment"


class AttachmentTooLarge(PayloadTooLarge):
    type_ = "attachment-too-large"
    title = "The attachment is too large"


class UnsupportedAttachmentType(Problem):
    status = 415
    type_ = "unsupported-attachment-type"
    title = "The file's content does not fit the attachment kind"


class InvalidAttachment(InvalidInput):
    type_ = "invalid-attachment"
    title = "The attachment cannot be used here"


class AttachmentNotReady(Conflict):
    type_ = "attachment-not-ready"
    title = "The attachment is still being processed"


@dataclass(frozen=True)
class AttachmentLimits:
    """Largest upload per kind, in bytes, and how often a user may upload."""

    image: int = 10 * MB
    video: int = 100 * MB
    voice: int = 10 * MB
    file: int = 100 * MB
    uploads_per_minute: int = 60
    """Uploads one user may start per minute (a burst of as many, then that rate)."""

    def for_kind(self, kind: str) -> int:
        limit: int = getattr(self, kind)
        return limit


def _state_key(system: str) -> str:
    return f"messaging.attachments:{system}"


def limits(platform: Platform, system: str) -> AttachmentLimits:
    """The system's upload limits (the defaults until `configure_limits`)."""
    current = platform.state.get(_state_key(system))
    return current if isinstance(current, AttachmentLimits) else AttachmentLimits()


def configure_limits(platform: Platform, system: str, **changes: int) -> AttachmentLimits:
    """Change some of the system's upload limits in this process; returns the new limits."""
    if any(value < 1 for value in changes.values()):
        raise ValueError("limits are positive byte counts")
    updated = replace(limits(platform, system), **changes)
    platform.state[_state_key(system)] = updated
    return updated


def blob_key(system: str, attachment_id: int, name: str) -> str:
    return f"messaging/{system}/attachments/{attachment_id}/{name}"


def variants_job(system: str) -> str:
    """The job name that derives an image's variants for `system` (one per system, because each
    system's startup registers its own handlers)."""
    return f"{JOB_PREFIX}.{system}.attachment-variants"


# Upload


@dataclass
class _Sniffer:
    """Passes a stream through, deciding its content type from the first SNIFF_BYTES bytes."""

    kind: str
    e2e: bool
    content_type: str = OPAQUE
    _head: bytearray = field(default_factory=bytearray)

    async def wrap(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        decided = self.e2e  # ciphertext has no type to sniff
        async for chunk in chunks:
            if decided:
                yield chunk
                continue
            self._head += chunk
            if len(self._head) >= SNIFF_BYTES:
                self._decide()
                decided = True
                yield bytes(self._head)
        if not decided:
            self._decide()
            if self._head:
                yield bytes(self._head)

    def _decide(self) -> None:
        sniffed = filetype.guess_mime(bytes(self._head[:SNIFF_BYTES]))
        allowed = ALLOWED_TYPES[self.kind]
        if allowed is None:
            self.content_type = sniffed or OPAQUE
            return
        if sniffed not in allowed:
            names = ", ".join(sorted(allowed))
            raise UnsupportedAttachmentType(
                f"A {self.kind} attachment must be one of {names}; these bytes are "
                f"{sniffed or 'of no recognised type'}.",
                sniffed=sniffed,
            )
        self.content_type = sniffed


def clean_filename(raw: str | None) -> str:
    """The client's file name reduced to a safe display name: the last path segment, no control
    characters, at most 255 characters (the column's size)."""
    if not raw:
        return ""
    name = posixpath.basename(raw.replace("\\", "/"))
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:255]


async def receive_upload(
    platform: Platform,
    system: str,
    owner_id: int,
    *,
    kind: AttachmentKind,
    e2e: bool,
    content_type: str | None,
    content_length: int | None,
    body: AsyncIterable[bytes],
) -> MessagingAttachment:
    """Store the one file part (field `file`) of a multipart `body` as a new attachment.

    Streams into the blob store (memory O(chunk)); writes the row (status "processing" for a
    plain image, "ready" otherwise) and, for images, enqueues the variants job. Raises
    AttachmentTooLarge (413, nothing stored), UnsupportedAttachmentType (415), MalformedUpload
    or InvalidAttachment (422: no file part, an empty file, other fields, two files).
    """
    limit = limits(platform, system).for_kind(kind)
    if content_length is not None and content_length > limit + MULTIPART_OVERHEAD:
        raise AttachmentTooLarge(f"{kind} attachments are at most {limit:,} bytes.", limit=limit)
    form = MultipartStream(content_type, body)
    attachment_id = new_id()
    key = blob_key(system, attachment_id, "original")
    stored: tuple[int, str, str, str] | None = None  # size, sha256, content type, filename
    try:
        while (part := await form.next_part()) is not None:
            if part.name != "file" or part.filename is None:
                raise InvalidAttachment(
                    f"Send one file field named 'file' (got a field {part.name!r})."
                )
            if stored is not None:
                raise InvalidAttachment("One file per upload.")
            sniffer = _Sniffer(kind, e2e)
            try:
                info = await platform.blobs.put(key, sniffer.wrap(form.chunks()), max_size=limit)
            except PayloadTooLarge:
                raise AttachmentTooLarge(
                    f"{kind} attachments are at most {limit:,} bytes.", limit=limit
                ) from None
            stored = (info.size, info.sha256, sniffer.content_type, clean_filename(part.filename))
            if info.size == 0:
                raise InvalidAttachment("The file is empty.")
        if stored is None:
            raise InvalidAttachment("The upload has no file field named 'file'.")
        size, sha256, sniffed_type, filename = stored
        processing = kind == "image" and not e2e
        row = MessagingAttachment(
            id=attachment_id,
            system=system,
            owner_id=owner_id,
            kind=kind,
            content_type=OPAQUE if e2e else sniffed_type,
            filename=filename,
            size=size,
            sha256=sha256,
            blob_key=key,
            status="processing" if processing else "ready",
            e2e=e2e,
        )
        async with platform.db.session() as session:
            session.add(row)
    except BaseException:
        if stored is not None:
            with contextlib.suppress(Exception):
                await platform.blobs.delete(key)
        raise
    if processing:
        await platform.jobs.enqueue(
            variants_job(system), {"attachment_id": str(attachment_id)}, key=str(attachment_id)
        )
    return row


# Access


async def get_attachment(
    session: AsyncSession, system: str, attachment_id: int
) -> MessagingAttachment:
    """The attachment of `system` with this id; raises AttachmentNotFound."""
    row = await session.get(MessagingAttachment, attachment_id)
    if row is None or row.system != system:
        raise AttachmentNotFound(f"No attachment {attachment_id}.")
    return row


async def can_read(session: AsyncSession, row: MessagingAttachment, user_id: int) -> bool:
    """Whether `user_id` may download `row`: its uploader, or a member of a conversation in
    which a message they can see names it. One indexed query, O(refs of the attachment)."""
    if row.owner_id == user_id:
        return True
    shared = await session.scalar(
        select(MessagingAttachmentRef.conversation_id)
        .join(
            MessagingMember,
            and_(
                MessagingMember.conversation_id == MessagingAttachmentRef.conversation_id,
                MessagingMember.user_id == user_id,
            ),
        )
        .where(
            MessagingAttachmentRef.attachment_id == row.id,
            # History starts for a member after `joined_seq` and after what they cleared.
            MessagingAttachmentRef.seq > MessagingMember.joined_seq,
            MessagingAttachmentRef.seq > MessagingMember.cleared_seq,
        )
        .limit(1)
    )
    return shared is not None


async def readable_attachment(
    session: AsyncSession, system: str, attachment_id: int, user_id: int
) -> MessagingAttachment:
    """The attachment if `user_id` may read it; AttachmentNotFound otherwise (the same answer
    whether it does not exist or is someone else's, so ids cannot be probed)."""
    row = await get_attachment(session, system, attachment_id)
    if not await can_read(session, row, user_id):
        raise AttachmentNotFound(f"No attachment {attachment_id}.")
    return row


async def record_refs(session: AsyncSession, messages: Iterable[Mapping[str, Any]]) -> None:
    """Record, for new messages (their row values: conversation_id, seq, data), which
    conversations name which attachments, so those conversations' members may download them.

    The writer calls it in the transaction that inserts the messages (after checking that the
    sender owns each attachment). One multi-row upsert keeping, per (attachment, conversation),
    the LATEST seq naming it: whoever can see that message (joined before it, did not clear past
    it) may download, which is exactly who can see some message naming it. O(attachments named).
    """
    latest: dict[tuple[int, int], int] = {}
    for message in messages:
        for attachment_id in content.attachment_ids(message.get("data")):
            pair = (attachment_id, int(message["conversation_id"]))
            latest[pair] = max(latest.get(pair, 0), int(message["seq"]))
    if not latest:
        return
    rows = [
        {"attachment_id": attachment_id, "conversation_id": conversation_id, "seq": seq}
        for (attachment_id, conversation_id), seq in sorted(latest.items())
    ]
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(MessagingAttachmentRef).values(rows)
        statement: Any = pg.on_conflict_do_update(
            index_elements=["attachment_id", "conversation_id"],
            set_={"seq": func.greatest(MessagingAttachmentRef.seq, pg.excluded.seq)},
        )
    else:
        lite = sqlite.insert(MessagingAttachmentRef).values(rows)
        # SQLite's two-argument max() is the scalar maximum.
        statement = lite.on_conflict_do_update(
            index_elements=["attachment_id", "conversation_id"],
            set_={"seq": func.max(MessagingAttachmentRef.seq, lite.excluded.seq)},
        )
    await session.execute(statement)


def variant_blob(row: MessagingAttachment, variant: Variant) -> tuple[str, str]:
    """(blob key, content type) of one variant of `row`.

    Raises AttachmentNotReady (409) while an image is processing, AttachmentNotFound for a
    variant the attachment does not have (non-images, failed images have only "original").
    """
    if variant == "original":
        return row.blob_key, row.content_type
    if row.status == "processing":
        raise AttachmentNotReady("The image's variants are still being made.")
    entry = (row.variants or {}).get(variant)
    if entry is None:
        raise AttachmentNotFound(f"Attachment {row.id} has no {variant} variant.")
    return str(entry["blob_key"]), str(entry["content_type"])


def content_disposition(row: MessagingAttachment, variant: Variant) -> str:
    """Media of the kinds we checked play inline; files and ciphertext always download."""
    inline = not row.e2e and row.kind != "file"
    name = row.filename or f"attachment-{row.id}"
    if variant != "original":
        stem = name.rsplit(".", 1)[0]
        extension = "webp" if variant_content_type(row, variant) == "image/webp" else "jpg"
        name = f"{stem}-{variant}.{extension}"
    return f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(name)}"


def variant_content_type(row: MessagingAttachment, variant: Variant) -> str:
    entry = (row.variants or {}).get(variant) or {}
    return str(entry.get("content_type", row.content_type))


# Image variants (a job)


@dataclass(frozen=True)
class _Rendition:
    name: str
    data: bytes
    content_type: str
    width: int
    height: int


class _BadImage(Exception):
    """The bytes are not an image Pillow can safely decode."""


def _render_variants(original: bytes) -> tuple[int, int, list[_Rendition]]:
    """(width, height, [compressed, thumbnail]) of an image, after its EXIF rotation.

    CPU-bound (decode + two resamples + two encodes, O(pixels)); run in a worker thread.
    """
    try:
        with Image.open(io.BytesIO(original)) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise _BadImage(f"{opened.width}x{opened.height} is over {MAX_IMAGE_PIXELS} px")
            opened.seek(0)  # the first frame of an animation
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise _BadImage(str(exc)) from exc
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or (
        image.mode == "P" and "transparency" in image.info
    )
    image = image.convert("RGBA" if has_alpha else "RGB")
    renditions = []
    for name, side in (("compressed", COMPRESSED_MAX_SIDE), ("thumbnail", THUMBNAIL_MAX_SIDE)):
        copy = image.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)  # only ever shrinks
        out = io.BytesIO()
        if has_alpha:
            copy.save(out, "WEBP", quality=80, method=4)
            content_type = "image/webp"
        else:
            copy.save(out, "JPEG", quality=82, optimize=True, progressive=True)
            content_type = "image/jpeg"
        renditions.append(_Rendition(name, out.getvalue(), content_type, copy.width, copy.height))
    return image.width, image.height, renditions


async def make_variants(platform: Platform, system: str, attachment_id: int) -> str:
    """Derive a processing image's variants and mark it ready (or failed); returns the status.

    Idempotent (the job may run twice): variant keys are fixed per attachment, and the row only
    moves out of "processing" once. An attachment already ready or failed is left alone.
    """
    async with platform.db.session() as session:
        row = await session.get(MessagingAttachment, attachment_id)
        if row is None or row.system != system or row.status != "processing":
            return row.status if row is not None else "missing"
        key = row.blob_key
    original = await platform.blobs.get(key)
    try:
        width, height, renditions = await asyncio.to_thread(_render_variants, original)
    except _BadImage:
        values: dict[str, Any] = {"status": "failed"}
    else:
        variants: dict[str, Any] = {}
        for rendition in renditions:
            extension = "webp" if rendition.content_type == "image/webp" else "jpg"
            variant_key = blob_key(system, attachment_id, f"{rendition.name}.{extension}")
            info = await platform.blobs.put(variant_key, rendition.data)
            variants[rendition.name] = {
                "blob_key": variant_key,
                "content_type": rendition.content_type,
                "width": rendition.width,
                "height": rendition.height,
                "size": info.size,
            }
        values = {"status": "ready", "variants": variants, "width": width, "height": height}
    async with platform.db.session() as session:
        await session.execute(
            update(MessagingAttachment)
            .where(
                MessagingAttachment.id == attachment_id,
                MessagingAttachment.status == "processing",
            )
            .values(**values)
        )
    return str(values["status"])


def register_jobs(platform: Platform, system: str) -> None:
    """Register the variants job of `system` (call from the system's startup)."""

    async def run(platform: Platform, payload: dict[str, Any]) -> None:
        await make_variants(platform, system, int(payload["attachment_id"]))

    platform.jobs.register(variants_job(system), run, retries=3, timeout=120.0)


# HTTP


class VariantOut(BaseModel):
    content_type: str
    width: int
    height: int
    size: int
    url: str


class AttachmentOut(BaseModel):
    id: IdStr
    kind: str
    content_type: str
    filename: str
    size: int
    sha256: str
    status: str
    """"processing" (an image whose variants are being made), "ready" or "failed"."""
    e2e: bool
    width: int | None
    height: int | None
    created_at: datetime
    url: str
    """Where the original bytes are served (HTTP Range supported)."""
    variants: dict[str, VariantOut]


def attachment_out(system: str, row: MessagingAttachment) -> AttachmentOut:
    base = f"/api/{system}/attachments/{row.id}"
    variants = {
        name: VariantOut(
            content_type=entry["content_type"],
            width=entry["width"],
            height=entry["height"],
            size=entry["size"],
            url=f"{base}/{name}",
        )
        for name, entry in (row.variants or {}).items()
    }
    return AttachmentOut(
        id=row.id,
        kind=row.kind,
        content_type=row.content_type,
        filename=row.filename,
        size=row.size,
        sha256=row.sha256,
        status=row.status,
        e2e=row.e2e,
        width=row.width,
        height=row.height,
        created_at=row.created_at,
        url=f"{base}/original",
        variants=variants,
    )


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


def router(system: str) -> APIRouter:
    """Upload and download endpoints of `system`'s attachments."""
    api = APIRouter(tags=[system])

    @api.post(
        "/attachments",
        status_code=201,
        response_model=AttachmentOut,
        responses=_problems(401, 413, 415, 422, 429),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    }
                },
            }
        },
    )
    async def upload_attachment(
        request: Request,
        principal: CurrentPrincipal,
        platform: Annotated[Platform, Depends(get_platform)],
        kind: Annotated[AttachmentKind, Query(description="image, video, voice or file")],
        e2e: Annotated[bool, Query(description="Client-encrypted: stored opaque")] = False,
    ) -> AttachmentOut:
        """Upload one file as `multipart/form-data` with a single field `file`. The bytes stream
        into the blob store; their type is sniffed (415 when it does not fit `kind`), each kind
        has a size limit (413). Images come back "processing" and turn "ready" once their
        compressed variant and thumbnail exist. The attachment is yours until a message names
        it; then that conversation's members may download it too."""
        per_minute = limits(platform, system).uploads_per_minute
        await enforce(
            platform, f"{system}:attachments:{principal.user_id}", RateLimit.per_minute(per_minute)
        )
        declared = request.headers.get("content-length", "")
        row = await receive_upload(
            platform,
            system,
            principal.user_id,
            kind=kind,
            e2e=e2e,
            content_type=request.headers.get("content-type"),
            content_length=int(declared) if declared.isdecimal() else None,
            body=request.stream(),
        )
        return attachment_out(system, row)

    @api.get(
        "/attachments/{attachment_id}",
        response_model=AttachmentOut,
        responses=_problems(401, 404),
    )
    async def get_attachment_info(
        attachment_id: IdStr, principal: CurrentPrincipal, session: Session
    ) -> AttachmentOut:
        """An attachment's description: type, size, SHA-256, status and variants."""
        row = await readable_attachment(session, system, attachment_id, principal.user_id)
        return attachment_out(system, row)

    @api.get(
        "/attachments/{attachment_id}/{variant}",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "The bytes"},
            206: {"description": "The byte range asked for"},
            **_problems(401, 404, 409, 416),
        },
    )
    async def download_attachment(
        attachment_id: IdStr,
        variant: Variant,
        request: Request,
        principal: CurrentPrincipal,
        platform: Annotated[Platform, Depends(get_platform)],
    ) -> Response:
        """The bytes of the original, or of an image's `compressed` or `thumbnail` variant
        (409 while they are being made), with HTTP Range support (206/416)."""
        async with platform.db.session() as session:
            row = await readable_attachment(session, system, attachment_id, principal.user_id)
        key, media_type = variant_blob(row, variant)
        headers = {
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            # Uploaded bytes never run as a page of ours, whatever they are.
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Content-Disposition": content_disposition(row, variant),
        }
        if variant == "original":
            headers["ETag"] = f'"{row.sha256}"'
        return await blob_response(
            platform.blobs,
            key,
            range_header=request.headers.get("range"),
            media_type=media_type,
            headers=headers,
        )

    return api
