"""The pieces every load mix builds its simulated population from: addresses, sizing, bounded
setup requests, a follow graph, and accounts signed up and in through the real auth API."""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest

from casebook.platform.capacity import (
    BENCHMARK_NETWORK,
    HEADROOM,
    SetupFailed,
    benchmark_address,
    clients_needed,
    follow_pairs,
    register_and_log_in,
    run_concurrently,
)


def test_each_simulated_client_has_its_own_host_of_the_benchmark_range() -> None:
    assert str(BENCHMARK_NETWORK) == "198.18.0.0/15"
    assert [benchmark_address(n) for n in (0, 1, 255, 256)] == [
        "198.18.0.1",
        "198.18.0.2",
        "198.18.1.0",
        "198.18.1.1",
    ]
    last = BENCHMARK_NETWORK.num_addresses - 3
    assert benchmark_address(last) == "198.19.255.254"  # the broadcast address is never used
    for beyond in (last + 1, -1):
        with pytest.raises(SetupFailed, match=r"benchmark range 198\.18\.0\.0/15"):
            benchmark_address(beyond)


def test_clients_needed_keeps_each_client_at_a_fraction_of_its_allowance() -> None:
    assert HEADROOM == 2
    # 10 writes/s against 1/s each, at half of it: 20 clients.
    assert clients_needed(10, 1) == 20
    assert clients_needed(5, 10) == 1
    assert clients_needed(5.001, 10) == 2
    assert clients_needed(0, 10) == 0
    assert clients_needed(10, 5, headroom=1) == 2
    # A count against a burst works the same way: 1,000 setup items, a burst of 600 per client.
    assert clients_needed(1000, 600) == 4


async def test_run_concurrently_holds_the_limit_and_keeps_the_order() -> None:
    in_flight = peak = 0

    async def step(number: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (number % 3))
        in_flight -= 1
        return number * 10

    assert await run_concurrently((step(n) for n in range(20)), 4) == [n * 10 for n in range(20)]
    assert peak == 4


async def test_run_concurrently_raises_the_refusal_of_a_step() -> None:
    async def step(number: int) -> int:
        if number == 3:
            raise SetupFailed("create a thing: HTTP 409")
        return number

    with pytest.raises(SetupFailed, match="create a thing"):
        await run_concurrently((step(n) for n in range(6)), 2)


async def test_steps_cancelled_before_their_turn_are_closed_unstarted() -> None:
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.sleep(10)

    steps: list[Coroutine[Any, Any, None]] = [step() for _ in range(3)]
    run = asyncio.create_task(run_concurrently(steps, 1))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [inspect.getcoroutinestate(s) for s in steps] == [inspect.CORO_CLOSED] * 3


def test_follow_pairs_are_a_ring_plus_random_others() -> None:
    pairs = follow_pairs(50, 3, random.Random(7))
    assert pairs == sorted(set(pairs))
    assert all((i, (i + 1) % 50) in pairs for i in range(50))
    assert all(i != j for i, j in pairs)
    per_follower = [sum(1 for i, _ in pairs if i == n) for n in range(50)]
    assert max(per_follower) <= 3 and sum(per_follower) > 50  # some random picks were kept
    assert follow_pairs(50, 3, random.Random(7)) == pairs
    assert follow_pairs(2, 3, random.Random(7)) == [(0, 1), (1, 0)]


async def test_a_registered_user_acts_through_its_headers_from_its_own_address(
    client: httpx.AsyncClient,
) -> None:
    user = await register_and_log_in(
        client,
        email="load-ada@example.com",
        display_name="Ada",
        who="a test user",
        address=benchmark_address(5),
    )
    assert user.headers == {
        "X-Forwarded-For": "198.18.0.6",
        "Authorization": f"Bearer {user.access_token}",
    }
    me = await client.get("/api/auth/me", headers=user.headers)
    assert me.status_code == 200
    assert me.json()["id"] == user.user_id and me.json()["display_name"] == "Ada"

    local = await register_and_log_in(
        client, email="load-bob@example.com", display_name="Bob", who="a test user"
    )
    assert local.headers == {"Authorization": f"Bearer {local.access_token}"}
    assert local.user_id != user.user_id


async def test_a_refused_registration_names_the_step(client: httpx.AsyncClient) -> None:
    await register_and_log_in(
        client, email="load-cy@example.com", display_name="Cy", who="the load-test writer"
    )
    with pytest.raises(SetupFailed, match=r"^register the load-test writer: HTTP 409"):
        await register_and_log_in(
            client, email="load-cy@example.com", display_name="Cy", who="the load-test writer"
        )
