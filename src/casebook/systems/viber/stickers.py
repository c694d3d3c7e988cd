"""Stickers: packs of named images, sent as engine messages of kind "sticker".

A sticker's image is an engine attachment (uploaded through the engine's blob store and image
job, so it has a compressed variant and a thumbnail). Packs are public: any signed-in user lists
them and fetches their images (`GET /stickers/{id}/{variant}`), whoever uploaded them.

Sending a sticker to a group (`POST /conversations/{id}/stickers {pack, sticker}`) checks that
the sticker exists and appends an engine message `{kind: "sticker", data: {pack, sticker}}`:
one row whatever the image's size, the image itself fetched once per device and cached. In an
end-to-end 1:1 chat the server takes ciphertext only, so the client puts the same
`{pack, sticker}` inside the encrypted payload (the engine refuses a clear sticker there).

GIFs are engine attachments of type image/gif sent as media messages (the original keeps its
animation; the engine's variants are still frames for previews).

Demo packs are drawn with Pillow (`draw_demo_pack`), never downloaded.
"""

from __future__ import annotations

import io
import math
import re
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from PIL import Image, ImageDraw
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import attachments
from casebook.engines.messaging.models import MessagingAttachment
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.blobs import blob_response
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON, Conflict, Forbidden, InvalidInput, NotFound
from casebook.platform.ids import IdStr, new_id
from casebook.platform.ratelimit import RateLimit, enforce
from casebook.systems.viber.models import ViberSticker, ViberStickerPack

PlatformDep = Annotated[Platform, Depends(get_platform)]
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_STICKERS_PER_PACK = 120
STICKER_SIDE = 256


class StickerNotFound(NotFound):
    type_ = "viber/sticker-not-found"
    title = "No such sticker"


class PackNameTaken(Conflict):
    type_ = "viber/pack-name-taken"
    title = "A sticker pack has this name"


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for s in statuses}


def _check_name(value: str, what: str) -> str:
    if not NAME.fullmatch(value):
        raise InvalidInput(
            f"A {what} name is 1-64 lower-case letters, digits, '-' or '_'.", field="name"
        )
    return value


# Service ---------------------------------------------------------------------------------------


async def create_pack(
    session: AsyncSession, name: str, title: str, owner_id: int | None
) -> ViberStickerPack:
    """A new empty pack; raises PackNameTaken (409) when the name is used."""
    pack = ViberStickerPack(
        id=new_id(), name=_check_name(name, "pack"), title=title, owner_id=owner_id
    )
    try:
        async with session.begin_nested():
            session.add(pack)
    except IntegrityError:
        raise PackNameTaken(f"The pack name {name!r} is taken.") from None
    return pack


async def pack_by_name(session: AsyncSession, name: str) -> ViberStickerPack:
    pack = await session.scalar(select(ViberStickerPack).where(ViberStickerPack.name == name))
    if pack is None:
        raise StickerNotFound(f"No sticker pack {name!r}.")
    return pack


async def add_sticker(
    session: AsyncSession,
    system: str,
    pack: ViberStickerPack,
    uploader_id: int,
    *,
    name: str,
    emoji: str,
    attachment_id: int,
) -> ViberSticker:
    """Add the uploader's image attachment to `pack` as sticker `name`.

    Raises AttachmentNotFound (not the uploader's, another system's), InvalidInput (not a clear
    image), Conflict (the name is taken in the pack, or the pack is full)."""
    row = await attachments.get_attachment(session, system, attachment_id)
    if row.owner_id != uploader_id:
        raise attachments.AttachmentNotFound(f"No attachment {attachment_id} of yours.")
    if row.kind != "image" or row.e2e:
        raise InvalidInput("A sticker is a clear (not end-to-end) image attachment.")
    count = await session.scalar(
        select(func.count()).select_from(ViberSticker).where(ViberSticker.pack_id == pack.id)
    )
    if (count or 0) >= MAX_STICKERS_PER_PACK:
        raise Conflict(f"A pack holds at most {MAX_STICKERS_PER_PACK} stickers.")
    sticker = ViberSticker(
        id=new_id(),
        pack_id=pack.id,
        name=_check_name(name, "sticker"),
        emoji=emoji,
        attachment_id=attachment_id,
    )
    try:
        async with session.begin_nested():
            session.add(sticker)
    except IntegrityError:
        raise Conflict(f"The pack already has a sticker named {name!r}.") from None
    return sticker


async def find_sticker(
    session: AsyncSession, pack_name: str, sticker_name: str
) -> tuple[ViberStickerPack, ViberSticker]:
    """The sticker `sticker_name` of pack `pack_name`; raises StickerNotFound. Two index
    probes."""
    found = (
        await session.execute(
            select(ViberStickerPack, ViberSticker)
            .join(ViberSticker, ViberSticker.pack_id == ViberStickerPack.id)
            .where(ViberStickerPack.name == pack_name, ViberSticker.name == sticker_name)
        )
    ).first()
    if found is None:
        raise StickerNotFound(f"No sticker {sticker_name!r} in pack {pack_name!r}.")
    return found[0], found[1]


def sticker_view(pack: ViberStickerPack, sticker: ViberSticker, prefix: str) -> dict[str, Any]:
    return {
        "id": str(sticker.id),
        "pack": pack.name,
        "name": sticker.name,
        "emoji": sticker.emoji,
        "attachment_id": str(sticker.attachment_id),
        "image_url": f"{prefix}/stickers/{sticker.id}/original",
        "thumbnail_url": f"{prefix}/stickers/{sticker.id}/thumbnail",
    }


async def pack_view(session: AsyncSession, pack: ViberStickerPack, prefix: str) -> dict[str, Any]:
    stickers = await session.scalars(
        select(ViberSticker).where(ViberSticker.pack_id == pack.id).order_by(ViberSticker.id)
    )
    return {
        "id": str(pack.id),
        "name": pack.name,
        "title": pack.title,
        "owner_id": None if pack.owner_id is None else str(pack.owner_id),
        "stickers": [sticker_view(pack, s, prefix) for s in stickers],
    }


# Demo art --------------------------------------------------------------------------------------

DEMO_PACKS: dict[str, tuple[str, tuple[tuple[str, str, tuple[int, int, int]], ...]]] = {
    "purple-faces": (
        "Purple faces",
        (
            ("smile", "🙂", (125, 60, 152)),
            ("laugh", "😄", (155, 89, 182)),
            ("wink", "😉", (142, 68, 173)),
            ("sad", "🙁", (108, 52, 131)),
        ),
    ),
    "weather": (
        "Weather",
        (
            ("sun", "☀", (241, 196, 15)),
            ("cloud", "☁", (149, 165, 166)),
            ("rain", "🌧", (52, 152, 219)),
        ),
    ),
}


def draw_sticker(name: str, colour: tuple[int, int, int]) -> bytes:
    """A 256x256 transparent PNG of a face or weather symbol named `name`. O(pixels)."""
    image = Image.new("RGBA", (STICKER_SIDE, STICKER_SIDE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c, r = STICKER_SIDE // 2, STICKER_SIDE // 2 - 16
    ink = (40, 20, 50, 255)
    if name in ("sun", "cloud", "rain"):
        if name == "sun":
            for step in range(12):
                angle = step * math.pi / 6
                x, y = c + math.cos(angle) * (r + 8), c + math.sin(angle) * (r + 8)
                draw.line((c, c, x, y), fill=(*colour, 255), width=8)
            draw.ellipse((c - r * 0.6, c - r * 0.6, c + r * 0.6, c + r * 0.6), fill=(*colour, 255))
        else:
            for dx, dy, rr in ((-40, 10, 45), (20, -10, 60), (60, 20, 40)):
                draw.ellipse(
                    (c + dx - rr, c + dy - rr, c + dx + rr, c + dy + rr), fill=(*colour, 255)
                )
            if name == "rain":
                for dx in (-50, -10, 30, 70):
                    draw.line(
                        (c + dx, c + 70, c + dx - 12, c + 105), fill=(41, 128, 185, 255), width=7
                    )
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()
    draw.ellipse((c - r, c - r, c + r, c + r), fill=(*colour, 255), outline=ink, width=6)
    eye_y = c - r // 3
    for side in (-1, 1):
        x = c + side * r // 3
        if name == "wink" and side == 1:
            draw.line((x - 14, eye_y, x + 14, eye_y), fill=ink, width=6)
        else:
            draw.ellipse((x - 10, eye_y - 14, x + 10, eye_y + 14), fill=ink)
    box = (c - r // 2, c - r // 6, c + r // 2, c + r // 2)
    if name == "sad":
        draw.arc((box[0], box[1] + r // 3, box[2], box[3] + r // 3), 200, 340, fill=ink, width=6)
    elif name == "laugh":
        draw.chord(box, 0, 180, fill=ink)
    else:
        draw.arc(box, 20, 160, fill=ink, width=6)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _multipart(data: bytes, filename: str, boundary: str) -> AsyncIterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
    ).encode()
    yield data
    yield f"\r\n--{boundary}--\r\n".encode()


async def upload_image(
    platform: Platform, system: str, owner_id: int, data: bytes, filename: str
) -> MessagingAttachment:
    """Store `data` as an image attachment of `owner_id` through the engine's upload path (the
    same sniffing, limits and image job as a client's upload)."""
    boundary = secrets.token_hex(12)
    return await attachments.receive_upload(
        platform,
        system,
        owner_id,
        kind="image",
        e2e=False,
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=None,
        body=_multipart(data, filename, boundary),
    )


async def install_demo_packs(platform: Platform, system: str, uploader_id: int) -> int:
    """Create the demo packs that do not exist yet (idempotent); returns how many were made."""
    made = 0
    for pack_name, (title, stickers) in DEMO_PACKS.items():
        async with platform.db.session() as session:
            exists = await session.scalar(
                select(ViberStickerPack.id).where(ViberStickerPack.name == pack_name)
            )
        if exists is not None:
            continue
        uploaded = [
            (
                name,
                emoji,
                await upload_image(
                    platform, system, uploader_id, draw_sticker(name, colour), f"{name}.png"
                ),
            )
            for name, emoji, colour in stickers
        ]
        async with platform.db.session(write=True) as session:
            try:
                pack = await create_pack(session, pack_name, title, None)
            except PackNameTaken:
                continue  # another process made it meanwhile
            for name, emoji, row in uploaded:
                await add_sticker(
                    session,
                    system,
                    pack,
                    uploader_id,
                    name=name,
                    emoji=emoji,
                    attachment_id=row.id,
                )
        made += 1
    return made


# HTTP ------------------------------------------------------------------------------------------


class PackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=100)


class StickerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    emoji: str = Field(default="", max_length=16)
    attachment_id: IdStr


class SendStickerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    pack: str = Field(min_length=1, max_length=64)
    sticker: str = Field(min_length=1, max_length=64)
    device_id: IdStr | None = None
    reply_to: int | None = Field(default=None, ge=1)


def router(system: str) -> APIRouter:
    """Sticker packs and sending stickers, under /api/viber."""
    api = APIRouter(tags=[system])
    prefix = f"/api/{system}"

    @api.get("/sticker-packs", responses=_problems(401))
    async def list_packs(principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
        """Every sticker pack with its stickers, oldest pack first."""
        packs = await session.scalars(select(ViberStickerPack).order_by(ViberStickerPack.id))
        return {"items": [await pack_view(session, p, prefix) for p in packs]}

    @api.post("/sticker-packs", status_code=201, responses=_problems(401, 409, 422))
    async def new_pack(
        body: PackIn, principal: CurrentPrincipal, session: Session
    ) -> dict[str, Any]:
        """Create a pack of your own (stickers are added from your image uploads)."""
        pack = await create_pack(session, body.name, body.title, principal.user_id)
        return await pack_view(session, pack, prefix)

    @api.get("/sticker-packs/{name}", responses=_problems(401, 404))
    async def get_pack(
        name: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, session: Session
    ) -> dict[str, Any]:
        return await pack_view(session, await pack_by_name(session, name), prefix)

    @api.post(
        "/sticker-packs/{name}/stickers",
        status_code=201,
        responses=_problems(401, 403, 404, 409, 422),
    )
    async def new_sticker(
        name: Annotated[str, Path(max_length=64)],
        body: StickerIn,
        principal: CurrentPrincipal,
        session: Session,
    ) -> dict[str, Any]:
        """Add one of your uploaded images (`POST /attachments?kind=image`) to your pack."""
        pack = await pack_by_name(session, name)
        if pack.owner_id != principal.user_id:
            raise Forbidden("Only the pack's owner adds stickers to it.")
        sticker = await add_sticker(
            session,
            system,
            pack,
            principal.user_id,
            name=body.name,
            emoji=body.emoji,
            attachment_id=body.attachment_id,
        )
        return sticker_view(pack, sticker, prefix)

    @api.get(
        "/stickers/{sticker_id}/{variant}",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, **_problems(401, 404, 409)},
    )
    async def sticker_image(
        sticker_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        variant: Literal["original", "thumbnail"],
        request: Request,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> Response:
        """A sticker's image (stickers are public: any signed-in user may fetch any)."""
        async with platform.db.session() as session:
            row = await session.scalar(
                select(MessagingAttachment)
                .join(ViberSticker, ViberSticker.attachment_id == MessagingAttachment.id)
                .where(ViberSticker.id == sticker_id)
            )
        if row is None:
            raise StickerNotFound(f"No sticker {sticker_id}.")
        key, media_type = attachments.variant_blob(row, variant)
        return await blob_response(
            platform.blobs,
            key,
            range_header=request.headers.get("range"),
            media_type=media_type,
            headers={
                "Cache-Control": "public, max-age=86400, immutable",
                "X-Content-Type-Options": "nosniff",
                "ETag": f'"{row.sha256}-{variant}"',
            },
        )

    @api.post(
        "/conversations/{conversation_id}/stickers",
        status_code=201,
        responses=_problems(401, 403, 404, 422, 429),
    )
    async def send_sticker(
        conversation_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        body: SendStickerIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        response: Response,
    ) -> dict[str, Any]:
        """Send a sticker (an engine message of kind "sticker" naming pack and sticker). An
        end-to-end chat refuses it in clear (422): encrypt `{pack, sticker}` instead."""
        state = messenger(platform, system)
        await enforce(
            platform,
            f"messaging:{system}:send:{principal.user_id}",
            RateLimit(state.config.send_rate, state.config.send_burst),
        )
        async with platform.db.session() as session:
            await find_sticker(session, body.pack, body.sticker)
        data: dict[str, Any] = {"pack": body.pack, "sticker": body.sticker}
        if body.reply_to is not None:
            data["reply_to"] = body.reply_to
        sent = await state.writer.send(
            SendRequest(
                conversation_id=conversation_id,
                sender_id=principal.user_id,
                client_id=body.client_id,
                kind="sticker",
                data=data,
                sender_device_id=body.device_id,
            )
        )
        if sent.duplicate:
            response.status_code = 200
        return sent.view

    return api
