"""A streaming reader of `multipart/form-data` request bodies: each part's bytes are handed on
as they arrive from the socket, so an upload of 100 MB goes to the blob store in chunks and is
never held in memory or spooled to a temporary file first.

    form = MultipartStream(request.headers["content-type"], request.stream())
    while (part := await form.next_part()) is not None:
        async for chunk in form.chunks():
            ...

The parsing itself is `python-multipart`'s (the parser Starlette uses); this module turns its
callbacks into an async pull interface. Memory is O(one network chunk + one part's headers).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from casebook.platform.errors import InvalidInput

MAX_HEADER_BYTES = 8 * 1024
"""Headers of one part, all together; a part with more is refused."""
MAX_PARTS = 16


class MalformedUpload(InvalidInput):
    type_ = "malformed-upload"
    title = "The upload is not valid multipart/form-data"


@dataclass(frozen=True)
class PartHeader:
    name: str
    """The form field's name (Content-Disposition `name`)."""
    filename: str | None
    """Present for file fields (Content-Disposition `filename`), as the client sent it."""
    content_type: str
    """What the client claims (never trusted for anything but information)."""


class MultipartStream:
    """Pulls parts out of a multipart body one at a time (see the module docstring).

    Raises MalformedUpload for a body that is not multipart/form-data, has no boundary, breaks
    the syntax, ends early, has more than MAX_PARTS parts, or a part whose headers exceed
    MAX_HEADER_BYTES or lack a form-data Content-Disposition with a name.
    """

    def __init__(self, content_type: str | None, body: AsyncIterable[bytes]) -> None:
        media_type, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise MalformedUpload("Send the file as multipart/form-data (with a boundary).")
        self._body = aiter(body)
        self._events: deque[tuple[str, bytes]] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._parts = 0
        self._in_part = False
        self._finished = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(("end_part", b"")),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": lambda: self._events.append(("headers", b"")),
                "on_end": lambda: self._events.append(("end", b"")),
            },
        )

    async def next_part(self) -> PartHeader | None:
        """The next part's headers, skipping what is left of the current part; None at the end."""
        while True:
            kind, _ = await self._next_event()
            if kind == "headers":
                self._in_part = True
                return self._part_header()
            if kind == "end":
                return None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The current part's bytes, chunk by chunk, until the part ends."""
        while self._in_part:
            kind, data = await self._next_event()
            if kind == "data":
                yield data
            elif kind == "end_part":
                self._in_part = False

    async def _next_event(self) -> tuple[str, bytes]:
        while not self._events:
            if self._finished:
                raise MalformedUpload("The multipart body ended before its closing boundary.")
            try:
                chunk = await anext(self._body)
            except StopAsyncIteration:
                self._finished = True
                self._feed_end()
                continue
            self._feed(chunk)
        return self._events.popleft()

    def _feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise MalformedUpload(f"Bad multipart syntax: {exc}") from None

    def _feed_end(self) -> None:
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            raise MalformedUpload(f"Bad multipart syntax: {exc}") from None

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise MalformedUpload(f"At most {MAX_PARTS} parts in one upload.")
        self._headers = []
        self._header_bytes = 0

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        # The parser reuses its buffer: copy the slice out.
        self._events.append(("data", bytes(data[start:end])))

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._header_field).lower(), bytes(self._header_value)))
        self._header_field.clear()
        self._header_value.clear()

    def _count_header_bytes(self, count: int) -> None:
        self._header_bytes += count
        if self._header_bytes > MAX_HEADER_BYTES:
            raise MalformedUpload(f"A part's headers are at most {MAX_HEADER_BYTES} bytes.")

    def _part_header(self) -> PartHeader:
        headers = dict(self._headers)
        disposition, params = parse_options_header(headers.get(b"content-disposition"))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            raise MalformedUpload("Every part needs a 'Content-Disposition: form-data; name=…'.")
        filename = params.get(b"filename")
        content_type = headers.get(b"content-type", b"application/octet-stream")
        return PartHeader(
            name=name.decode("utf-8", "replace"),
            filename=filename.decode("utf-8", "replace") if filename is not None else None,
            content_type=content_type.decode("latin-1").strip(),
        )
