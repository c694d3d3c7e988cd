"""The directory blob store: keys, atomic and streaming writes, byte ranges over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from casebook.platform.blobs import (
    BlobNotFound,
    DirectoryBlobStore,
    InvalidBlobKey,
    RangeNotSatisfiable,
    blob_response,
    parse_range,
)
from casebook.platform.context import Platform
from casebook.platform.errors import Conflict, PayloadTooLarge, install_problem_handlers


@pytest.fixture
def store(tmp_path: Path) -> DirectoryBlobStore:
    return DirectoryBlobStore(tmp_path / "blobs")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


def _names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def _read(reader: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in reader])


async def test_put_then_get_size_exists_and_delete(store: DirectoryBlobStore) -> None:
    info = await store.put("avatars/ada.png", b"\x89PNG...")
    assert (info.key, info.size) == ("avatars/ada.png", 7)
    assert info.sha256 == hashlib.sha256(b"\x89PNG...").hexdigest()
    assert await store.get("avatars/ada.png") == b"\x89PNG..."
    assert await store.size("avatars/ada.png") == 7
    assert await store.exists("avatars/ada.png")
    assert await store.delete("avatars/ada.png") is True
    assert not await store.exists("avatars/ada.png")
    assert await store.delete("avatars/ada.png") is False
    for missing in (
        store.get("avatars/ada.png"),
        store.size("avatars/ada.png"),
        store.open_range("avatars/ada.png"),
    ):
        with pytest.raises(BlobNotFound):
            await missing


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape",
        "a/../../escape",
        "/etc/passwd",
        "a//b",
        "a/",
        ".hidden",
        "a/.b",
        "a\\b",
        "sp ace",
        "x" * 513,
        "ü",
    ],
)
async def test_malformed_keys_are_refused_and_nothing_escapes_the_root(
    store: DirectoryBlobStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InvalidBlobKey):
        await store.put(key, b"x")
    with pytest.raises(InvalidBlobKey):
        await store.get(key)
    assert _names(tmp_path) in ([], ["blobs"])  # the root at most, nothing beside it


async def test_a_streamed_put_writes_every_chunk(store: DirectoryBlobStore) -> None:
    parts = [bytes([n]) * 100_000 for n in range(7)]
    info = await store.put("videos/1/source.mp4", _chunks(*parts))
    assert info.size == 700_000
    assert info.sha256 == hashlib.sha256(b"".join(parts)).hexdigest()
    assert await _read(await store.open_range("videos/1/source.mp4")) == b"".join(parts)


async def test_a_failed_put_keeps_the_old_blob_and_leaves_no_temporary_file(
    store: DirectoryBlobStore,
) -> None:
    await store.put("doc", b"version 1")

    async def broken_upload() -> AsyncIterator[bytes]:
        yield b"version 2, first half"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("doc", broken_upload())
    assert await store.get("doc") == b"version 1"
    assert _names(store.root) == ["doc"]


async def test_a_put_over_max_size_stores_nothing(store: DirectoryBlobStore) -> None:
    with pytest.raises(PayloadTooLarge):
        await store.put("big", _chunks(b"a" * 600, b"b" * 600), max_size=1000)
    assert not await store.exists("big")
    assert _names(store.root) == []
    assert (await store.put("fits", b"a" * 1000, max_size=1000)).size == 1000


async def test_concurrent_puts_of_one_key_leave_one_whole_version(
    store: DirectoryBlobStore,
) -> None:
    versions = [bytes([n]) * 300_000 for n in range(8)]
    await asyncio.gather(*(store.put("hot", _chunks(v[:150_000], v[150_000:])) for v in versions))
    assert await store.get("hot") in versions
    assert _names(store.root) == ["hot"]


async def test_an_open_reader_keeps_its_snapshot_when_the_blob_is_replaced(
    store: DirectoryBlobStore,
) -> None:
    await store.put("clip", b"old" * 1000)
    reader = await store.open_range("clip")
    await store.put("clip", b"new" * 10)
    await store.delete("clip")
    assert await _read(reader) == b"old" * 1000


async def test_open_range_reads_half_open_ranges(store: DirectoryBlobStore) -> None:
    await store.put("digits", b"0123456789")
    assert await _read(await store.open_range("digits", 2, 5)) == b"234"
    assert await _read(await store.open_range("digits", 7)) == b"789"
    clamped = await store.open_range("digits", 8, 100)
    assert (clamped.start, clamped.end, clamped.total) == (8, 10, 10)
    assert await _read(clamped) == b"89"
    with pytest.raises(RangeNotSatisfiable):
        await store.open_range("digits", 10)
    with pytest.raises(ValueError):
        await store.open_range("digits", -1)
    with pytest.raises(ValueError):
        await store.open_range("digits", 5, 4)
    await store.put("empty", b"")
    assert await _read(await store.open_range("empty")) == b""


async def test_a_key_cannot_be_both_a_blob_and_a_prefix(store: DirectoryBlobStore) -> None:
    await store.put("a", b"file")
    with pytest.raises(Conflict):
        await store.put("a/b", b"nested")
    await store.put("x/y", b"nested")
    with pytest.raises(Conflict):
        await store.put("x", b"file")
    with pytest.raises(BlobNotFound):
        await store.get("x")
    assert await store.get("a") == b"file"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-3", (0, 4)),
        ("bytes=4-", (4, 10)),
        ("bytes=-3", (7, 10)),
        ("bytes=-30", (0, 10)),
        ("bytes=8-400", (8, 10)),
        ("BYTES=1-1", (1, 2)),
        ("bytes=5-2", None),
        ("bytes=0-1,4-5", None),
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_parse_range_refuses_ranges_past_the_end(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 10)


@pytest.fixture
async def http(store: DirectoryBlobStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/media/{key:path}")
    async def media(key: str, request: Request) -> StreamingResponse:
        return await blob_response(
            store, key, range_header=request.headers.get("range"), media_type="video/mp4"
        )

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_http_range_requests_get_206_with_content_range(
    store: DirectoryBlobStore, http: httpx.AsyncClient
) -> None:
    body = bytes(range(256)) * 4000  # 1,024,000 bytes: several chunks
    await store.put("v/1.mp4", body)
    whole = await http.get("/media/v/1.mp4")
    assert whole.status_code == 200
    assert whole.content == body
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(len(body))
    assert whole.headers["content-type"] == "video/mp4"
    part = await http.get("/media/v/1.mp4", headers={"Range": "bytes=1000-300999"})
    assert part.status_code == 206
    assert part.content == body[1000:301000]
    assert part.headers["content-range"] == f"bytes 1000-300999/{len(body)}"
    assert part.headers["content-length"] == "300000"
    tail = await http.get("/media/v/1.mp4", headers={"Range": "bytes=-10"})
    assert tail.content == body[-10:]


async def test_http_unsatisfiable_range_and_missing_blob_are_problems(
    store: DirectoryBlobStore, http: httpx.AsyncClient
) -> None:
    await store.put("v/2.mp4", b"short")
    past = await http.get("/media/v/2.mp4", headers={"Range": "bytes=5-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == "bytes */5"
    assert past.json()["type"] == "/problems/range-not-satisfiable"
    missing = await http.get("/media/v/3.mp4")
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/blob-not-found"
    bad = await http.get("/media/v/..%2F..%2Fsecret")
    assert bad.status_code == 422


async def test_platform_blobs_live_under_the_configured_directory(platform: Platform) -> None:
    assert isinstance(platform.blobs, DirectoryBlobStore)
    assert platform.blobs.root == platform.settings.resolved_blob_dir.resolve()
    await platform.blobs.put("probe/one", b"1")
    assert (platform.settings.resolved_blob_dir / "probe" / "one").read_bytes() == b"1"
