"""Shorten: generated codes from atomically reserved counter blocks, distinct under concurrency
within a process and across processes sharing the database; the unique constraint is the guard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select

from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings
from casebook.systems.url_shortener import service
from casebook.systems.url_shortener.codes import CODE_LENGTH
from casebook.systems.url_shortener.config import ShortenerSettings
from casebook.systems.url_shortener.counter import reserve_block
from casebook.systems.url_shortener.models import Link
from casebook.systems.url_shortener.runtime import Shortener
from tests.systems.url_shortener.conftest import Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "shorten")


async def test_shorten_returns_a_seven_character_base62_code(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await shorten(client, alice.headers, url="https://example.com/a")
    assert response.status_code == 201
    body = response.json()
    assert len(body["code"]) == CODE_LENGTH and body["code"].isalnum()
    assert body["url"] == "https://example.com/a"
    assert body["is_alias"] is False
    assert body["short_url"] == f"http://127.0.0.1:8000/s/{body['code']}"


async def test_the_seeds_long_url_field_is_accepted(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await shorten(client, alice.headers, long_url="https://example.com/seed")
    assert response.status_code == 201
    assert response.json()["url"] == "https://example.com/seed"


async def test_counter_blocks_never_overlap(platform: Platform) -> None:
    blocks = await asyncio.gather(*(reserve_block(platform.db, 7) for _ in range(30)))
    values = [v for block in blocks for v in block]
    assert len(values) == len(set(values)) == 30 * 7


async def test_concurrent_shortens_get_distinct_codes(
    client: httpx.AsyncClient, alice: Account, configure: Callable[..., object]
) -> None:
    configure(code_block_size=3, shorten_per_minute_ip=1000)
    responses = await asyncio.gather(
        *(shorten(client, alice.headers, url=f"https://example.com/{i}") for i in range(60))
    )
    assert [r.status_code for r in responses] == [201] * 60
    codes = {r.json()["code"] for r in responses}
    assert len(codes) == 60


async def test_two_processes_on_one_database_never_hand_out_the_same_code(
    settings: Settings, platform: Platform
) -> None:
    """Two Platforms (engines, caches, counter blocks) on the same database stand for two app
    processes; small blocks make them interleave reservations many times."""
    config = ShortenerSettings(code_block_size=4)
    other = Platform.start(settings)
    try:
        first, second = Shortener(platform, config), Shortener(other, config)
        first.writer.start()
        second.writer.start()

        async def create(state: Shortener, n: int) -> str:
            view = await service.shorten(state, None, f"https://example.com/{n}")
            return view.link.code

        codes = await asyncio.gather(*(create(first if n % 2 else second, n) for n in range(80)))
    finally:
        for state in (first, second):
            await state.writer.stop()
            await state.links.close()
        await other.close()
    assert len(set(codes)) == 80
    async with platform.db.session() as session:
        stored = await session.scalar(select(func.count()).select_from(Link))
    assert stored == 80


async def test_a_taken_code_is_skipped_by_the_unique_constraint(
    platform: Platform, state: Shortener
) -> None:
    """If a generated code already exists (say, the secret key was rotated), the insert's
    ON CONFLICT leaves it alone and the next counter value is used."""
    block = await reserve_block(platform.db, 2)
    state.allocator._block, state.allocator._next = block, 0
    squatted = state.codes.code_for(block[0])
    async with platform.db.session() as session:
        session.add(
            Link(id=new_id(), code=squatted, target_url="https://example.com/old", owner_id=None)
        )
    view = await service.shorten(state, None, "https://example.com/new")
    assert view.link.code == state.codes.code_for(block[1])
    async with platform.db.session() as session:
        old = await session.scalar(select(Link.target_url).where(Link.code == squatted))
    assert old == "https://example.com/old"
