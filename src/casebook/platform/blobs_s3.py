"""Blob storage on S3 or any S3-compatible store (MinIO, Ceph, R2…): the `BlobStore` protocol.

Same keys, same errors and the same promises as `DirectoryBlobStore`, with these differences,
all forced by S3 itself:

- Writes are atomic because S3 makes a PUT (or a completed multipart upload) visible whole or
  not at all; the last writer of a key wins. A put streams its chunks into memory until a part
  is full (`part_size`, at least S3's 5 MiB minimum): a blob that fits in one part is one
  PutObject, a larger one a multipart upload of `part_size` parts, aborted if the stream fails,
  grows past `max_size` or the put is cancelled. An abort that itself fails (the store is
  unreachable) leaves parts behind: give the bucket a lifecycle rule that aborts incomplete
  multipart uploads after a day. At most 10,000 parts, so `part_size` bounds the blob size
  (8 MiB parts: 78 GiB).
- A reader is one ranged GetObject whose body it streams. S3 answers a GET from the one version
  it resolved when the request arrived, so replacing or deleting the key meanwhile does not
  change what the reader gets. If the connection drops mid-stream, the reader resumes from where
  it stopped, pinned to what it opened: the object's VersionId in a versioned bucket (the snapshot
  holds even after a replace), otherwise its ETag with If-Match; a replaced or deleted
  un-versioned blob then raises BlobChanged (410) instead of splicing two versions together.
- S3 has no directories, so a key may be both a blob and a prefix of other keys ("a" and
  "a/b"); the directory store refuses that with Conflict. Code that runs on the directory store
  therefore runs here unchanged.
- `delete` reports whether the blob existed from a HEAD just before the DELETE (S3's DELETE does
  not say): two concurrent deletes of one blob may both answer True.
- Without s3:ListBucket on the bucket, S3 answers 403 rather than 404 for a missing key; the
  store needs that permission to tell "missing" from "forbidden".

boto3 is synchronous; every call runs in a worker thread (`asyncio.to_thread`), and one client,
which boto3 makes thread-safe, serves all of them over a pool of `max_pool_connections` HTTP
connections. A reader holds one connection until it is exhausted or closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import re
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from casebook.platform.blobs import (
    BlobInfo,
    BlobNotFound,
    BlobReader,
    RangeNotSatisfiable,
    check_key,
)
from casebook.platform.errors import Gone, PayloadTooLarge
from casebook.platform.settings import Settings

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, HeadObjectOutputTypeDef

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 refuses multipart parts below 5 MiB (all but the last)."""
DEFAULT_PART_SIZE = 8 * 1024 * 1024
RESUME_ATTEMPTS = 3
"""Reopens a reader tries, in a row without receiving a byte, before giving up."""
_CONTENT_RANGE = re.compile(r"bytes \d+-\d+/(\d+)")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CHANGED = frozenset({"412", "PreconditionFailed", "NoSuchVersion"})


class BlobChanged(Gone):
    """A reader lost its connection and the version it was reading is no longer there."""

    type_ = "blob-changed"
    title = "The blob changed while it was being read"


class S3BlobStore:
    """Blobs as objects `prefix + key` in `bucket`, through a boto3 S3 client.

    `part_size` is the multipart part size (and so the most a put buffers); ValueError below
    S3's 5 MiB minimum. Every operation is one S3 request (two for `delete`, and for a range
    that an empty blob refuses), run in a worker thread.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        prefix: str = "",
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts are at least {MIN_PART_SIZE} bytes")
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_size = part_size

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        """A store on `settings.blob_s3_bucket`. Builds the client; dials nothing yet."""
        key_id = settings.blob_s3_access_key_id
        secret = settings.blob_s3_secret_access_key
        client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.blob_s3_endpoint_url or None,
            region_name=settings.blob_s3_region or None,
            aws_access_key_id=key_id.get_secret_value() if key_id else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            # Each open reader holds a pooled connection until it finishes, so the pool is
            # sized for many concurrent downloads rather than boto3's default 10.
            config=Config(max_pool_connections=64, retries={"mode": "standard"}),
        )
        return cls(client, settings.blob_s3_bucket, prefix=settings.blob_s3_prefix)

    def object_key(self, key: str) -> str:
        """The S3 key of blob `key`; raises InvalidBlobKey for a malformed key."""
        return self.prefix + check_key(key)

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobInfo:
        """Store `data` (bytes, or an async iterator of chunks) at `key`; returns size and sha256.

        Atomic: the key holds the old content until the new one is complete. Memory: at most one
        part (`part_size`) plus one chunk is buffered; parts upload one at a time, so a slow
        store slows the reading of `data` rather than filling memory. Raises PayloadTooLarge past
        `max_size` bytes (nothing is stored), InvalidBlobKey, or the store's error; on any
        failure a multipart upload begun is aborted.
        """
        name = self.object_key(key)
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        chunks = _single(data) if isinstance(data, bytes) else data
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise PayloadTooLarge(f"Blobs here are at most {max_size} bytes.")
                buffer += chunk
                while len(buffer) >= self.part_size:
                    part = _take(buffer, self.part_size)
                    if upload_id is None:
                        upload_id = await asyncio.to_thread(self._create_upload, name)
                    number = len(parts) + 1
                    parts.append(
                        await asyncio.to_thread(
                            self._upload_part, name, upload_id, number, part, digest
                        )
                    )
            if upload_id is None:
                await asyncio.to_thread(self._put_object, name, bytes(buffer), digest)
            else:
                if buffer:
                    number = len(parts) + 1
                    part = bytes(buffer)
                    parts.append(
                        await asyncio.to_thread(
                            self._upload_part, name, upload_id, number, part, digest
                        )
                    )
                await asyncio.to_thread(self._complete_upload, name, upload_id, parts)
        except BaseException:
            if upload_id is not None:
                await asyncio.to_thread(self._abort_upload, name, upload_id)
            raise
        return BlobInfo(key, size, digest.hexdigest())

    async def get(self, key: str) -> bytes:
        """The whole blob; raises BlobNotFound. For large blobs prefer `open_range`."""
        name = self.object_key(key)

        def read() -> bytes:
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
            except ClientError as exc:
                raise _not_found(exc, key) from None
            with contextlib.closing(body):
                return body.read()

        return await asyncio.to_thread(read)

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        """Open bytes [start, end) of the blob (`end` None or past the size: to the end).

        One ranged GetObject, whose body the reader streams (see the module docstring for what
        a reader keeps reading when the blob is replaced). Raises BlobNotFound, ValueError for a
        negative start or end < start, and RangeNotSatisfiable when `start` is at or past the
        end of a non-empty blob.
        """
        if start < 0 or (end is not None and end < start):
            raise ValueError("need 0 <= start <= end")
        name = self.object_key(key)
        return await asyncio.to_thread(self._open_range, key, name, start, end)

    async def size(self, key: str) -> int:
        """The blob's size in bytes; raises BlobNotFound."""
        name = self.object_key(key)
        head = await asyncio.to_thread(self._head, key, name)
        return head["ContentLength"]

    async def exists(self, key: str) -> bool:
        name = self.object_key(key)
        try:
            await asyncio.to_thread(self._head, key, name)
        except BlobNotFound:
            return False
        return True

    async def delete(self, key: str) -> bool:
        """Remove the blob; True if it existed. Readers that opened it keep their snapshot."""
        name = self.object_key(key)

        def delete() -> bool:
            try:
                self._head(key, name)
            except BlobNotFound:
                return False
            self.client.delete_object(Bucket=self.bucket, Key=name)
            return True

        return await asyncio.to_thread(delete)

    async def close(self) -> None:
        """Close the client's connection pool."""
        await asyncio.to_thread(self.client.close)

    def _head(self, key: str, name: str) -> HeadObjectOutputTypeDef:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            raise _not_found(exc, key) from None

    def _open_range(self, key: str, name: str, start: int, end: int | None) -> BlobReader:
        # An empty range still asks for one byte: S3 has no way to ask for none, and the
        # request must still prove that the blob exists and `start` lies inside it.
        last = "" if end is None else str(max(end, start + 1) - 1)
        ranged = start > 0 or end is not None
        try:
            if ranged:
                response = self.client.get_object(
                    Bucket=self.bucket, Key=name, Range=f"bytes={start}-{last}"
                )
            else:
                response = self.client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) not in {"416", "InvalidRange"}:
                raise _not_found(exc, key) from None
            # S3 refuses every range of an empty object; the directory store lets [0, end)
            # of one read nothing.
            total = self._head(key, name)["ContentLength"]
            if start == 0 and total == 0:
                return BlobReader(io.BytesIO(), 0, 0, 0)
            raise RangeNotSatisfiable(total) from None
        content_range = response.get("ContentRange")
        match = _CONTENT_RANGE.fullmatch(content_range or "")
        total = int(match.group(1)) if match else response["ContentLength"]
        stop = total if end is None else min(end, total)
        stream = _ObjectStream(
            self.client,
            self.bucket,
            name,
            response["Body"],
            offset=start,
            stop=stop,
            etag=response["ETag"],
            version_id=response.get("VersionId"),
        )
        # BlobReader reads through `read(n)` and `close()`, all that _ObjectStream has of BinaryIO.
        return BlobReader(cast(BinaryIO, stream), start, stop, total)

    def _create_upload(self, name: str) -> str:
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]

    def _upload_part(
        self, name: str, upload_id: str, number: int, part: bytes, digest: Any
    ) -> CompletedPartTypeDef:
        digest.update(part)
        response = self.client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=part
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _complete_upload(
        self, name: str, upload_id: str, parts: list[CompletedPartTypeDef]
    ) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def _abort_upload(self, name: str, upload_id: str) -> None:
        # The original failure is what the caller needs to see; an abort that fails too leaves
        # the parts to the bucket's lifecycle rule.
        with contextlib.suppress(BotoCoreError, ClientError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)

    def _put_object(self, name: str, body: bytes, digest: Any) -> None:
        digest.update(body)
        self.client.put_object(Bucket=self.bucket, Key=name, Body=body)


class _ObjectStream:
    """Bytes [offset, stop) of one object version as blocking `read(n)`, resuming on a drop.

    Each `read` returns what the open GET body yields; when the body breaks or ends before
    `stop`, the stream reopens at its offset pinned to `version_id` (or If-Match `etag`).
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        name: str,
        body: StreamingBody,
        *,
        offset: int,
        stop: int,
        etag: str,
        version_id: str | None,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._name = name
        self._body: StreamingBody | None = body
        self._offset = offset
        self._stop = stop
        self._etag = etag
        self._version_id = version_id

    def read(self, size: int) -> bytes:
        """Up to `size` bytes, b"" at `stop`; raises BlobChanged or the store's error."""
        size = min(size, self._stop - self._offset)
        if size <= 0:
            return b""
        failure: BotoCoreError | None = None
        for _ in range(RESUME_ATTEMPTS):
            if self._body is None:
                self._body = self._reopen()
            try:
                chunk = self._body.read(size)
            except BotoCoreError as exc:  # the connection broke mid-body
                failure, chunk = exc, b""
            if chunk:
                self._offset += len(chunk)
                return chunk
            self._body.close()
            self._body = None
        raise ConnectionError(
            f"Reading {self._name!r} failed {RESUME_ATTEMPTS} times in a row."
        ) from failure

    def _reopen(self) -> StreamingBody:
        byte_range = f"bytes={self._offset}-{self._stop - 1}"
        try:
            if self._version_id is not None:
                response = self._client.get_object(
                    Bucket=self._bucket,
                    Key=self._name,
                    Range=byte_range,
                    VersionId=self._version_id,
                )
            else:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=self._name, Range=byte_range, IfMatch=self._etag
                )
        except ClientError as exc:
            if _code(exc) in _CHANGED | _MISSING:
                raise BlobChanged(f"{self._name!r} was replaced or deleted mid-read.") from None
            raise
        return response["Body"]

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code", ""))


def _not_found(exc: ClientError, key: str) -> Exception:
    """BlobNotFound if `exc` says the object is missing; `exc` itself otherwise."""
    if _code(exc) in _MISSING:
        return BlobNotFound(f"No blob {key!r}.")
    return exc


def _take(buffer: bytearray, count: int) -> bytes:
    """Remove and return the first `count` bytes of `buffer` (one copy)."""
    with memoryview(buffer) as view:
        head = bytes(view[:count])
    del buffer[:count]
    return head


async def _single(data: bytes) -> AsyncIterable[bytes]:
    yield data
