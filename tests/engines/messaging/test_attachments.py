"""Attachments through `/api/instant-messenger/attachments`: streaming multipart upload into the
blob store, per-kind limits, sniffed content types, image variants made by a job, HTTP Range
downloads, and who may download what."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from casebook.engines.messaging import attachments
from casebook.engines.messaging.models import MessagingAttachment, MessagingAttachmentRef
from casebook.platform.blobs import DirectoryBlobStore
from casebook.platform.context import Platform
from tests.engines.messaging.conftest import API, SYSTEM, ChatUser, Conversation

FEATURE = pytest.mark.feature("instant-messenger", "media-sharing")
WAIT = 10.0


@dataclass
class Account:
    user_id: int
    headers: dict[str, str]


async def _account(client: httpx.AsyncClient) -> Account:
    email = f"media-{secrets.token_hex(5)}@example.com"
    password = secrets.token_urlsafe(12)
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "M"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return Account(
        int(registered.json()["id"]), {"Authorization": f"Bearer {login.json()['access_token']}"}
    )


@pytest.fixture
async def uploader(client: httpx.AsyncClient) -> Account:
    return await _account(client)


def _image(width: int, height: int, fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    color: Any = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    image = Image.new(mode, (width, height), color)
    # A gradient so the encoder has real content to compress.
    for x in range(0, width, max(1, width // 50)):
        image.putpixel((x, height // 2), (0, 0, 0, 255) if mode == "RGBA" else (0, 0, 0))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 300
OGG_HEAD = b"OggS\x00\x02" + b"\x00" * 300


async def _upload(
    client: httpx.AsyncClient,
    who: Account | ChatUser,
    data: bytes,
    *,
    kind: str = "image",
    filename: str = "photo.jpg",
    claimed_type: str = "text/plain",
    e2e: bool = False,
) -> httpx.Response:
    params: dict[str, str] = {"kind": kind}
    if e2e:
        params["e2e"] = "true"
    return await client.post(
        f"{API}/attachments",
        params=params,
        files={"file": (filename, data, claimed_type)},
        headers=who.headers,
    )


def _blob_files(platform: Platform) -> list[Path]:
    assert isinstance(platform.blobs, DirectoryBlobStore)
    root = platform.blobs.root / "messaging"
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file()]


async def _rows(platform: Platform) -> int:
    async with platform.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MessagingAttachment)) or 0)


async def _wait_processed(platform: Platform, attachment_id: str) -> None:
    job = await platform.jobs.get(f"{attachments.variants_job(SYSTEM)}:{attachment_id}")
    assert job is not None
    async with asyncio.timeout(WAIT):
        await platform.jobs.wait(job.id)


@FEATURE
async def test_an_image_is_stored_with_its_sniffed_type_and_gets_a_compressed_variant_and_thumbnail(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    data = _image(2000, 1500)
    response = await _upload(client, uploader, data, claimed_type="text/html")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == "image/jpeg"  # from the bytes, not the client's claim
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size"] == len(data)
    assert body["filename"] == "photo.jpg"
    assert body["status"] in {"processing", "ready"}

    await _wait_processed(platform, body["id"])
    info = (await client.get(f"{API}/attachments/{body['id']}", headers=uploader.headers)).json()
    assert info["status"] == "ready"
    assert (info["width"], info["height"]) == (2000, 1500)
    compressed, thumbnail = info["variants"]["compressed"], info["variants"]["thumbnail"]
    assert (compressed["width"], compressed["height"]) == (1280, 960)
    assert (thumbnail["width"], thumbnail["height"]) == (320, 240)

    for variant, size in (("compressed", (1280, 960)), ("thumbnail", (320, 240))):
        got = await client.get(info["variants"][variant]["url"], headers=uploader.headers)
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(got.content)) as decoded:
            assert decoded.format == "JPEG"
            assert decoded.size == size
    original = await client.get(info["url"], headers=uploader.headers)
    assert original.content == data
    assert original.headers["etag"] == f'"{body["sha256"]}"'
    assert original.headers["x-content-type-options"] == "nosniff"


@FEATURE
async def test_a_transparent_image_gets_webp_variants_and_small_images_are_not_enlarged(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    data = _image(400, 100, "PNG", "RGBA")
    body = (await _upload(client, uploader, data, filename="logo.png")).json()
    assert body["content_type"] == "image/png"
    await _wait_processed(platform, body["id"])
    info = (await client.get(f"{API}/attachments/{body['id']}", headers=uploader.headers)).json()
    assert info["variants"]["compressed"]["content_type"] == "image/webp"
    assert (info["variants"]["compressed"]["width"], info["variants"]["compressed"]["height"]) == (
        400,
        100,
    )
    assert (info["variants"]["thumbnail"]["width"], info["variants"]["thumbnail"]["height"]) == (
        320,
        80,
    )
    thumb = await client.get(info["variants"]["thumbnail"]["url"], headers=uploader.headers)
    with Image.open(io.BytesIO(thumb.content)) as decoded:
        assert decoded.format == "WEBP"
        assert decoded.mode == "RGBA"


@FEATURE
async def test_each_kind_accepts_only_content_of_that_kind(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    pdf = b"%PDF-1.7\n" + os.urandom(500)
    refused = await _upload(client, uploader, pdf, kind="image", claimed_type="image/jpeg")
    assert refused.status_code == 415
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["sniffed"] == "application/pdf"
    assert (await _upload(client, uploader, _image(10, 10), kind="voice")).status_code == 415
    assert (await _upload(client, uploader, OGG_HEAD, kind="video")).status_code == 415

    video = await _upload(client, uploader, MP4_HEAD, kind="video", filename="clip.mp4")
    assert video.status_code == 201 and video.json()["content_type"] == "video/mp4"
    assert video.json()["status"] == "ready"
    voice = await _upload(client, uploader, OGG_HEAD, kind="voice", filename="note.ogg")
    assert voice.status_code == 201 and voice.json()["content_type"] == "audio/ogg"
    document = await _upload(client, uploader, pdf, kind="file", filename="a.pdf")
    assert document.status_code == 201 and document.json()["content_type"] == "application/pdf"
    # Whatever a "file" holds, it is served as a download that no browser runs as a page.
    page = b"<html><script>alert(1)</script></html>"
    html = await _upload(
        client, uploader, page, kind="file", filename="../../x.html", claimed_type="text/html"
    )
    assert html.status_code == 201
    assert html.json()["content_type"] == "application/octet-stream"
    assert html.json()["filename"] == "x.html"
    served = await client.get(html.json()["url"], headers=uploader.headers)
    assert served.content == page
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in served.headers["content-security-policy"]
    # The refused uploads left nothing behind.
    assert await _rows(platform) == 4
    assert len(_blob_files(platform)) == 4


@FEATURE
async def test_an_upload_over_its_kinds_limit_is_refused_while_streaming_and_leaves_nothing(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    attachments.configure_limits(platform, SYSTEM, voice=2000, file=100_000)
    declared = await _upload(client, uploader, OGG_HEAD + b"\x00" * 5000, kind="voice")
    assert declared.status_code == 413
    assert declared.json()["limit"] == 2000

    # No Content-Length: the limit is enforced on the bytes as they stream in.
    boundary = "casebookboundary"
    received: list[int] = []

    async def chunked_body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        for _ in range(200):  # 200 x 64 KiB = 12.5 MiB would follow
            received.append(1)
            yield b"\x00" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = await client.post(
        f"{API}/attachments",
        params={"kind": "file"},
        content=chunked_body(),
        headers={**uploader.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert streamed.status_code == 413
    assert len(received) < 10  # refused after ~100 kB, not after reading everything
    assert await _rows(platform) == 0
    assert _blob_files(platform) == []
    assert not [p for p in platform.blobs.root.rglob(".tmp-*")]  # type: ignore[attr-defined]

    at_limit = await _upload(
        client, uploader, OGG_HEAD + b"\x00" * (2000 - len(OGG_HEAD)), kind="voice"
    )
    assert at_limit.status_code == 201
    assert at_limit.json()["size"] == 2000


async def test_malformed_uploads_get_a_problem_and_store_nothing(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    url = f"{API}/attachments"
    not_multipart = await client.post(
        url, params={"kind": "file"}, content=b"raw", headers=uploader.headers
    )
    assert not_multipart.status_code == 422
    assert not_multipart.json()["type"] == "/problems/malformed-upload"
    no_file = await client.post(
        url,
        params={"kind": "file"},
        data={"caption": "hi"},
        files={"other": ("a", b"x")},
        headers=uploader.headers,
    )
    assert no_file.status_code == 422
    two_files = await client.post(
        url,
        params={"kind": "file"},
        files=[("file", ("a.bin", b"first")), ("file", ("b.bin", b"second"))],
        headers=uploader.headers,
    )
    assert two_files.status_code == 422
    empty = await _upload(client, uploader, b"", kind="file")
    assert empty.status_code == 422
    bad_kind = await _upload(client, uploader, b"abc", kind="spreadsheet")
    assert bad_kind.status_code == 422
    truncated = await client.post(
        url,
        params={"kind": "file"},
        content=b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
        headers={**uploader.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert truncated.status_code == 422
    anonymous = await client.post(url, params={"kind": "file"}, files={"file": ("a", b"x")})
    assert anonymous.status_code == 401
    assert await _rows(platform) == 0
    assert _blob_files(platform) == []


@FEATURE
async def test_downloads_honour_http_range(client: httpx.AsyncClient, uploader: Account) -> None:
    data = os.urandom(10_000)
    body = (await _upload(client, uploader, data, kind="file", filename="blob.bin")).json()
    url = body["url"]
    part = await client.get(url, headers={**uploader.headers, "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["content-range"] == "bytes 100-199/10000"
    tail = await client.get(url, headers={**uploader.headers, "Range": "bytes=-10"})
    assert tail.content == data[-10:]
    beyond = await client.get(url, headers={**uploader.headers, "Range": "bytes=20000-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == "bytes */10000"


@FEATURE
async def test_only_the_uploader_and_members_who_were_sent_it_can_download(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
) -> None:
    data = os.urandom(3000)
    attachment = (await _upload(client, alice, data, kind="file", filename="plan.bin")).json()
    info_url = f"{API}/attachments/{attachment['id']}"
    for reader in (bob, carol):
        assert (await client.get(info_url, headers=reader.headers)).status_code == 404
        assert (await client.get(attachment["url"], headers=reader.headers)).status_code == 404

    chat = await conversation(alice, "direct", members=[bob])
    sent = await client.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={
            "client_id": "m1",
            "kind": "media",
            "body": "the plan",
            "data": {"attachments": [attachment["id"]]},
        },
        headers=alice.headers,
    )
    assert sent.status_code in (200, 201), sent.text
    got = await client.get(attachment["url"], headers=bob.headers)
    assert got.status_code == 200 and got.content == data
    # Carol is in no conversation where it was sent.
    assert (await client.get(attachment["url"], headers=carol.headers)).status_code == 404

    # Bob cannot pass Alice's attachment on as his own to reach Carol.
    other = await conversation(bob, "direct", members=[carol])
    forwarded = await client.post(
        f"{API}/conversations/{other['id']}/messages",
        json={"client_id": "m2", "kind": "media", "data": {"attachments": [attachment["id"]]}},
        headers=bob.headers,
    )
    assert forwarded.status_code == 422
    assert (await client.get(attachment["url"], headers=carol.headers)).status_code == 404
    async with platform.db.session() as session:
        refs = (await session.scalars(select(MessagingAttachmentRef))).all()
    assert [(r.attachment_id, r.conversation_id) for r in refs] == [
        (int(attachment["id"]), int(chat["id"]))
    ]


@FEATURE
async def test_end_to_end_attachments_are_opaque_and_never_processed(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    ciphertext = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)  # even if it looks like an image
    body = (await _upload(client, uploader, ciphertext, kind="image", e2e=True)).json()
    assert body["e2e"] is True
    assert body["status"] == "ready"
    assert body["content_type"] == "application/octet-stream"
    assert body["variants"] == {}
    assert await platform.jobs.get(f"{attachments.variants_job(SYSTEM)}:{body['id']}") is None
    served = await client.get(body["url"], headers=uploader.headers)
    assert served.content == ciphertext
    assert served.headers["content-disposition"].startswith("attachment;")
    thumbnail = await client.get(
        f"{API}/attachments/{body['id']}/thumbnail", headers=uploader.headers
    )
    assert thumbnail.status_code == 404


@FEATURE
async def test_an_image_pillow_cannot_decode_fails_but_its_original_stays_downloadable(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    broken = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)
    body = (await _upload(client, uploader, broken, filename="broken.png")).json()
    assert body["content_type"] == "image/png"
    await _wait_processed(platform, body["id"])
    info = (await client.get(f"{API}/attachments/{body['id']}", headers=uploader.headers)).json()
    assert info["status"] == "failed"
    assert (await client.get(info["url"], headers=uploader.headers)).content == broken
    missing = await client.get(
        f"{API}/attachments/{body['id']}/compressed", headers=uploader.headers
    )
    assert missing.status_code == 404


async def test_the_variants_job_is_idempotent_and_variants_wait_for_it(
    platform: Platform, uploader: Account
) -> None:
    data = _image(700, 700)
    row = MessagingAttachment(
        id=int.from_bytes(os.urandom(6), "big"),
        system=SYSTEM,
        owner_id=uploader.user_id,
        kind="image",
        content_type="image/jpeg",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        blob_key="messaging/instant-messenger/attachments/direct/original",
        status="processing",
    )
    await platform.blobs.put(row.blob_key, data)
    async with platform.db.session() as session:
        session.add(row)
    with pytest.raises(attachments.AttachmentNotReady):
        attachments.variant_blob(row, "thumbnail")
    assert await attachments.make_variants(platform, SYSTEM, row.id) == "ready"
    async with platform.db.session() as session:
        first = await session.get(MessagingAttachment, row.id)
        assert first is not None and first.variants is not None
        variants = first.variants
    # A second run (a retried job) changes nothing; another system never sees the row.
    assert await attachments.make_variants(platform, SYSTEM, row.id) == "ready"
    assert await attachments.make_variants(platform, "telegram", row.id) == "ready"
    async with platform.db.session() as session:
        again = await session.get(MessagingAttachment, row.id)
        assert again is not None and again.variants == variants
        with pytest.raises(attachments.AttachmentNotFound):
            await attachments.get_attachment(session, "telegram", row.id)


async def test_concurrent_uploads_each_keep_their_own_bytes(
    client: httpx.AsyncClient, uploader: Account
) -> None:
    payloads = [os.urandom(20_000 + i) for i in range(8)]
    responses = await asyncio.gather(
        *(
            _upload(client, uploader, p, kind="file", filename=f"{i}.bin")
            for i, p in enumerate(payloads)
        )
    )
    assert all(r.status_code == 201 for r in responses)
    assert len({r.json()["id"] for r in responses}) == len(payloads)
    for payload, response in zip(payloads, responses, strict=True):
        assert response.json()["sha256"] == hashlib.sha256(payload).hexdigest()
        served = await client.get(response.json()["url"], headers=uploader.headers)
        assert served.content == payload


@FEATURE
async def test_a_member_who_joined_after_the_message_cannot_download_until_it_is_sent_again(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
) -> None:
    group = await conversation(alice, "group", members=[bob])
    attachment = (await _upload(client, alice, MP4_HEAD, kind="video", filename="v.mp4")).json()

    async def share(client_id: str) -> None:
        sent = await client.post(
            f"{API}/conversations/{group['id']}/messages",
            json={
                "client_id": client_id,
                "kind": "media",
                "data": {"attachments": [attachment["id"]]},
            },
            headers=alice.headers,
        )
        assert sent.status_code in (200, 201), sent.text

    await share("first")
    added = await client.post(
        f"{API}/conversations/{group['id']}/members",
        json={"user_id": carol.id},
        headers=alice.headers,
    )
    assert added.status_code == 201, added.text
    assert (await client.get(attachment["url"], headers=bob.headers)).status_code == 200
    assert (await client.get(attachment["url"], headers=carol.headers)).status_code == 404

    await share("again")
    assert (await client.get(attachment["url"], headers=carol.headers)).status_code == 200
    assert (await client.get(attachment["url"], headers=bob.headers)).status_code == 200


@FEATURE
async def test_a_decompression_bomb_is_marked_failed_without_being_decoded(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    out = io.BytesIO()
    Image.new("1", (8000, 7000)).save(out, "PNG")  # 56 Mpx in 7 kB
    bomb = out.getvalue()
    assert len(bomb) < 10_000
    body = (await _upload(client, uploader, bomb, filename="bomb.png")).json()
    await _wait_processed(platform, body["id"])
    info = (await client.get(f"{API}/attachments/{body['id']}", headers=uploader.headers)).json()
    assert info["status"] == "failed"
    assert info["variants"] == {}


async def test_uploads_are_rate_limited_per_user(
    client: httpx.AsyncClient, platform: Platform, uploader: Account
) -> None:
    attachments.configure_limits(platform, SYSTEM, uploads_per_minute=2)
    other = await _account(client)
    for _ in range(2):
        assert (await _upload(client, uploader, b"abc", kind="file")).status_code == 201
    refused = await _upload(client, uploader, b"abc", kind="file")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert (await _upload(client, other, b"abc", kind="file")).status_code == 201
