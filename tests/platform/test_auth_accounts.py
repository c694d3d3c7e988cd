"""Accounts: registration rules, login, throttling, enumeration resistance, password rehash."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest
from argon2 import extract_parameters
from sqlalchemy import select

from casebook.platform.auth import passwords, service
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.errors import TooManyRequests
from casebook.platform.ratelimit import MemoryRateLimiter
from casebook.platform.settings import Settings

PASSWORD = "correct horse battery"


ADA = "ada@example.com"
"""The address these tests register; other accounts may exist (systems' operator accounts, made
at startup, such as a broker's house account).
"""


async def register(
    client: httpx.AsyncClient,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    display_name: str = "Ada Lovelace",
) -> httpx.Response:
    body = {"email": email, "password": password, "display_name": display_name}
    return await client.post("/api/auth/register", json=body)


async def login(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_register_returns_the_user_with_a_string_id_and_normalised_email(
    client: httpx.AsyncClient,
) -> None:
    response = await register(client, email="  Ada.Lovelace@Example.COM ")
    assert response.status_code == 201
    user = response.json()
    assert isinstance(user["id"], str) and user["id"].isdigit()
    assert user["email"] == "ada.lovelace@example.com"
    assert user["display_name"] == "Ada Lovelace"
    assert "password" not in str(user) and "hash" not in str(user)


async def test_register_stores_an_argon2id_hash_never_the_password(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await register(client)
    async with platform.db.session() as session:
        user = (await session.scalars(select(User).where(User.email == ADA))).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert extract_parameters(user.password_hash).memory_cost == 1024


async def test_register_with_a_taken_email_in_any_case_is_a_409_problem(
    client: httpx.AsyncClient,
) -> None:
    assert (await register(client)).status_code == 201
    response = await register(client, email="ADA@example.com")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/email-taken"


async def test_concurrent_registrations_of_one_email_create_exactly_one_account(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    responses = await asyncio.gather(*(register(client) for _ in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 11
    async with platform.db.session() as session:
        assert len((await session.scalars(select(User).where(User.email == ADA))).all()) == 1


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "invalid-password"),
        ("x" * 257, "invalid-password"),
        ("ada@example.com", "invalid-password"),
    ],
)
async def test_register_refuses_passwords_outside_the_rules(
    client: httpx.AsyncClient, password: str, problem: str
) -> None:
    response = await register(client, password=password)
    assert response.status_code == 422
    assert response.json()["type"] == f"/problems/{problem}"


async def test_password_length_is_counted_after_unicode_normalisation(
    client: httpx.AsyncClient,
) -> None:
    # "ﬀ" (one ligature code point) normalises to "ff": 5 ligatures become 10 characters.
    assert (await register(client, password="\ufb00" * 5)).status_code == 201
    assert (await login(client, password="ff" * 5)).status_code == 200


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", ""])
async def test_register_refuses_invalid_email_addresses(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await register(client, email=email)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-email"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bell\x07"])
async def test_register_refuses_bad_display_names(client: httpx.AsyncClient, name: str) -> None:
    response = await register(client, display_name=name)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-name"


async def test_login_returns_a_bearer_token_pair(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client)
    response = await login(client, email="ADA@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds
    assert body["refresh_token"].startswith("cbr_")
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


async def test_wrong_password_and_unknown_email_get_the_same_401_problem(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    wrong = await login(client, password="not the password")
    unknown = await login(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["type"] == "/problems/invalid-credentials"
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_me_without_credentials_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/unauthorized"


async def test_logins_past_the_limit_for_one_email_get_429_with_retry_after(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client)
    for _ in range(settings.login_attempts_per_minute):
        assert (await login(client, password="wrong password!")).status_code == 401
    response = await login(client)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["type"] == "/problems/rate-limited"


async def attempt_login(
    platform: Platform, email: str, client_ip: str | None, limiter: MemoryRateLimiter
) -> type[Exception]:
    """The problem class one failed login raises."""
    async with platform.db.session() as session:
        try:
            await service.authenticate(
                session,
                platform.settings,
                email,
                "wrong password",
                limiter=limiter,
                client_ip=client_ip,
            )
        except Exception as exc:
            return type(exc)
    raise AssertionError("the login succeeded")


async def test_email_throttle_counts_every_spelling_of_one_address_from_any_ip(
    platform: Platform,
) -> None:
    limiter = MemoryRateLimiter()
    for index in range(platform.settings.login_attempts_per_minute):
        spelled = "ADA@example.com" if index % 2 else " ada@EXAMPLE.com "
        failure = await attempt_login(platform, spelled, f"10.0.0.{index}", limiter)
        assert failure is service.InvalidCredentials
    failure = await attempt_login(platform, "ada@example.com", "10.9.9.9", limiter)
    assert failure is TooManyRequests


async def test_ip_throttle_counts_attempts_on_every_address_from_one_ip(
    platform: Platform,
) -> None:
    limiter = MemoryRateLimiter()
    for index in range(platform.settings.login_attempts_per_minute):
        failure = await attempt_login(platform, f"user{index}@example.com", "10.0.0.1", limiter)
        assert failure is service.InvalidCredentials
    assert await attempt_login(platform, "new@example.com", "10.0.0.1", limiter) is (
        TooManyRequests
    )
    assert await attempt_login(platform, "new@example.com", "10.0.0.2", limiter) is (
        service.InvalidCredentials
    )


async def test_attempts_refused_for_their_ip_spend_nothing_of_the_address(
    platform: Platform,
) -> None:
    limiter = MemoryRateLimiter()
    limit = platform.settings.login_attempts_per_minute
    for index in range(limit):
        await attempt_login(platform, f"user{index}@example.com", "10.6.6.6", limiter)
    for _ in range(3 * limit):
        failure = await attempt_login(platform, "victim@example.com", "10.6.6.6", limiter)
        assert failure is TooManyRequests
    for index in range(limit):
        failure = await attempt_login(platform, "victim@example.com", f"10.1.1.{index}", limiter)
        assert failure is service.InvalidCredentials, "the victim's budget is untouched"


async def test_concurrent_login_burst_admits_exactly_the_limit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client)
    responses = await asyncio.gather(*(login(client) for _ in range(25)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == settings.login_attempts_per_minute
    assert statuses.count(429) == 25 - settings.login_attempts_per_minute


async def test_throttled_login_spends_no_password_work(platform: Platform) -> None:
    settings = platform.settings.model_copy(
        update={"login_attempts_per_minute": 1, "password_hash_memory_kib": 32768}
    )
    limiter = MemoryRateLimiter()
    async with platform.db.session() as session:
        with pytest.raises(service.InvalidCredentials):
            await service.authenticate(
                session, settings, "a@example.com", "x", limiter=limiter, client_ip=None
            )
        started = time.perf_counter()
        with pytest.raises(TooManyRequests):
            await service.authenticate(
                session, settings, "a@example.com", "x", limiter=limiter, client_ip=None
            )
        assert time.perf_counter() - started < 0.01


async def test_unknown_email_costs_as_much_argon2_time_as_a_wrong_password(
    platform: Platform,
) -> None:
    # Costly enough (about 10 ms a verification) that skipping argon2 would show in the medians.
    settings = platform.settings.model_copy(
        update={"password_hash_memory_kib": 8192, "password_hash_time_cost": 2}
    )
    limiter = MemoryRateLimiter()
    async with platform.db.session() as session:
        await service.register_user(session, "ada@example.com", PASSWORD, "Ada", settings=settings)

    async def attempt(email: str) -> float:
        async with platform.db.session() as session:
            started = time.perf_counter()
            with pytest.raises(service.InvalidCredentials):
                await service.authenticate(
                    session, settings, email, "wrong password", limiter=limiter, client_ip=None
                )
            return time.perf_counter() - started

    await attempt("nobody@example.com")  # the first call also makes the dummy hash
    known: list[float] = []
    unknown: list[float] = []
    for index in range(7):
        known.append(await attempt("ada@example.com"))
        unknown.append(await attempt(f"nobody{index}@example.com"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)


async def test_login_rehashes_a_password_hashed_with_old_parameters(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    weaker = platform.settings.model_copy(update={"password_hash_memory_kib": 512})
    async with platform.db.session() as session:
        await service.register_user(session, "ada@example.com", PASSWORD, "Ada", settings=weaker)
    assert (await login(client)).status_code == 200
    async with platform.db.session() as session:
        user = (await session.scalars(select(User).where(User.email == ADA))).one()
    assert extract_parameters(user.password_hash).memory_cost == 1024
    assert (await login(client)).status_code == 200, "the new hash still verifies"


def test_default_hash_cost_is_rfc_9106_second_recommendation() -> None:
    cost = passwords.HashCost.from_settings(Settings())
    assert cost == passwords.HashCost(time_cost=3, memory_kib=65536, parallelism=4)
    assert passwords.HashCost.from_settings(None) == cost


async def test_register_with_idempotency_key_replays_the_created_user(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": "ada@example.com", "password": PASSWORD, "display_name": "Ada"}
    headers = {"Idempotency-Key": "register-ada-1"}
    first = await client.post("/api/auth/register", json=body, headers=headers)
    again = await client.post("/api/auth/register", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
