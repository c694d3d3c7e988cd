"""Keyset pagination with opaque cursors, stable under concurrent inserts.

A list endpoint takes `PageParams` (`?cursor=&limit=`, limit 1 to 100, default 20), narrows its
query with a `Keyset` and answers a `Page[T]` (`{items, next_cursor}`):

    NEWEST_FIRST = Keyset(Link.created_at, Link.id)

    @router.get("/links", response_model=Page[LinkOut])
    async def list_links(principal: CurrentPrincipal, page: PageQuery, session: Session):
        stmt = select(Link).where(Link.owner_id == principal.user_id)
        links, next_cursor = await NEWEST_FIRST.fetch(session, stmt, page)
        return Page[LinkOut](items=links, next_cursor=next_cursor)

`Keyset.apply` adds `WHERE (created_at, id) < (:c, :i) ORDER BY created_at DESC, id DESC LIMIT
n + 1`: each page starts strictly after the last row of the previous one, so rows inserted while
a client pages (newer, hence before the cursor) neither repeat nor push older rows off a page, and
with an index on the key columns every page costs one index range scan, O(log N + n), however
deep the client has paged. The extra row tells whether there is a next page without a COUNT.

The cursor is the base64url of a compact JSON array of the last row's key values (datetimes as
integer microseconds since the Unix epoch). It is opaque to clients but not signed: a cursor only
bounds a query the caller may already run, so an edited one can reveal nothing new. One that does
not decode to values of the key's column types is answered with 422 `invalid-cursor`.

The key columns must be NOT NULL, sort in one direction, and end with a unique column (the id) so
the order is total.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator

from casebook.platform.errors import InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 2048
"""Longest cursor accepted; `encode_cursor` refuses to make a longer one (a sort key that long
is a design mistake: page by an id or a timestamp)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
_CURSOR_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")

T = TypeVar("T")
CursorValue = int | str | datetime


class InvalidCursor(InvalidInput):
    type_ = "invalid-cursor"
    title = "Invalid cursor"


class PageParams:
    """Dependency: the `cursor` and `limit` query parameters of a list endpoint."""

    def __init__(
        self,
        cursor: Annotated[
            str | None,
            Query(
                max_length=MAX_CURSOR_LENGTH,
                description="`next_cursor` of the previous page; omit for the first page.",
            ),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")
        ] = DEFAULT_LIMIT,
    ) -> None:
        self.cursor = cursor or None
        self.limit = limit


PageQuery = Annotated[PageParams, Depends()]
"""`page: PageQuery` in an endpoint's signature reads `?cursor=&limit=`."""


class Page(BaseModel, Generic[T]):
    """One page of a list: its items and the cursor of the next page (null on the last one)."""

    items: list[T]
    next_cursor: str | None


def _encode_value(value: CursorValue) -> int | str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("cursor datetimes must be timezone-aware")
        return (value - _EPOCH) // _MICROSECOND
    return value


def encode_cursor(values: Sequence[CursorValue]) -> str:
    """The opaque cursor for a row whose key is `values` (ints, strings, aware datetimes).

    Raises ValueError when the cursor would be longer than `MAX_CURSOR_LENGTH`, which
    `decode_cursor` would refuse: every cursor this function returns can be decoded.
    """
    payload = json.dumps(
        [_encode_value(v) for v in values], separators=(",", ":"), ensure_ascii=False
    )
    cursor = base64.urlsafe_b64encode(payload.encode("utf-8")).rstrip(b"=").decode("ascii")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError(f"a cursor of {len(cursor)} characters exceeds {MAX_CURSOR_LENGTH}")
    return cursor


def decode_cursor(cursor: str, types: Sequence[type]) -> tuple[CursorValue, ...]:
    """The key values in `cursor`, checked against `types` (int, str or datetime, in order).

    Raises `InvalidCursor` when the cursor is not base64url JSON of exactly that many values of
    those types, or an int would overflow a BIGINT.
    """
    if len(cursor) > MAX_CURSOR_LENGTH or not _CURSOR_ALPHABET.match(cursor):
        raise InvalidCursor("The cursor is not one this API issued.")
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        values = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("The cursor is not one this API issued.") from exc
    if not isinstance(values, list) or len(values) != len(types):
        raise InvalidCursor("The cursor is not one this API issued.")
    return tuple(_decode_value(value, kind) for value, kind in zip(values, types, strict=True))


def _decode_value(value: Any, kind: type) -> CursorValue:
    if kind is str:
        if isinstance(value, str):
            return value
    elif isinstance(value, int) and not isinstance(value, bool):
        if kind is int and _BIGINT_MIN <= value <= _BIGINT_MAX:
            return value
        if kind is datetime:
            try:
                return _EPOCH + value * _MICROSECOND
            except OverflowError:
                pass
    raise InvalidCursor("The cursor is not one this API issued.")


class Keyset:
    """The sort key of a list: columns compared as one row value, newest first by default.

    `Keyset(Link.created_at, Link.id)` pages by creation time, ties broken by id. Column types
    must map to int, str or datetime.
    """

    def __init__(self, *columns: QueryableAttribute[Any], descending: bool = True) -> None:
        if not columns:
            raise ValueError("a keyset needs at least one column")
        self.columns = columns
        self.descending = descending
        self.types: tuple[type, ...] = tuple(self._python_type(c) for c in columns)

    @staticmethod
    def _python_type(column: QueryableAttribute[Any]) -> type:
        column_type = column.type
        # A TypeDecorator (such as the aware-UTC datetime) reports `object`; its impl knows.
        while isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        kind: type = column_type.python_type
        if kind not in (int, str, datetime):
            raise TypeError(f"cannot page by {column.key}: {kind.__name__} is not int/str/datetime")
        return kind

    def apply(self, stmt: Select[Any], params: PageParams) -> Select[Any]:
        """`stmt` limited to the page after `params.cursor`, in key order, with one extra row.

        `stmt` must not have its own ORDER BY or LIMIT. Raises `InvalidCursor`.
        """
        if params.cursor is not None:
            values = decode_cursor(params.cursor, self.types)
            bounds = [literal(v, c.type) for v, c in zip(values, self.columns, strict=True)]
            stmt = stmt.where(self._after(bounds))
        order = [c.desc() if self.descending else c.asc() for c in self.columns]
        return stmt.order_by(*order).limit(params.limit + 1)

    def _after(self, bounds: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
        if len(self.columns) == 1:
            column, bound = self.columns[0], bounds[0]
            return column < bound if self.descending else column > bound
        key, bound_row = tuple_(*self.columns), tuple_(*bounds)
        return key < bound_row if self.descending else key > bound_row

    def cursor_for(self, row: Any) -> str:
        """The cursor that starts the page after `row` (an entity or a row with the key columns)."""
        return encode_cursor([getattr(row, c.key) for c in self.columns])

    def page(self, rows: Sequence[T], params: PageParams) -> tuple[list[T], str | None]:
        """From the rows `apply` selected: the page's rows (at most `params.limit`) and the
        cursor of the next page, or None when this is the last one."""
        items = list(rows[: params.limit])
        has_more = len(rows) > params.limit
        return items, self.cursor_for(items[-1]) if has_more else None

    async def fetch(
        self, session: AsyncSession, stmt: Select[Any], params: PageParams
    ) -> tuple[list[Any], str | None]:
        """Run `stmt` (selecting one entity) for the page of `params`: its rows and next cursor."""
        rows = (await session.scalars(self.apply(stmt, params))).all()
        return self.page(rows, params)
