"""Blob storage (media, uploads, recordings): files under `settings.resolved_blob_dir`.

A key is a relative path of segments made of letters, digits, `.`, `_`, `-` — each segment
starting with a letter or digit, so no key can name `..`, a hidden file or anything outside the
root (e.g. `videos/4213/720p/segment-00017.ts`). Writes go to a temporary file in the target
directory, are fsynced, then renamed over the key: readers see the old blob or the new one,
never a half-written file, and a reader that opened the old one keeps reading it to the end.

File I/O runs in worker threads so the event loop never waits on the disk; streams move in
256 KiB chunks. `blob_response` serves a blob over HTTP with single-range `Range` support (206 /
416), which is what video players and download resumption need.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO, Protocol

from starlette.responses import StreamingResponse

from casebook.platform.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Problem

CHUNK_SIZE = 256 * 1024
MAX_KEY_LENGTH = 512
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class InvalidBlobKey(InvalidInput):
    type_ = "invalid-blob-key"
    title = "Invalid blob key"


class BlobNotFound(NotFound):
    type_ = "blob-not-found"
    title = "No such blob"


class RangeNotSatisfiable(Problem):
    status = 416
    type_ = "range-not-satisfiable"
    title = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"The blob has {size} bytes.", size=size)

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    sha256: str
    """Hex digest of the content, usable as a strong ETag."""


def check_key(key: str) -> str:
    """`key` if it is a valid blob key; raises InvalidBlobKey otherwise."""
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidBlobKey(
            f"Blob keys are '/'-separated segments of [A-Za-z0-9._-] starting with a letter or "
            f"digit, at most {MAX_KEY_LENGTH} characters."
        )
    return key


class BlobReader:
    """The bytes `start` ≤ i < `end` of one opened blob, as an async iterator of chunks.

    The file is open from `open_range` until iteration ends or `close()`; it is a snapshot: a
    blob replaced meanwhile is still read as it was when opened.
    """

    def __init__(self, file: BinaryIO, start: int, end: int, total: int) -> None:
        self.start = start
        self.end = end
        self.total = total
        self._file = file
        self._left = end - start

    @property
    def length(self) -> int:
        return self.end - self.start

    def __aiter__(self) -> BlobReader:
        return self

    async def __anext__(self) -> bytes:
        if self._left <= 0:
            self.close()
            raise StopAsyncIteration
        chunk = await asyncio.to_thread(self._file.read, min(CHUNK_SIZE, self._left))
        if not chunk:
            self.close()
            raise StopAsyncIteration
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        self._left = 0
        self._file.close()

    async def aclose(self) -> None:
        self.close()


class BlobStore(Protocol):
    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobInfo: ...

    async def get(self, key: str) -> bytes: ...

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> BlobReader: ...

    async def size(self, key: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> bool: ...


class DirectoryBlobStore:
    """Blobs as files under `root`, created on the first write."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """The file of `key`; raises InvalidBlobKey for a malformed key."""
        return self.root / check_key(key)

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobInfo:
        """Store `data` (bytes, or an async iterator of chunks streamed to disk) at `key`.

        Atomic: the key holds the old content until the new one is complete and synced. Raises
        PayloadTooLarge past `max_size` bytes (nothing is stored), InvalidBlobKey, or Conflict
        when a path segment of `key` is already a blob (or `key` is a prefix of other keys).
        """
        path = self.path(key)
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise Conflict(f"A blob is stored at a prefix of {key!r}.") from None
        fd, temp_name = await asyncio.to_thread(tempfile.mkstemp, dir=path.parent, prefix=".tmp-")
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as file:
                chunks = _single(data) if isinstance(data, bytes) else data
                async for chunk in chunks:
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise PayloadTooLarge(f"Blobs here are at most {max_size} bytes.")
                    await asyncio.to_thread(_write, file, digest, chunk)
                await asyncio.to_thread(_sync, file)
            await asyncio.to_thread(os.replace, temp_name, path)
        except IsADirectoryError:
            _discard(temp_name)
            raise Conflict(f"{key!r} is a prefix of other blob keys.") from None
        except BaseException:
            _discard(temp_name)
            raise
        return BlobInfo(key, size, digest.hexdigest())

    async def get(self, key: str) -> bytes:
        """The whole blob; raises BlobNotFound. For large blobs prefer `open_range`."""
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(f"No blob {key!r}.") from None

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        """Open bytes [start, end) of the blob (`end` None or past the size: to the end).

        Raises BlobNotFound, ValueError for a negative start or end < start, and
        RangeNotSatisfiable when `start` is at or past the end of a non-empty blob.
        """
        if start < 0 or (end is not None and end < start):
            raise ValueError("need 0 <= start <= end")
        path = self.path(key)
        try:
            file, total = await asyncio.to_thread(_open_at, path, start)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(f"No blob {key!r}.") from None
        if start >= total and not (start == 0 and total == 0):
            file.close()
            raise RangeNotSatisfiable(total)
        stop = total if end is None else min(end, total)
        return BlobReader(file, start, stop, total)

    async def size(self, key: str) -> int:
        """The blob's size in bytes; raises BlobNotFound."""
        path = self.path(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(f"No blob {key!r}.") from None
        if not S_ISREG(stat.st_mode):
            raise BlobNotFound(f"No blob {key!r}.")
        return stat.st_size

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def delete(self, key: str) -> bool:
        """Remove the blob; True if it existed. Readers that opened it keep their snapshot."""
        path = self.path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
        return True


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open byte range [start, end) an HTTP `Range` header asks of a `size`-byte blob.

    None means "send the whole blob": no header, a unit other than bytes, several ranges, or a
    malformed one (RFC 9110 §14.2 lets a server ignore those). Raises RangeNotSatisfiable when
    the range lies wholly past the end.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return None
        if start >= size:
            raise RangeNotSatisfiable(size)
        return start, min(int(last) + 1, size) if last else size
    if not last:
        return None
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable(size)
    return max(0, size - suffix), size


async def blob_response(
    store: BlobStore,
    key: str,
    *,
    range_header: str | None = None,
    media_type: str = "application/octet-stream",
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """Stream a blob: 200 with the whole of it, or 206 with the single range asked for.

    Raises BlobNotFound (404) and RangeNotSatisfiable (416) before any byte is sent.
    """
    byte_range = parse_range(range_header, await store.size(key))
    start, end = byte_range if byte_range is not None else (0, None)
    reader = await store.open_range(key, start, end)
    response_headers = {"Accept-Ranges": "bytes", "Content-Length": str(reader.length)}
    response_headers.update(headers or {})
    status = 200
    if byte_range is not None:
        status = 206
        response_headers["Content-Range"] = f"bytes {reader.start}-{reader.end - 1}/{reader.total}"
    return StreamingResponse(
        reader, status_code=status, headers=response_headers, media_type=media_type
    )


async def _single(data: bytes) -> AsyncIterable[bytes]:
    yield data


def _write(file: BinaryIO, digest: hashlib._Hash, chunk: bytes) -> None:
    digest.update(chunk)
    file.write(chunk)


def _sync(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())


def _open_at(path: Path, start: int) -> tuple[BinaryIO, int]:
    file = path.open("rb")
    try:
        total = os.fstat(file.fileno()).st_size
        file.seek(start)
    except BaseException:
        file.close()
        raise
    return file, total


def _discard(temp_name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp_name)
