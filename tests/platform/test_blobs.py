"""The blob stores: keys, atomic and streaming writes, byte ranges over HTTP.

Every behavioural test runs against both adapters of the `BlobStore` protocol: the directory
store and the S3 store, the latter against moto's S3 server on a loopback port (the real S3 HTTP
API over a socket). Tests of what only one adapter does follow the shared ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from moto.server import ThreadedMotoServer
from mypy_boto3_s3 import S3Client
from pydantic import SecretStr

from casebook.platform.blobs import (
    BlobNotFound,
    BlobStore,
    DirectoryBlobStore,
    InvalidBlobKey,
    RangeNotSatisfiable,
    blob_response,
    parse_range,
)
from casebook.platform.blobs_s3 import MIN_PART_SIZE, BlobChanged, S3BlobStore
from casebook.platform.context import Platform
from casebook.platform.errors import Conflict, PayloadTooLarge, install_problem_handlers
from casebook.platform.settings import Settings
from tests.servers import free_port

Holdings = Callable[[], Awaitable[list[str]]]
"""Everything a store holds: blobs, temporary files, unfinished multipart uploads."""


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3_client(endpoint: str) -> S3Client:
    client: S3Client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="casebook-test",
        aws_secret_access_key="casebook-test-secret",
    )
    return client


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Iterator[S3Client]:
    client = _s3_client(s3_endpoint)
    yield client
    client.close()


@pytest.fixture
def s3_store(s3_client: S3Client) -> S3BlobStore:
    """A store in a bucket of this test's own, under a prefix (to prove keys stay inside it)."""
    bucket = f"casebook-{uuid.uuid4().hex}"
    s3_client.create_bucket(Bucket=bucket)
    return S3BlobStore(s3_client, bucket, prefix="/tenant-a/", part_size=MIN_PART_SIZE)


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "s3":
        result: BlobStore = request.getfixturevalue("s3_store")
        return result
    return DirectoryBlobStore(tmp_path / "blobs")


@pytest.fixture
def holdings(store: BlobStore, tmp_path: Path) -> Holdings:
    """Lists what `store` holds, as keys relative to its root/prefix, sorted.

    Directory: every file anywhere under the test's tmp_path (so a file escaping the root shows
    as `../…`, a temporary file as `.tmp-…`). S3: every object in the bucket (one outside the
    prefix shows whole) and `upload:<key>` per multipart upload not completed or aborted.
    """
    if isinstance(store, S3BlobStore):
        s3 = store

        async def held_in_bucket() -> list[str]:
            return await _bucket_holdings(s3)

        return held_in_bucket
    assert isinstance(store, DirectoryBlobStore)
    root = store.root

    def listing() -> list[str]:
        return sorted(
            os.path.relpath(Path(folder, name), root)
            for folder, _, names in os.walk(tmp_path)
            for name in names
        )

    async def held_in_directory() -> list[str]:
        return await asyncio.to_thread(listing)

    return held_in_directory


async def _bucket_holdings(store: S3BlobStore) -> list[str]:
    def listing() -> list[str]:
        objects = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        names = [o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads]
        return sorted(name.replace(store.prefix, "", 1) for name in names)

    return await asyncio.to_thread(listing)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


async def _read(reader: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in reader])


async def test_put_then_get_size_exists_and_delete(store: BlobStore) -> None:
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
    store: BlobStore, holdings: Holdings, key: str
) -> None:
    for call in (
        store.put(key, b"x"),
        store.put(key, _chunks(b"x")),
        store.get(key),
        store.open_range(key),
        store.size(key),
        store.exists(key),
        store.delete(key),
    ):
        with pytest.raises(InvalidBlobKey):
            await call
    assert await holdings() == []


async def test_a_streamed_put_writes_every_chunk(store: BlobStore) -> None:
    parts = [bytes([n]) * 100_000 for n in range(7)]
    info = await store.put("videos/1/source.mp4", _chunks(*parts))
    assert info.size == 700_000
    assert info.sha256 == hashlib.sha256(b"".join(parts)).hexdigest()
    assert await _read(await store.open_range("videos/1/source.mp4")) == b"".join(parts)


async def test_a_failed_put_keeps_the_old_blob_and_leaves_no_temporary_file(
    store: BlobStore, holdings: Holdings
) -> None:
    await store.put("doc", b"version 1")

    async def broken_upload() -> AsyncIterator[bytes]:
        yield b"version 2, first half"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("doc", broken_upload())
    assert await store.get("doc") == b"version 1"
    assert await holdings() == ["doc"]


async def test_a_put_over_max_size_stores_nothing(store: BlobStore, holdings: Holdings) -> None:
    with pytest.raises(PayloadTooLarge):
        await store.put("big", _chunks(b"a" * 600, b"b" * 600), max_size=1000)
    assert not await store.exists("big")
    assert await holdings() == []
    assert (await store.put("fits", b"a" * 1000, max_size=1000)).size == 1000


async def test_concurrent_puts_of_one_key_leave_one_whole_version(
    store: BlobStore, holdings: Holdings
) -> None:
    versions = [bytes([n]) * 300_000 for n in range(8)]
    await asyncio.gather(*(store.put("hot", _chunks(v[:150_000], v[150_000:])) for v in versions))
    assert await store.get("hot") in versions
    assert await holdings() == ["hot"]


async def test_an_open_reader_keeps_its_snapshot_when_the_blob_is_replaced(
    store: BlobStore,
) -> None:
    await store.put("clip", b"old" * 1000)
    reader = await store.open_range("clip")
    await store.put("clip", b"new" * 10)
    await store.delete("clip")
    assert await _read(reader) == b"old" * 1000


async def test_open_range_reads_half_open_ranges(store: BlobStore) -> None:
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
    nothing = await store.open_range("digits", 3, 3)
    assert (nothing.start, nothing.end, nothing.total, nothing.length) == (3, 3, 10, 0)
    assert await _read(nothing) == b""
    with pytest.raises(RangeNotSatisfiable):
        await store.open_range("digits", 10, 10)
    await store.put("empty", b"")
    assert await _read(await store.open_range("empty")) == b""
    assert await _read(await store.open_range("empty", 0, 5)) == b""
    assert await store.size("empty") == 0
    with pytest.raises(RangeNotSatisfiable):
        await store.open_range("empty", 1)


async def test_a_directory_key_cannot_be_both_a_blob_and_a_prefix(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path / "blobs")
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
async def http(store: BlobStore) -> AsyncIterator[httpx.AsyncClient]:
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
    store: BlobStore, http: httpx.AsyncClient
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
    store: BlobStore, http: httpx.AsyncClient
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


async def test_platform_keeps_blobs_in_s3_when_a_bucket_is_configured(
    settings: Settings, s3_endpoint: str, s3_client: S3Client
) -> None:
    bucket = f"casebook-{uuid.uuid4().hex}"
    s3_client.create_bucket(Bucket=bucket)
    configured = settings.model_copy(
        update={
            "blob_s3_bucket": bucket,
            "blob_s3_endpoint_url": s3_endpoint,
            "blob_s3_region": "eu-west-1",
            "blob_s3_access_key_id": SecretStr("casebook-test"),
            "blob_s3_secret_access_key": SecretStr("casebook-test-secret"),
            "blob_s3_prefix": "deployment-7",
        }
    )
    assert "casebook-test-secret" not in repr(configured)
    platform = Platform.start(configured)
    try:
        assert isinstance(platform.blobs, S3BlobStore)
        await platform.blobs.put("probe/one", b"1")
        stored = s3_client.get_object(Bucket=bucket, Key="deployment-7/probe/one")
        assert stored["Body"].read() == b"1"
        assert not configured.resolved_blob_dir.exists()
    finally:
        await platform.close()


# S3 only: multipart uploads, their clean-up, and readers over a network that drops.

PART = MIN_PART_SIZE


def _movie(size: int) -> bytes:
    return hashlib.sha256(b"seed").digest() * (size // 32) + b"x" * (size % 32)


async def _slices(body: bytes, step: int = 256 * 1024) -> AsyncIterator[bytes]:
    for offset in range(0, len(body), step):
        await asyncio.sleep(0)
        yield body[offset : offset + step]


async def test_a_streamed_put_past_one_part_is_a_multipart_upload(s3_store: S3BlobStore) -> None:
    body = _movie(2 * PART + 123_457)
    info = await s3_store.put("movies/1.mp4", _slices(body))
    assert (info.size, info.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key="tenant-a/movies/1.mp4")
    assert head["ETag"].strip('"').endswith("-3")  # S3 tags a multipart object with its parts
    assert await s3_store.get("movies/1.mp4") == body
    across = await s3_store.open_range("movies/1.mp4", PART - 1000, PART + 1000)
    assert await _read(across) == body[PART - 1000 : PART + 1000]
    tail = await s3_store.open_range("movies/1.mp4", 2 * PART)
    assert (tail.start, tail.end, tail.total) == (2 * PART, len(body), len(body))
    assert await _read(tail) == body[2 * PART :]
    assert await _bucket_holdings(s3_store) == ["movies/1.mp4"]

    exact = _movie(PART)  # one full part and nothing after it: still one multipart part
    assert (await s3_store.put("movies/2.mp4", exact)).size == PART
    assert await s3_store.get("movies/2.mp4") == exact
    await s3_store.put("small", b"one request")
    small = s3_store.client.head_object(Bucket=s3_store.bucket, Key="tenant-a/small")
    assert "-" not in small["ETag"]


async def test_a_failing_stream_aborts_its_multipart_upload(s3_store: S3BlobStore) -> None:
    await s3_store.put("movie", b"version 1")
    body = _movie(PART + 300_000)

    async def broken_upload() -> AsyncIterator[bytes]:
        async for chunk in _slices(body):
            yield chunk
        # A part went up: the upload is open in the bucket until the store aborts it.
        assert await _bucket_holdings(s3_store) == ["movie", "upload:movie"]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await s3_store.put("movie", broken_upload())
    assert await _bucket_holdings(s3_store) == ["movie"]
    assert await s3_store.get("movie") == b"version 1"


async def test_a_multipart_put_over_max_size_is_aborted(s3_store: S3BlobStore) -> None:
    with pytest.raises(PayloadTooLarge):
        await s3_store.put("movie", _slices(_movie(2 * PART)), max_size=PART + 1)
    assert await _bucket_holdings(s3_store) == []


async def test_a_cancelled_multipart_put_is_aborted(s3_store: S3BlobStore) -> None:
    part_sent = asyncio.Event()

    async def stalled_upload() -> AsyncIterator[bytes]:
        async for chunk in _slices(_movie(PART + 1)):
            yield chunk
        part_sent.set()
        await asyncio.Event().wait()
        yield b"never"

    put = asyncio.create_task(s3_store.put("movie", stalled_upload()))
    await asyncio.wait_for(part_sent.wait(), 5)
    assert await _bucket_holdings(s3_store) == ["upload:movie"]
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put
    assert await _bucket_holdings(s3_store) == []


async def test_an_s3_key_may_be_both_a_blob_and_a_prefix(s3_store: S3BlobStore) -> None:
    # S3 has no directories; the directory store's Conflict has no cause here.
    await s3_store.put("a", b"file")
    await s3_store.put("a/b", b"nested")
    assert (await s3_store.get("a"), await s3_store.get("a/b")) == (b"file", b"nested")


class DroppingProxy:
    """A TCP proxy to `upstream` that cuts every connection after `limit` bytes of response.

    A network that drops long downloads: a reader streaming through it loses its connection
    part-way and must reopen.
    """

    def __init__(self, upstream: str, limit: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.limit = limit
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections += 1
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(server, client, self.limit), daemon=True
            ).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while limit is None or sent < limit:
                data = source.recv(65536 if limit is None else min(65536, limit - sent))
                if not data:
                    break
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def flaky_reader(
    s3_endpoint: str, s3_store: S3BlobStore
) -> Iterator[tuple[S3BlobStore, DroppingProxy]]:
    """The bucket of `s3_store`, reached through a proxy cutting connections after 400 kB."""
    proxy = DroppingProxy(s3_endpoint, limit=400_000)
    client = _s3_client(proxy.url)
    yield S3BlobStore(client, s3_store.bucket, prefix=s3_store.prefix), proxy
    client.close()
    proxy.close()


async def test_a_reader_resumes_where_the_connection_dropped(
    s3_store: S3BlobStore, flaky_reader: tuple[S3BlobStore, DroppingProxy]
) -> None:
    reading, proxy = flaky_reader
    body = _movie(1_500_000)
    await s3_store.put("clip", body)
    reader = await reading.open_range("clip", 1000)
    assert await _read(reader) == body[1000:]
    assert proxy.connections >= 4  # 1.5 MB through a network that drops every 400 kB


async def test_a_reader_refuses_to_splice_in_a_replaced_blob(
    s3_store: S3BlobStore, flaky_reader: tuple[S3BlobStore, DroppingProxy]
) -> None:
    reading, _ = flaky_reader
    await s3_store.put("clip", _movie(1_500_000))
    reader = await reading.open_range("clip")
    first = await anext(reader)
    await s3_store.put("clip", b"new" * 500_000)
    with pytest.raises(BlobChanged):
        async for chunk in reader:
            first += chunk
    reader.close()
    assert first == _movie(1_500_000)[: len(first)]


async def test_a_reader_in_a_versioned_bucket_keeps_its_version_across_drops(
    s3_store: S3BlobStore, flaky_reader: tuple[S3BlobStore, DroppingProxy]
) -> None:
    reading, proxy = flaky_reader
    s3_store.client.put_bucket_versioning(
        Bucket=s3_store.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    body = _movie(1_500_000)
    await s3_store.put("clip", body)
    reader = await reading.open_range("clip")
    first = await anext(reader)
    await s3_store.put("clip", b"new" * 500_000)
    await s3_store.delete("clip")
    assert first + await _read(reader) == body
    assert proxy.connections >= 4
