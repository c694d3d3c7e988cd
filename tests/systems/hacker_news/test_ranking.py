"""Ranking: the HN formula, incremental re-ranking of the lists, penalties and the window."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from casebook.systems.hacker_news.ranking import RankedLists, RankedStory, rank
from casebook.systems.hacker_news.runtime import HackerNews
from tests.systems.hacker_news.conftest import API, SLUG, HnUser, NewUser, submit, vote

pytestmark = pytest.mark.feature(SLUG, "ranking")
HOUR = 3600.0


def story(
    id_: int, score: int, created: float, kind: str = "link", penalty: float = 1.0, flags: int = 0
) -> RankedStory:
    return RankedStory(
        id=id_, score=score, created=created, kind=kind, penalty=penalty, flags=flags
    )


def test_the_formula_is_score_minus_one_over_aged_gravity() -> None:
    assert rank(11, 3 * HOUR, 1.8) == pytest.approx(10 / math.pow(5, 1.8))
    assert rank(1, 0, 1.8) == 0
    assert rank(0, 0, 1.8) == 0
    assert rank(11, 3 * HOUR, 1.8, factor=0.5) == pytest.approx(5 / math.pow(5, 1.8))


def test_lists_rerank_one_story_at_a_time_and_age_on_rebuild() -> None:
    now = 1_000_000.0
    lists = RankedLists(gravity=1.8, flag_penalty=0.8, window_seconds=48 * HOUR)
    old_popular = story(1, 30, now - 10 * HOUR)
    fresh = story(2, 6, now - 0.5 * HOUR)
    ask = story(3, 4, now - 1 * HOUR, kind="ask")
    for s in (old_popular, fresh, ask):
        lists.upsert(s, now)
    # 29/12^1.8 = 0.33, 5/2.5^1.8 = 1.01, 3/3^1.8 = 0.41
    assert lists.ids("top", 10) == [2, 3, 1]
    assert lists.ids("ask", 10) == [3] and lists.ids("show", 10) == []
    lists.upsert(story(1, 300, old_popular.created), now)
    assert lists.ids("top", 10) == [1, 2, 3]
    assert lists.position(2) == 1
    # A day later the fresh story has decayed below the much-voted one; the window drops none yet.
    lists.rebuild([story(1, 300, old_popular.created), fresh, ask], now + 24 * HOUR)
    assert lists.ids("top", 2) == [1, 2]
    lists.rebuild([story(1, 300, old_popular.created), fresh, ask], now + 40 * HOUR)
    assert lists.ids("top", 10) == [2, 3]
    lists.remove(2)
    assert lists.ids("top", 10) == [3] and lists.position(2) is None


def test_penalties_and_flags_push_stories_down() -> None:
    now = 5_000_000.0
    lists = RankedLists(gravity=1.8, flag_penalty=0.5, window_seconds=48 * HOUR)
    lists.upsert(story(1, 10, now - HOUR), now)
    lists.upsert(story(2, 10, now - HOUR, penalty=0.4), now)
    lists.upsert(story(3, 10, now - HOUR, flags=2), now)
    assert lists.ids("top", 3) == [1, 2, 3]


async def test_votes_reorder_the_front_page_without_a_rebuild(
    client: httpx.AsyncClient, alice: HnUser, new_user: NewUser, state: HackerNews
) -> None:
    first = await submit(client, alice, "First", url="https://r.example/1")
    second = await submit(client, alice, "Second", url="https://r.example/2")
    top = (await client.get(f"{API}/v0/topstories.json")).json()
    assert top == [second["id"], first["id"]]  # no votes yet: newest first
    voter = await new_user()
    assert (await vote(client, voter, first["id"], "up")).status_code == 200
    assert (await client.get(f"{API}/v0/topstories.json")).json() == [first["id"], second["id"]]
    # The periodic rebuild from the database agrees with the incremental order.
    await state.rebuild(time.time())
    assert (await client.get(f"{API}/v0/topstories.json")).json() == [first["id"], second["id"]]


async def test_lists_are_rebuilt_from_the_database(
    client: httpx.AsyncClient, alice: HnUser, state: HackerNews
) -> None:
    item = await submit(client, alice, "Survives a restart", url="https://r.example/3")
    state.lists.rebuild([], time.time())
    assert (await client.get(f"{API}/v0/topstories.json")).json() == []
    await state.rebuild()
    assert (await client.get(f"{API}/v0/topstories.json")).json() == [item["id"]]


async def test_text_stories_and_penalized_domains_rank_lower(
    client: httpx.AsyncClient, alice: HnUser, new_user: NewUser, configure: object
) -> None:
    configure(penalized_domains=["spam.example"])  # type: ignore[operator]
    text = await submit(client, alice, "Some musing", text="words")
    penalized = await submit(client, alice, "Penalized", url="https://www.spam.example/x")
    plain = await submit(client, alice, "Plain", url="https://fine.example/x")
    voter = await new_user()
    for item in (text, penalized, plain):
        assert (await vote(client, voter, item["id"], "up")).status_code == 200
    top = (await client.get(f"{API}/v0/topstories.json")).json()
    assert top == [plain["id"], text["id"], penalized["id"]]
