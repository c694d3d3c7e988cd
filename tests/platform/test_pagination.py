"""Keyset pagination: opaque cursors, tamper checks, stable pages under concurrent inserts."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import install_problem_handlers
from casebook.platform.ids import IdStr, new_id
from casebook.platform.pagination import (
    InvalidCursor,
    Keyset,
    Page,
    PageParams,
    PageQuery,
    decode_cursor,
    encode_cursor,
)

NEWEST_FIRST = Keyset(User.created_at, User.id)
OLDEST_FIRST = Keyset(User.created_at, User.id, descending=False)


class UserItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: IdStr
    email: str


@pytest.fixture
async def list_client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a test app listing auth users newest first, on the test's platform."""
    app = FastAPI()
    app.state.platform = platform
    install_problem_handlers(app)
    users = APIRouter()

    @users.get("/users", response_model=Page[UserItem])
    async def list_users(page: PageQuery) -> Page[UserItem]:
        async with platform.db.session() as session:
            rows, next_cursor = await NEWEST_FIRST.fetch(session, select(User), page)
        return Page[UserItem](items=rows, next_cursor=next_cursor)

    app.include_router(users)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def add_users(platform: Platform, count: int, created_at: datetime | None = None) -> None:
    async with platform.db.session() as session:
        for _ in range(count):
            number = new_id()
            session.add(
                User(
                    id=number,
                    email=f"u{number}@example.com",
                    display_name="u",
                    password_hash="-",
                    created_at=created_at or utcnow(),
                )
            )


async def newest_first_ids(platform: Platform) -> list[int]:
    async with platform.db.session() as session:
        rows = await session.scalars(
            select(User.id).order_by(User.created_at.desc(), User.id.desc())
        )
        return list(rows)


async def read_all(platform: Platform, keyset: Keyset, limit: int) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    while True:
        async with platform.db.session() as session:
            rows, cursor = await keyset.fetch(session, select(User), PageParams(cursor, limit))
        assert len(rows) <= limit
        seen += [row.id for row in rows]
        if cursor is None:
            return seen


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.text(max_size=20),
            st.datetimes(timezones=st.just(UTC)),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_cursors_round_trip_ints_strings_and_datetimes(values: list[Any]) -> None:
    types = [datetime if isinstance(v, datetime) else type(v) for v in values]
    cursor = encode_cursor(values)
    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert list(decode_cursor(cursor, types)) == values


def test_a_cursor_that_could_not_be_decoded_is_never_issued() -> None:
    worst = "\x1f" * 100  # each control character takes six bytes of JSON
    assert list(decode_cursor(encode_cursor([worst, worst]), [str, str])) == [worst, worst]
    with pytest.raises(ValueError, match="exceeds"):
        encode_cursor(["x" * 2000])


def test_cursor_keeps_microseconds() -> None:
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor([moment, 7]), [datetime, int]) == (moment, 7)


def _raw(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "abc=",
        "é",
        "x" * 513,
        _raw("not json"),
        _raw('{"a": 1}'),
        _raw("[1]"),
        _raw("[1, 2, 3]"),
        _raw('["2024-01-01", 1]'),
        _raw("[1, true]"),
        _raw("[1, 1.5]"),
        _raw(f"[1, {2**63}]"),
        _raw(f"[{10**20}, 1]"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
    ],
)
def test_tampered_cursors_are_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, [datetime, int])


def test_keyset_refuses_columns_it_cannot_encode() -> None:
    from casebook.platform.idempotency import IdempotencyRecord

    with pytest.raises(TypeError, match="cannot page by"):
        Keyset(IdempotencyRecord.response_body)


async def test_pages_walk_every_row_once_in_key_order(platform: Platform) -> None:
    await add_users(platform, 23)
    expected = await newest_first_ids(platform)
    assert await read_all(platform, NEWEST_FIRST, 5) == expected
    assert await read_all(platform, OLDEST_FIRST, 5) == list(reversed(expected))
    assert await read_all(platform, NEWEST_FIRST, 23) == expected
    assert await read_all(platform, NEWEST_FIRST, 100) == expected


async def test_rows_sharing_a_sort_value_are_ordered_by_id_without_skips(
    platform: Platform,
) -> None:
    same_moment = utcnow()
    await add_users(platform, 9, created_at=same_moment)
    await add_users(platform, 4, created_at=same_moment - timedelta(seconds=1))
    expected = await newest_first_ids(platform)
    assert await read_all(platform, NEWEST_FIRST, 2) == expected
    assert await read_all(platform, NEWEST_FIRST, 3) == expected


async def test_concurrent_inserts_between_pages_cause_no_duplicates_or_skips(
    platform: Platform,
) -> None:
    await add_users(platform, 30)
    existing = await newest_first_ids(platform)
    seen: list[int] = []
    cursor: str | None = None

    async def next_page() -> str | None:
        async with platform.db.session() as session:
            rows, following = await NEWEST_FIRST.fetch(session, select(User), PageParams(cursor, 7))
        seen.extend(row.id for row in rows)
        return following

    while True:
        # Other writers insert newer rows while this reader fetches its next page.
        writers = [add_users(platform, 1) for _ in range(5)]
        *_, cursor = await asyncio.gather(*writers, next_page())
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "no row appears twice"
    older = [row_id for row_id in seen if row_id in set(existing)]
    assert older == existing, "every row that existed at the start appears, in order"


async def test_list_endpoint_serves_pages_with_opaque_next_cursor(
    platform: Platform, list_client: httpx.AsyncClient
) -> None:
    # Systems may have made operator accounts at startup (a broker's house account): 25 more.
    before = len(await newest_first_ids(platform))
    await add_users(platform, 25)
    first = (await list_client.get("/users")).json()
    assert len(first["items"]) == 20, "default limit is 20"
    assert isinstance(first["items"][0]["id"], str)
    second = (await list_client.get("/users", params={"cursor": first["next_cursor"]})).json()
    assert len(second["items"]) == 5 + before and second["next_cursor"] is None
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids == [str(i) for i in await newest_first_ids(platform)]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
async def test_limit_outside_1_to_100_is_422(list_client: httpx.AsyncClient, limit: str) -> None:
    response = await list_client.get("/users", params={"limit": limit})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_tampered_cursor_on_the_endpoint_is_a_422_problem(
    list_client: httpx.AsyncClient,
) -> None:
    cursor = _raw(json.dumps(["x", "y"]))
    response = await list_client.get("/users", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-cursor"
    assert response.json()["title"] == "Invalid cursor"


async def test_page_schema_documents_items_and_next_cursor(
    list_client: httpx.AsyncClient,
) -> None:
    app_schema = (await list_client.get("/openapi.json")).json()
    page_schema = next(v for k, v in app_schema["components"]["schemas"].items() if "Page" in k)
    assert set(page_schema["properties"]) == {"items", "next_cursor"}
    parameters = app_schema["paths"]["/users"]["get"]["parameters"]
    limit = next(p for p in parameters if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 100 and limit["schema"]["default"] == 20
