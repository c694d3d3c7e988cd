"""Capacity models: a seed's load estimate, stated once and recomputed (ARCHITECTURE §6).

A seed article estimates its system's load in a few lines of arithmetic ("80 million URLs a day,
8:1 read:write, 90 bytes each, 5 years…"). A `CapacityModel` holds the inputs of that estimate,
derives every figure the article derives (rates per second, storage per day and over the horizon,
peak rates) and keeps the article's own stated value next to each one. Where the two disagree the
model must say why, so a slip in the article is pointed out rather than copied.

The model also names the traffic of a load test: a `LoadMix` of weighted `LoadAction`s, each an
async callable issuing real HTTP requests against a running server, whose read:write weights must
match the model's ratio. `casebook capacity` prints the figures; `casebook load` drives the mix.

A mix's setup builds its population of simulated users from the pieces below, the same way in
every system: `register_and_log_in` signs a platform account up and in, each from its own
`benchmark_address`; `clients_needed` sizes a population so per-client limits admit the run's
rate with `HEADROOM`; `run_concurrently` issues the setup's requests a bounded number at a time;
`follow_pairs` wires a social graph among the users; `setup_step` turns a refused request into
a `SetupFailed` that names the step.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    import random

    import httpx

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365
"""The seeds count a year as 365 days; so do we, to compare like with like."""

AGREEMENT = 0.001
"""A seed's stated figure within 0.1 % of ours agrees with it; beyond that it needs a reason."""

State = TypeVar("State")
T = TypeVar("T")

BENCHMARK_NETWORK = ipaddress.ip_network("198.18.0.0/15")
"""RFC 2544's range set aside for benchmarks. Each simulated client sends from its own address in
it through `X-Forwarded-For`, which a server run behind `--proxy-headers` trusts from loopback as
it would from its load balancer, so per-address limits see a population, not one host."""

HEADROOM = 2
"""Simulated clients stay at 1/HEADROOM of every limit they are held to, so the bursts of a load
schedule do not trip them."""


class Unit(StrEnum):
    RATE = "per second"
    PER_DAY = "per day"
    COUNT = "count"
    BYTES = "bytes"
    BYTES_PER_DAY = "bytes per day"
    RATIO = "reads per write"
    YEARS = "years"
    FACTOR = "x average"


@dataclass(frozen=True)
class SeedClaim:
    """A figure as the seed article states it.

    `value` is the number in base units (bytes, per second…), `text` the article's own wording,
    `why` the explanation of the difference when the article's value is off from ours.
    """

    value: float
    text: str
    why: str = ""


@dataclass(frozen=True)
class Figure:
    """One line of an estimate: our value, how we got it, and the seed's value if it gave one."""

    key: str
    label: str
    value: float
    unit: Unit
    basis: str
    """The arithmetic behind `value` ("input" for a stated input)."""
    seed: SeedClaim | None = None
    assumption: str = ""
    """Set for an input the seed does not state: what we assumed and why."""

    @property
    def slip(self) -> float | None:
        """The seed's relative error (+0.05 = 5 % high), None when it gave no figure."""
        if self.seed is None:
            return None
        if self.value == 0:
            return 0.0 if self.seed.value == 0 else math.inf
        return self.seed.value / self.value - 1

    @property
    def agrees(self) -> bool:
        """True when the seed gave no figure or one within `AGREEMENT` of ours."""
        slip = self.slip
        return slip is None or abs(slip) <= AGREEMENT

    @property
    def note(self) -> str:
        """Why our figure differs from the seed's (with the size of the slip), or the assumption."""
        if self.assumption:
            return f"assumed: {self.assumption}"
        if self.seed is None or self.agrees:
            return ""
        slip = self.slip
        assert slip is not None
        size = f"{slip:+.1%}" if abs(slip) < 1 else f"{self.seed.value / self.value:.1f}x"
        return f"seed off by {size}: {self.seed.why}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "display": format_quantity(self.value, self.unit),
            "unit": self.unit.value,
            "basis": self.basis,
            "seed_value": None if self.seed is None else self.seed.value,
            "seed_text": None if self.seed is None else self.seed.text,
            "agrees": self.agrees,
            "note": self.note,
        }


@dataclass(frozen=True)
class LoadAction(Generic[State]):
    """One kind of request in a load test.

    `request(client, state)` issues one real HTTP request through `client` (whose base URL is the
    server under test) and returns its response; `state` is what the mix's setup prepared (API
    keys, codes to read…), which a write may extend. A response whose status is in `expected`
    counts as a success. `kind` says which side of the read:write ratio the action is on.
    """

    name: str
    kind: Literal["read", "write"]
    weight: int
    request: Callable[[httpx.AsyncClient, State], Awaitable[httpx.Response]]
    expected: frozenset[int]

    def __post_init__(self) -> None:
        if self.weight < 1:
            raise ValueError(f"load action {self.name!r} needs a weight of at least 1")
        if not self.expected:
            raise ValueError(f"load action {self.name!r} names no expected status")


class SetupFailed(RuntimeError):
    """A load mix's setup could not prepare the server (the API refused a step); the message
    names the step and the server's answer."""


def setup_step(response: httpx.Response, status: int | frozenset[int], step: str) -> dict[str, Any]:
    """The JSON body of a setup request that answered `status` (one code or a set of them);
    raises SetupFailed naming `step` and the server's answer otherwise."""
    expected = status if isinstance(status, frozenset) else frozenset({status})
    if response.status_code not in expected:
        raise SetupFailed(f"{step}: HTTP {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def benchmark_address(number: int) -> str:
    """The address simulated client `number` (0, 1, …) sends from: the (number + 1)th host of
    `BENCHMARK_NETWORK`, so clients never share one. O(1).

    Raises SetupFailed when the range has no host left for `number` (131,070 clients at most).
    """
    if not 0 <= number < BENCHMARK_NETWORK.num_addresses - 2:
        raise SetupFailed(
            f"simulated client #{number:,} is beyond the {BENCHMARK_NETWORK.num_addresses - 2:,} "
            f"addresses of the benchmark range {BENCHMARK_NETWORK}"
        )
    return str(BENCHMARK_NETWORK[number + 1])


def clients_needed(demand: float, allowance: float, headroom: float = HEADROOM) -> int:
    """How many simulated clients keep each at 1/`headroom` of its `allowance` while together
    they carry `demand`: ceil(demand x headroom / allowance). O(1).

    `demand` and `allowance` are in the same unit: a rate (writes per second against a client's
    sustained limit per second) or a count (the setup's items against a client's burst).
    """
    return math.ceil(demand * headroom / allowance)


async def run_concurrently(steps: Iterable[Coroutine[Any, Any, T]], limit: int) -> list[T]:
    """Await `steps` with at most `limit` in flight; their results in the order given.

    The first step to raise propagates (as `asyncio.gather` does, the others run on); a step
    cancelled before its turn is closed unstarted rather than left never awaited.
    """
    gate = asyncio.Semaphore(limit)

    async def one(step: Coroutine[Any, Any, T]) -> T:
        try:
            async with gate:
                return await step
        finally:
            step.close()

    return list(await asyncio.gather(*(one(step) for step in steps)))


@dataclass(frozen=True)
class SimulatedUser:
    """A platform account a load-test setup signed up and logged in.

    `headers` act as the user: its bearer token, and `X-Forwarded-For` when it sends from a
    benchmark address of its own.
    """

    user_id: str
    access_token: str
    headers: dict[str, str]


async def register_and_log_in(
    client: httpx.AsyncClient,
    *,
    email: str,
    display_name: str,
    who: str,
    address: str | None = None,
) -> SimulatedUser:
    """Register a platform account (`POST /api/auth/register`, a fresh random password) and log
    it in (`POST /api/auth/login`), both sent from `address` when given.

    `who` names the account in the steps a refusal reports ("register {who}", "log {who} in").
    Raises SetupFailed when the server refuses either; transport errors propagate.
    """
    origin = {} if address is None else {"X-Forwarded-For": address}
    password = secrets.token_urlsafe(18)
    account = setup_step(
        await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": display_name},
            headers=origin,
        ),
        201,
        f"register {who}",
    )
    tokens = setup_step(
        await client.post(
            "/api/auth/login", json={"email": email, "password": password}, headers=origin
        ),
        200,
        f"log {who} in",
    )
    token = str(tokens["access_token"])
    return SimulatedUser(str(account["id"]), token, {**origin, "Authorization": f"Bearer {token}"})


def follow_pairs(count: int, follows: int, rng: random.Random) -> list[tuple[int, int]]:
    """Who follows whom among `count` simulated users, as sorted (follower, followee) indices.

    Each user follows the next in a ring, so everyone has a follower and a followee, plus up to
    `follows - 1` others drawn from `rng` (a draw of oneself or a repeat is dropped).
    O(count x follows).
    """
    pairs: set[tuple[int, int]] = set()
    for i in range(count):
        pairs.add((i, (i + 1) % count))
        for _ in range(min(follows, count - 1) - 1):
            j = rng.randrange(count)
            if j != i:
                pairs.add((i, j))
    return sorted(pairs)


@dataclass(frozen=True)
class LoadSetup:
    """What a mix's setup prepares for: `items` to create for reads to spread over (so a test is
    not one hot key), and the total request `rate` the run will drive, so the setup can create
    as many simulated clients as the system's per-client limits need at that rate."""

    items: int
    rate: float


@dataclass(frozen=True)
class LoadMix(Generic[State]):
    """The traffic of a load test: weighted actions plus the setup they need.

    `setup(client, LoadSetup)` runs once before the test against the same server, through the
    same client, and returns the shared state the actions use. `setup_size` is the default
    number of items it creates.
    """

    setup: Callable[[httpx.AsyncClient, LoadSetup], Awaitable[State]]
    actions: tuple[LoadAction[State], ...]
    setup_size: int = 200

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a load mix needs at least one action")
        names = [a.name for a in self.actions]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate load action names: {names}")

    def weight(self, kind: Literal["read", "write"]) -> int:
        return sum(a.weight for a in self.actions if a.kind == kind)

    def share(self, kind: Literal["read", "write"]) -> float:
        """The fraction of requests that are of `kind` (writes of an 8:1 mix: 1/9)."""
        return self.weight(kind) / sum(a.weight for a in self.actions)


@dataclass(frozen=True)
class CapacityModel:
    """A seed's capacity estimate: inputs stated once, every other figure derived.

    Inputs: `writes_per_day` (the volume that creates stored objects), `reads_per_write`,
    `object_bytes` (average size of one stored object), `retention_years` (the storage horizon)
    and `peak_factor` (peak rate ÷ daily average). `daily_active_users` is optional context.
    `seed` maps figure keys (see `figures()`) to the seed's stated values; a stated value that
    differs from ours by more than `AGREEMENT` must carry a `why`, and one that agrees must not,
    so the notes stay truthful. `assumed` maps an input key the seed does not state to the
    reason for our value. Raises ValueError on an unknown key or a missing/stray explanation.
    """

    slug: str
    source: str
    writes_per_day: float
    reads_per_write: float
    object_bytes: float
    retention_years: float
    peak_factor: float
    write_noun: str = "writes"
    read_noun: str = "reads"
    object_noun: str = "object"
    daily_active_users: float | None = None
    seed: Mapping[str, SeedClaim] = field(default_factory=dict)
    assumed: Mapping[str, str] = field(default_factory=dict)
    p99_target_ms: float = 100.0
    """The latency a node must keep its 99th percentile under to count as holding a rate."""
    load: LoadMix[Any] | None = None

    def __post_init__(self) -> None:
        for name in ("writes_per_day", "object_bytes", "retention_years"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.reads_per_write < 0 or self.peak_factor < 1:
            raise ValueError("reads_per_write must be ≥ 0 and peak_factor ≥ 1")
        figures = {f.key: f for f in self._derive()}
        for key in [*self.seed, *self.assumed]:
            if key not in figures:
                raise ValueError(f"{self.slug}: no capacity figure named {key!r}")
        for key, claim in self.seed.items():
            figure = figures[key]
            if figure.agrees and claim.why:
                raise ValueError(f"{self.slug}: seed's {key} agrees with ours, yet has a why")
            if not figure.agrees and not claim.why:
                raise ValueError(
                    f"{self.slug}: seed states {key} = {claim.text} but we derive "
                    f"{format_quantity(figure.value, figure.unit)}; say why"
                )
        if self.load is not None:
            self._check_mix(self.load)

    def _check_mix(self, mix: LoadMix[Any]) -> None:
        reads, writes = mix.weight("read"), mix.weight("write")
        if writes == 0:
            raise ValueError(f"{self.slug}: the load mix has no write action")
        if not math.isclose(reads / writes, self.reads_per_write, rel_tol=1e-9):
            raise ValueError(
                f"{self.slug}: load mix is {reads}:{writes} reads:writes, "
                f"the model says {self.reads_per_write:g}:1"
            )

    # Derived figures. Each is O(1); `figures()` builds the full list.

    @property
    def writes_per_second(self) -> float:
        return self.writes_per_day / SECONDS_PER_DAY

    @property
    def reads_per_day(self) -> float:
        return self.writes_per_day * self.reads_per_write

    @property
    def reads_per_second(self) -> float:
        return self.reads_per_day / SECONDS_PER_DAY

    @property
    def requests_per_second(self) -> float:
        """The seed's average total request rate (reads + writes): `--rate seed`."""
        return self.reads_per_second + self.writes_per_second

    @property
    def peak_requests_per_second(self) -> float:
        """The average total rate times the peak factor: `--rate peak`."""
        return self.requests_per_second * self.peak_factor

    @property
    def storage_per_day(self) -> float:
        return self.writes_per_day * self.object_bytes

    @property
    def records_over_horizon(self) -> float:
        return self.writes_per_day * DAYS_PER_YEAR * self.retention_years

    @property
    def storage_over_horizon(self) -> float:
        return self.records_over_horizon * self.object_bytes

    def rate(self, name: str) -> float:
        """The request rate a load test named `name` means: "seed", "peak" or a number.

        Raises ValueError for anything else or a rate that is not positive.
        """
        if name == "seed":
            return self.requests_per_second
        if name == "peak":
            return self.peak_requests_per_second
        try:
            value = float(name)
        except ValueError:
            raise ValueError(
                f"rate must be seed, peak or requests per second, not {name!r}"
            ) from None
        if not value > 0 or math.isinf(value):
            raise ValueError(f"rate must be a positive number, not {name!r}")
        return value

    def figures(self) -> list[Figure]:
        """Every input and derived figure, inputs first, each with the seed's claim if any."""
        return self._derive()

    def figure(self, key: str) -> Figure:
        for figure in self._derive():
            if figure.key == key:
                return figure
        raise KeyError(key)

    def _derive(self) -> list[Figure]:
        w, r = self.write_noun, self.read_noun
        h = f"{self.retention_years:g} years"
        rows: list[tuple[str, str, float, Unit, str]] = []
        if self.daily_active_users is not None:
            rows.append(
                (
                    "daily_active_users",
                    "daily active users",
                    self.daily_active_users,
                    Unit.COUNT,
                    "input",
                )
            )
        rows += [
            ("writes_per_day", f"{w} per day", self.writes_per_day, Unit.PER_DAY, "input"),
            ("reads_per_write", "read:write ratio", self.reads_per_write, Unit.RATIO, "input"),
            (
                "object_bytes",
                f"average {self.object_noun} size",
                self.object_bytes,
                Unit.BYTES,
                "input",
            ),
            ("retention_years", "storage horizon", self.retention_years, Unit.YEARS, "input"),
            ("peak_factor", "peak ÷ average", self.peak_factor, Unit.FACTOR, "input"),
            (
                "writes_per_second",
                f"{w} per second",
                self.writes_per_second,
                Unit.RATE,
                f"{w} per day ÷ 86,400 s",
            ),
            (
                "reads_per_day",
                f"{r} per day",
                self.reads_per_day,
                Unit.PER_DAY,
                f"{w} per day x read:write",
            ),
            (
                "reads_per_second",
                f"{r} per second",
                self.reads_per_second,
                Unit.RATE,
                f"{r} per day ÷ 86,400 s",
            ),
            (
                "requests_per_second",
                "requests per second (average)",
                self.requests_per_second,
                Unit.RATE,
                f"{r} + {w} per second",
            ),
            (
                "peak_writes_per_second",
                f"peak {w} per second",
                self.writes_per_second * self.peak_factor,
                Unit.RATE,
                "average x peak factor",
            ),
            (
                "peak_reads_per_second",
                f"peak {r} per second",
                self.reads_per_second * self.peak_factor,
                Unit.RATE,
                "average x peak factor",
            ),
            (
                "peak_requests_per_second",
                "peak requests per second",
                self.peak_requests_per_second,
                Unit.RATE,
                "average x peak factor",
            ),
            (
                "storage_per_day",
                "storage per day",
                self.storage_per_day,
                Unit.BYTES_PER_DAY,
                f"{w} per day x {self.object_noun} size",
            ),
            (
                "records_over_horizon",
                f"records over {h}",
                self.records_over_horizon,
                Unit.COUNT,
                f"{w} per day x 365 x {self.retention_years:g}",
            ),
            (
                "storage_over_horizon",
                f"storage over {h}",
                self.storage_over_horizon,
                Unit.BYTES,
                f"records over {h} x {self.object_noun} size",
            ),
        ]
        return [
            Figure(
                key=key,
                label=label,
                value=value,
                unit=unit,
                basis=basis,
                seed=self.seed.get(key),
                assumption=self.assumed.get(key, ""),
            )
            for key, label, value, unit, basis in rows
        ]

    def summary_rows(self) -> list[tuple[str, str, str, str]]:
        """(label, our value, the seed's value or "", note) per figure, formatted for display."""
        return [
            (
                f.label,
                format_quantity(f.value, f.unit),
                f.seed.text if f.seed else "",
                f.note,
            )
            for f in self.figures()
        ]

    def as_dict(self) -> dict[str, Any]:
        mix = self.load
        return {
            "slug": self.slug,
            "source": self.source,
            "p99_target_ms": self.p99_target_ms,
            "figures": [f.as_dict() for f in self.figures()],
            "load_mix": None
            if mix is None
            else [{"name": a.name, "kind": a.kind, "weight": a.weight} for a in mix.actions],
        }


_SCALES = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand"))
_BYTE_SCALES = ((1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def _number(value: float) -> str:
    """Three significant figures for small values, whole numbers with separators for large."""
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_quantity(value: float, unit: Unit) -> str:
    """`value` in `unit` as a person reads it: 7.2 GB/day, 926/s, 146 billion, 8:1.

    Sizes use decimal prefixes (1 GB = 10⁹ bytes), as the seeds do.
    """
    if unit is Unit.RATIO:
        return f"{_number(value)}:1"
    if unit is Unit.FACTOR:
        return f"{_number(value)}x"
    if unit is Unit.YEARS:
        return f"{_number(value)} years"
    if unit in (Unit.BYTES, Unit.BYTES_PER_DAY):
        suffix = "/day" if unit is Unit.BYTES_PER_DAY else ""
        for scale, name in _BYTE_SCALES:
            if value >= scale:
                return f"{value / scale:.3g} {name}{suffix}"
        return f"{_number(value)} B{suffix}"
    if unit is Unit.RATE:
        return f"{_number(value)}/s"
    suffix = "/day" if unit is Unit.PER_DAY else ""
    if value >= 1e6:
        for scale, name in _SCALES:
            if value >= scale:
                return f"{value / scale:.4g} {name}{suffix}"
    return f"{_number(value)}{suffix}"


def format_capacity_table(model: CapacityModel, title: str = "") -> str:
    """The model as a text table (figure, our value, the seed's), notes as numbered footnotes."""
    rows = model.summary_rows()
    header = ("figure", "derived", "seed says")
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(3)]
    lines = [f"{title or model.slug} capacity — {model.source}", ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    notes: list[str] = []
    for label, ours, seed, note in rows:
        marker = ""
        if note:
            notes.append(note)
            marker = f"  [{len(notes)}]"
        cells = (label.ljust(widths[0]), ours.rjust(widths[1]), seed.ljust(widths[2]))
        lines.append(("  ".join(cells) + marker).rstrip())
    if notes:
        lines.append("")
        lines += [f"[{i}] {note}" for i, note in enumerate(notes, start=1)]
    return "\n".join(lines)
