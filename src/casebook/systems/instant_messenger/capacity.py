"""Instant Messenger's capacity model: seed-003 §8 ("Scaling", a "small scale simulation").

The article's inputs: 1.2 billion users, 300 million daily active, 10 messages sent per user a
day (3 billion messages a day), reads:writes 100:1, 1 KB per message, a 3-year horizon. Its
arithmetic holds except in one place, kept here next to the corrected figure:

- 3-year storage: "3 TB x 5 x 365 = 5.475 PB" multiplies by 5 for a 3-year horizon (the same
  slip as its Alibaba and Amazon Locker sections); 3 TB x 3 x 365 = 3.285 PB.
- Its 34,722 messages/s (3 billion / 86,400) counts writes only; with 100 reads per write the
  service answers about 3.5 million requests/s on average. The 1.2 billion registered users
  size the user table, not the traffic; they are context, not an input.

The load mix is the seed's 100:1, over the seed's own endpoints where it names them: for every
message sent (`POST /messages/send`, half to a friend's direct chat, half to a group) come 50
feed reads (`GET /messages/get/{user_id}`, the seed's top 50), 40 pages of group history (the
engine's `GET /conversations/{id}/messages`, 20 per page) and 10 single-message reads with
receipts (`GET /messages/{message_id}`). Texts are 1,000 characters, the seed's 1 KB. Each
simulated user signs up through `POST /users/register` and logs in through `POST /users/login`
from its own benchmark address (198.18.0.0/15, RFC 2544), so per-address log-in limits hold;
the population is sized to the engine's send limit (30/s per user) with 2x headroom.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass, field

import httpx

from casebook.engines.messaging.runtime import MessagingConfig
from casebook.platform.capacity import (
    CapacityModel,
    LoadAction,
    LoadMix,
    LoadSetup,
    SeedClaim,
    benchmark_address,
    clients_needed,
    run_concurrently,
    setup_step,
)

API = "/api/instant-messenger"
GROUP_SIZE = 10
TEXT_CHARS = 1000
"""The seed's 1 KB message."""
KEPT_MESSAGES = 1000
"""Message ids kept per group for single-message reads (newest replace a random one)."""
SETUP_CONCURRENCY = 16
_LETTERS = "abcdefghij klmnopqrstuvwxyz"


@dataclass(frozen=True)
class LoadUser:
    user_id: str
    headers: dict[str, str]
    group: int
    """Index of the user's group in `ImLoad.groups`."""


@dataclass
class ImLoad:
    """The simulated users in groups of GROUP_SIZE, each group's id and recent message ids.
    Every pick is O(1)."""

    users: list[LoadUser]
    groups: list[str]
    messages: list[list[str]]
    rng: random.Random = field(default_factory=random.Random)

    def pick(self) -> LoadUser:
        return self.users[self.rng.randrange(len(self.users))]

    def groupmate(self, user: LoadUser) -> LoadUser:
        """Another member of `user`'s group (groups have at least two members)."""
        start = user.group * GROUP_SIZE
        mates = [u for u in self.users[start : start + GROUP_SIZE] if u is not user]
        return mates[self.rng.randrange(len(mates))]

    def remember(self, group: int, message_id: str) -> None:
        kept = self.messages[group]
        if len(kept) < KEPT_MESSAGES:
            kept.append(message_id)
        else:
            kept[self.rng.randrange(KEPT_MESSAGES)] = message_id

    def text(self) -> str:
        return "".join(self.rng.choices(_LETTERS, k=TEXT_CHARS))


def population(setup: LoadSetup, write_share: float) -> int:
    """Users needed so each sends at most 1/HEADROOM of the engine's sustained send rate; at
    least one full group, at least `setup.items`."""
    needed = clients_needed(setup.rate * write_share, MessagingConfig().send_rate)
    return max(GROUP_SIZE, setup.items, needed)


async def _user(
    client: httpx.AsyncClient, number: int, tag: str, address: str
) -> tuple[str, dict[str, str]]:
    """Sign simulated user `number` up and in through the seed's endpoints, from `address`;
    (id, headers)."""
    origin = {"X-Forwarded-For": address}
    username, password = f"imload_{tag}_{number}", secrets.token_urlsafe(18)
    credentials = {"username": username, "password": password}
    created = setup_step(
        await client.post(f"{API}/users/register", json=credentials, headers=origin),
        201,
        "register a load-test user",
    )
    tokens = setup_step(
        await client.post(f"{API}/users/login", json=credentials, headers=origin),
        200,
        "log a load-test user in",
    )
    return str(created["user_id"]), {**origin, "Authorization": f"Bearer {tokens['access_token']}"}


async def prepare_users(client: httpx.AsyncClient, setup: LoadSetup) -> ImLoad:
    """Register the population (rounded up to whole groups), put it in groups of GROUP_SIZE
    and post one message in each group so there is something to read. Raises SetupFailed
    naming the refused step."""
    count = population(setup, LOAD_MIX.share("write"))
    count = math.ceil(count / GROUP_SIZE) * GROUP_SIZE
    tag = secrets.token_hex(4)
    addresses = [benchmark_address(n) for n in range(count)]
    people = await run_concurrently(
        (_user(client, n, tag, address) for n, address in enumerate(addresses)),
        SETUP_CONCURRENCY,
    )
    state = ImLoad(users=[], groups=[], messages=[])
    for index, start in enumerate(range(0, count, GROUP_SIZE)):
        members = people[start : start + GROUP_SIZE]
        owner_headers = members[0][1]
        group = setup_step(
            await client.post(
                f"{API}/groups/create",
                json={"group_name": f"load {tag} {index}", "members": [m[0] for m in members[1:]]},
                headers=owner_headers,
            ),
            201,
            "create a load-test group",
        )
        first = setup_step(
            await client.post(
                f"{API}/messages/send",
                json={"group_id": group["group_id"], "content": "hello", "client_id": "setup"},
                headers=owner_headers,
            ),
            201,
            "post the first message of a load-test group",
        )
        state.groups.append(group["group_id"])
        state.messages.append([first["message_id"]])
        state.users += [LoadUser(user_id, headers, index) for user_id, headers in members]
    return state


async def send_message(client: httpx.AsyncClient, state: ImLoad) -> httpx.Response:
    """Write: a 1 KB text, to a groupmate's direct chat or to the group, one in two each."""
    user = state.pick()
    to_group = state.rng.random() < 0.5
    target = (
        {"group_id": state.groups[user.group]}
        if to_group
        else {"receiver_id": state.groupmate(user).user_id}
    )
    response = await client.post(
        f"{API}/messages/send",
        json={**target, "content": state.text(), "client_id": secrets.token_hex(8)},
        headers=user.headers,
    )
    if to_group and response.status_code == 201:
        state.remember(user.group, response.json()["message_id"])
    return response


async def read_feed(client: httpx.AsyncClient, state: ImLoad) -> httpx.Response:
    """Read: the user's feed, the newest 50 messages of their own chats."""
    user = state.pick()
    return await client.get(f"{API}/messages/get/{user.user_id}", headers=user.headers)


async def read_history(client: httpx.AsyncClient, state: ImLoad) -> httpx.Response:
    """Read: the newest page of 20 messages of the user's group."""
    user = state.pick()
    return await client.get(
        f"{API}/conversations/{state.groups[user.group]}/messages",
        params={"limit": 20},
        headers=user.headers,
    )


async def read_message(client: httpx.AsyncClient, state: ImLoad) -> httpx.Response:
    """Read: one message of the user's group by id, with its receipt state."""
    user = state.pick()
    kept = state.messages[user.group]
    return await client.get(
        f"{API}/messages/{kept[state.rng.randrange(len(kept))]}", headers=user.headers
    )


LOAD_MIX = LoadMix(
    setup=prepare_users,
    actions=(
        LoadAction("read-feed", "read", 50, read_feed, frozenset({200})),
        LoadAction("read-history", "read", 40, read_history, frozenset({200})),
        LoadAction("read-message", "read", 10, read_message, frozenset({200})),
        LoadAction("send-message", "write", 1, send_message, frozenset({201})),
    ),
    setup_size=GROUP_SIZE,
)

CAPACITY = CapacityModel(
    slug="instant-messenger",
    source="seed-003 §8, article lines ~6270-6950",
    daily_active_users=300e6,
    writes_per_day=3e9,
    reads_per_write=100,
    object_bytes=1_000,
    retention_years=3,
    peak_factor=2,
    write_noun="messages sent",
    read_noun="messages read",
    object_noun="message",
    seed={
        "daily_active_users": SeedClaim(300e6, "300 M DAU (of 1.2 B users)"),
        "writes_per_day": SeedClaim(3e9, "10 messages/user/day → 3 B messages/day"),
        "reads_per_write": SeedClaim(100, "read:write 100:1"),
        "object_bytes": SeedClaim(1_000, "1 KB per message"),
        "retention_years": SeedClaim(3, "3 years"),
        "writes_per_second": SeedClaim(34_722, "3 B / 86,400 ≈ 34,722 messages/s"),
        "storage_per_day": SeedClaim(3e12, "3 B x 1 KB = 3 TB/day"),
        "storage_over_horizon": SeedClaim(
            5.475e15,
            "3 TB x 5 x 365 = 5.475 PB",
            why=("it multiplies by 5 for a 3-year horizon; 3 TB x 3 x 365 = 3.285 PB (≈ 3.29 PB)"),
        ),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; 2x the daily average is the usual allowance for a "
            "messaging service's evening peak"
        ),
    },
    # Chat feels instant under ~100 ms end to end; the server's share must stay well inside.
    p99_target_ms=100.0,
    load=LOAD_MIX,
)
