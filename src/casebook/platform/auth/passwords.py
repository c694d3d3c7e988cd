"""Password rules and argon2id hashing.

Rules (checked by `check_password`): after Unicode NFKC normalisation a password is 10 to 256
characters long and is not the account's e-mail address. There are no composition rules (NIST SP
800-63B): length is what makes a password strong.

Hashing is argon2id through argon2-cffi with the cost from `Settings` (RFC 9106's second
recommended option by default: 3 passes over 64 MiB with 4 lanes, about 0.1 s on one core). Each
hash or verification runs on a small dedicated thread pool, one thread per core, so the event loop
keeps serving while it works and a burst of logins cannot hold more than `cores * memory` of RAM.
"""

from __future__ import annotations

import asyncio
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from casebook.platform.errors import InvalidInput
from casebook.platform.settings import Settings

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256


class InvalidPassword(InvalidInput):
    type_ = "invalid-password"
    title = "The password does not meet the rules"


@dataclass(frozen=True)
class HashCost:
    """argon2id cost parameters: passes, memory in KiB, lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int

    @classmethod
    def from_settings(cls, settings: Settings | None) -> HashCost:
        """The configured cost, or the production default when no settings are given."""
        if settings is None:
            fields = Settings.model_fields
            return cls(
                time_cost=fields["password_hash_time_cost"].default,
                memory_kib=fields["password_hash_memory_kib"].default,
                parallelism=fields["password_hash_parallelism"].default,
            )
        return cls(
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )


def normalize_password(password: str) -> str:
    """NFKC form, so the same password typed on different keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, email: str) -> str:
    """The normalised password if it meets the rules; raises `InvalidPassword` otherwise."""
    normalized = normalize_password(password)
    if len(normalized) < PASSWORD_MIN_LENGTH:
        raise InvalidPassword(f"The password must have at least {PASSWORD_MIN_LENGTH} characters.")
    if len(normalized) > PASSWORD_MAX_LENGTH:
        raise InvalidPassword(f"The password must have at most {PASSWORD_MAX_LENGTH} characters.")
    if normalized.strip().casefold() == email.strip().casefold():
        raise InvalidPassword("The password must not be the e-mail address.")
    return normalized


@cache
def _hasher(cost: HashCost) -> PasswordHasher:
    return PasswordHasher(
        time_cost=cost.time_cost,
        memory_cost=cost.memory_kib,
        parallelism=cost.parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")


async def hash_password(password: str, cost: HashCost) -> str:
    """The argon2id hash (PHC string) of an already normalised password."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), _hasher(cost).hash, password)


def _verify(encoded: str, password: str, cost: HashCost) -> bool:
    try:
        return _hasher(cost).verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(encoded: str, password: str, cost: HashCost) -> bool:
    """Whether `password` (normalised here) matches `encoded`. Costs one argon2 run."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), _verify, encoded, normalize_password(password), cost)


def needs_rehash(encoded: str, cost: HashCost) -> bool:
    """Whether `encoded` was made with other parameters than `cost` (so login should rehash)."""
    try:
        return _hasher(cost).check_needs_rehash(encoded)
    except InvalidHashError:
        return True


@cache
def _dummy_hash_sync(cost: HashCost) -> str:
    return _hasher(cost).hash("casebook dummy password for unknown accounts")


async def burn_verification(password: str, cost: HashCost) -> None:
    """Spend the time of one verification against a hash made with `cost`, and discard it.

    Logging in with an unknown e-mail address calls this, so that it takes as long as a wrong
    password for a real account and response times do not reveal which addresses exist.
    """
    loop = asyncio.get_running_loop()
    dummy = await loop.run_in_executor(_pool(), _dummy_hash_sync, cost)
    await loop.run_in_executor(_pool(), _verify, dummy, normalize_password(password), cost)
