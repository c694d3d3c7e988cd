"""Cluster mode: several processes serve one venue, each book owned by exactly one of them.

Embedded (one process, the default) the venue's writer owns every book and none of this runs.
With `VenueConfig(cluster=ClusterConfig())` (or `CASEBOOK_MATCHING_CLUSTER=1` in the environment)
and a shared bus (Redis) and database (PostgreSQL), every process runs the venue and:

Ownership
    Each (venue, instrument) has a lease row in `matching_leases` (owner token, epoch,
    expires_at, on the database's clock). A process takes a free or expired lease with ONE
    conditional upsert (`INSERT … ON CONFLICT DO UPDATE … WHERE expires_at < now`, epoch + 1),
    renews all of its leases with one UPDATE every `renew_seconds`, and gives them up on a clean
    shutdown (expires_at in the past) so another process takes over at its next tick.

Fencing
    The writer checks, inside every batch's transaction and before touching a book, that this
    process still holds the leases of the batch's instruments at the epoch it took them
    (`fence`: `SELECT … FOR SHARE` of the lease rows, one indexed read per batch). A takeover's
    UPDATE waits for a batch that passed the fence to commit, and a batch that starts after a
    takeover fails the fence (`LeaseLost`) and changes nothing. So the journal stays one linear
    history per instrument whatever the clocks or pauses of the processes.

Routing
    `Venue.place/cancel/replace/end_of_day` call `submit`: a command of an owned instrument goes
    to the local writer; any other is published on `matching:<venue>:cmd:<instrument_id>` with
    this process's reply channel (`matching:<venue>:reply:<token>`) and a request id. The
    placement transaction (order row + ledger hold) already committed in the caller's process;
    only the command travels. The owner answers after its COMMIT with the OrderView (or the
    Problem refusing the command). The bus delivers at most once, so the caller re-sends every
    `resend_seconds` until `request_timeout`; the owner answers a request id it has seen from a
    bounded cache (or not at all while it is still running). A PLACE is idempotent anyway (the
    writer skips an order already journaled); a PLACE that no process answered in time has its
    order returned as it stands (`pending`: it is held and the next owner's recovery submits it),
    any other command raises VenueClosed (503, retry). Known limit: a CANCEL whose owner
    committed it and then died before answering, re-sent to the next owner, is answered 409
    order-not-open (the order is cancelled, as asked).

Takeover
    A process that takes a lease rebuilds that book exactly like a start does (latest snapshot +
    the journal after it, market data reset and published as a snapshot), serves its command
    channel, and re-submits the instrument's orders that were held but never journaled.

Replicas
    For every instrument it does not own a process keeps a replica book and its MarketData
    current: on each market-data bus message of the instrument (md_live publishes one per
    committed batch), and at least every `follow_seconds` in case one was lost, it reads the
    journal after its last seq (one index range read), applies those commands to the replica (the
    book is deterministic) and their events to MarketData, and adopts the owner's market-data seq
    from the message, so the WebSockets of every process chain the owner's updates without a gap.
    Listeners (`Venue.listeners`) run only in the owner, once per committed batch cluster-wide.

Costs: one fence read per batch; one bus round trip per routed command; per replica, one journal
read per committed batch of the owner; per process one lease UPDATE per `renew_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import InsufficientFunds, Outcome, TransferRefused
from casebook.engines.matching import errors, journal, md_live, recovery
from casebook.engines.matching.errors import SettlementFailed, VenueClosed
from casebook.engines.matching.marketdata import MarketDataDiverged
from casebook.engines.matching.models import MatchingInstrument, MatchingLease, MatchingOrder
from casebook.engines.matching.types import CANCEL, EXPIRE_DAY, PLACE, REPLACE, TRADE
from casebook.engines.matching.views import Instrument, OrderView
from casebook.platform.bus import SubscriberTooSlow
from casebook.platform.errors import Problem

if TYPE_CHECKING:
    from casebook.engines.matching.venue import Venue

__all__ = ["ENV", "Cluster", "ClusterConfig", "LeaseLost", "RemoteProblem", "for_venue"]

log = structlog.get_logger("casebook.matching.cluster")

ENV = "CASEBOOK_MATCHING_CLUSTER"
"""Set to 1 to run every venue whose config does not say otherwise in cluster mode."""
REPLIES_KEPT = 10_000
"""Answered request ids an owner remembers (re-sent requests are answered from here)."""
_EPOCH_ZERO = datetime(1970, 1, 1, tzinfo=UTC)
_COMMANDS = {PLACE: 10, CANCEL: 4, REPLACE: 6, EXPIRE_DAY: 2}
"""Command kind → tuple length (what may arrive on a command channel)."""


@dataclass(frozen=True)
class ClusterConfig:
    """Timings of cluster mode. A dead owner's books are served again after at most
    `lease_seconds` + `renew_seconds`; a routed command waits at most `request_timeout`."""

    lease_seconds: float = 6.0
    renew_seconds: float = 2.0
    request_timeout: float = 10.0
    resend_seconds: float = 1.0
    follow_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.renew_seconds < self.lease_seconds:
            raise ValueError("renew_seconds must be positive and shorter than lease_seconds")
        if self.resend_seconds <= 0 or self.request_timeout <= 0 or self.follow_seconds <= 0:
            raise ValueError("cluster timings must be positive")


class LeaseLost(VenueClosed):
    """This process no longer owns these books (another took the lease): the command was not
    applied; `Cluster.submit` routes it to the new owner."""

    def __init__(self, instrument_ids: Iterable[int]) -> None:
        self.instrument_ids = frozenset(instrument_ids)
        super().__init__(f"instruments {sorted(self.instrument_ids)} moved to another process")


class RemoteProblem(Problem):
    """A Problem the owner answered that this process has no class for: same status and body."""

    def __init__(self, body: dict[str, Any]) -> None:
        known = {"type", "title", "status", "detail", "instance"}
        extras = {k: v for k, v in body.items() if k not in known}
        super().__init__(str(body.get("detail", "")), **extras)
        self.status = int(body.get("status", 500))
        self.type_ = str(body.get("type", "/problems/error")).removeprefix("/problems/")
        self.title = str(body.get("title", "Error"))


def _problem_classes() -> dict[str, type[Problem]]:
    found: dict[str, type[Problem]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, Problem) and value is not Problem:
            found[value.type_] = value
    return found


_PROBLEMS = _problem_classes()


def _rebuild_problem(body: dict[str, Any]) -> Problem:
    """The owner's Problem as the class this process would have raised (same body)."""
    type_ = str(body.get("type", "")).removeprefix("/problems/")
    detail = str(body.get("detail", ""))
    extras = {
        k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance"}
    }
    if type_.startswith("ledger/"):
        with contextlib.suppress(ValueError):
            outcome = Outcome(type_.removeprefix("ledger/"))
            cls = InsufficientFunds if outcome is Outcome.EXCEEDS_CREDITS else TransferRefused
            return cls(outcome, detail)
    known = _PROBLEMS.get(type_)
    if known is not None:
        return known(detail, **extras)
    return RemoteProblem(body)


def _view_dict(view: OrderView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    data = asdict(view)
    data["created_at"] = view.created_at.isoformat()
    data["updated_at"] = view.updated_at.isoformat()
    return data


def _view_of(data: dict[str, Any] | None) -> OrderView | None:
    if data is None:
        return None
    fields = dict(data)
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    fields["updated_at"] = datetime.fromisoformat(fields["updated_at"])
    return OrderView(**fields)


def cmd_channel(venue: str, instrument_id: int) -> str:
    """The bus channel the owner of an instrument takes its commands from."""
    return f"matching:{venue}:cmd:{instrument_id}"


def for_venue(venue: Venue) -> Cluster | None:
    """The venue's cluster (None in embedded mode: its config and the environment do not ask for
    one). Raises ValueError when cluster mode is asked for without a shared bus."""
    config = venue.config.cluster
    if config is None and os.environ.get(ENV, "").strip().lower() in {"1", "true", "yes"}:
        config = ClusterConfig()
    if config is None:
        return None
    if venue.platform.redis is None:
        raise ValueError(
            "matching cluster mode needs the Redis bus and a shared database "
            "(set CASEBOOK_REDIS_URL and a PostgreSQL CASEBOOK_DATABASE_URL)"
        )
    return Cluster(venue, config)


def _valid_command(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not value or not all(type(v) is int for v in value):
        return None
    if _COMMANDS.get(value[0]) != len(value):
        return None
    return tuple(value)


class Cluster:
    """The cluster side of one venue in one process (see the module docstring)."""

    def __init__(self, venue: Venue, config: ClusterConfig) -> None:
        self.venue = venue
        self.config = config
        self.token = f"{socket.gethostname()[:24]}:{os.getpid()}:{secrets.token_hex(6)}"
        self.reply_channel = f"matching:{venue.name}:reply:{self.token}"
        self.epochs: dict[int, int] = {}
        """Owned instrument → the lease epoch this process took it at."""
        self.takeovers = 0
        self._tasks: dict[int, asyncio.Task[None]] = {}
        """Instrument → its command server (owned) or its replica follower (not owned)."""
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._replies: OrderedDict[str, bytes | None] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()
        self._loop: asyncio.Task[None] | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def owns(self, instrument_id: int) -> bool:
        return instrument_id in self.epochs

    async def open(self) -> None:
        """Load every book as a replica, start the writer and the reply channel, take the leases
        that are free, follow the others, and start the lease loop."""
        venue = self.venue
        async with venue.platform.db.session() as session:
            rows = await session.scalars(
                select(MatchingInstrument).where(MatchingInstrument.venue == venue.name)
            )
            for row in rows:
                await venue._load_instrument(session, Instrument.of(row), publish=False)
        venue.writer.start()
        ready = asyncio.Event()
        self._reply_task = self._spawn(self._receive_replies(ready), keep=False)
        await asyncio.wait_for(ready.wait(), md_live.READY_TIMEOUT)
        await self.tick()
        self._loop = asyncio.get_running_loop().create_task(
            self._run(), name=f"matching-cluster-{venue.name}"
        )

    async def close(self) -> None:
        """Clean shutdown: stop taking commands, drain the writer, give the leases up (another
        process takes over at its next tick), stop the replicas."""
        self._closing = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        async with self._lock:
            for instrument_id in list(self.epochs):
                await self._stop_task(instrument_id)
            await self.venue.writer.stop()
            await self._release(list(self.epochs))
            self.epochs.clear()
            for instrument_id in list(self._tasks):
                await self._stop_task(instrument_id)
        for task in [*self._background, *([self._reply_task] if self._reply_task else [])]:
            task.cancel()
        for task in [*self._background, *([self._reply_task] if self._reply_task else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(VenueClosed("The venue is shutting down; retry."))

    def _spawn(self, coroutine: Any, *, keep: bool = True) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        if keep:
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.renew_seconds)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster tick failed", venue=self.venue.name)

    async def tick(self) -> None:
        """One round of the lease loop: learn instruments listed by other processes, renew the
        leases held (demoting the books whose lease another process took), take the free or
        expired ones, and follow the rest. O(instruments), three statements."""
        async with self._lock:
            if self._closing:
                return
            await self._learn_listings()
            renewed = await self._renew()
            for instrument_id in list(self.epochs):
                if renewed.get(instrument_id) != self.epochs[instrument_id]:
                    await self._demote(instrument_id)
            free = [i for i in self.venue.listed if i not in self.epochs]
            for instrument_id, epoch in (await self._acquire(free)).items():
                await self._take(instrument_id, epoch)
            for instrument_id in self.venue.listed:
                if instrument_id not in self.epochs and instrument_id not in self._tasks:
                    follower = self._spawn(self._follow(instrument_id), keep=False)
                    self._tasks[instrument_id] = follower

    # -- leases ------------------------------------------------------------------------------------

    def _now(self) -> Any:
        """The lease clock: the database's on PostgreSQL (one clock for every process)."""
        if self.venue.platform.db.is_sqlite:
            return datetime.now(UTC)
        return func.statement_timestamp()

    async def _acquire(self, instrument_ids: Sequence[int]) -> dict[int, int]:
        """Take the free or expired leases among these in one statement; instrument → epoch."""
        if not instrument_ids:
            return {}
        now = self._now()
        expires = now + timedelta(seconds=self.config.lease_seconds)
        dialect = sqlite if self.venue.platform.db.is_sqlite else postgresql
        table = MatchingLease.__table__
        statement = dialect.insert(table).values(
            [
                {
                    "venue": self.venue.name,
                    "instrument_id": instrument_id,
                    "owner": self.token,
                    "epoch": 1,
                    "expires_at": expires,
                }
                for instrument_id in instrument_ids
            ]
        )
        expired: ColumnElement[bool] = table.c.expires_at < now
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.venue, table.c.instrument_id],
            set_={
                "owner": statement.excluded.owner,
                "epoch": table.c.epoch + 1,
                "expires_at": statement.excluded.expires_at,
            },
            where=expired,
        ).returning(table.c.instrument_id, table.c.epoch, table.c.owner)
        async with self.venue.platform.db.session(write=True) as session:
            rows = (await session.execute(statement)).all()
        return {int(i): int(epoch) for i, epoch, owner in rows if owner == self.token}

    async def _renew(self) -> dict[int, int]:
        """Push the expiry of every lease this process holds; instrument → epoch still held."""
        if not self.epochs:
            return {}
        expires = self._now() + timedelta(seconds=self.config.lease_seconds)
        async with self.venue.platform.db.session(write=True) as session:
            rows = await session.execute(
                update(MatchingLease)
                .where(
                    MatchingLease.venue == self.venue.name,
                    MatchingLease.owner == self.token,
                    MatchingLease.instrument_id.in_(list(self.epochs)),
                )
                .values(expires_at=expires)
                .returning(MatchingLease.instrument_id, MatchingLease.epoch)
            )
            return {int(i): int(epoch) for i, epoch in rows.all()}

    async def _release(self, instrument_ids: Sequence[int]) -> None:
        if not instrument_ids:
            return
        try:
            async with self.venue.platform.db.session(write=True) as session:
                await session.execute(
                    update(MatchingLease)
                    .where(
                        MatchingLease.venue == self.venue.name,
                        MatchingLease.owner == self.token,
                        MatchingLease.instrument_id.in_(list(instrument_ids)),
                    )
                    .values(expires_at=_EPOCH_ZERO)
                )
        except (SQLAlchemyError, OSError):
            log.exception("leases not released; they expire", venue=self.venue.name)

    async def fence(self, session: AsyncSession, instrument_ids: Iterable[int]) -> None:
        """Called by the writer inside a batch's transaction, before it applies anything: raises
        LeaseLost unless this process holds every lease of the batch at its epoch. The share lock
        it takes makes a takeover wait for this batch's COMMIT. One indexed read."""
        wanted = set(instrument_ids)
        if not wanted:
            return
        rows = await session.execute(
            select(MatchingLease.instrument_id, MatchingLease.epoch)
            .where(
                MatchingLease.venue == self.venue.name,
                MatchingLease.owner == self.token,
                MatchingLease.instrument_id.in_(wanted),
            )
            .with_for_update(read=True)
        )
        held = {int(i): int(epoch) for i, epoch in rows.all()}
        lost = {i for i in wanted if i not in self.epochs or held.get(i) != self.epochs[i]}
        if lost:
            for instrument_id in lost:
                if self.epochs.pop(instrument_id, None) is not None:
                    self._spawn(self._demote_later(instrument_id))
            raise LeaseLost(lost)

    # -- ownership changes (under self._lock) ------------------------------------------------------

    async def _learn_listings(self) -> None:
        venue = self.venue
        async with venue.platform.db.session() as session:
            query = select(MatchingInstrument).where(MatchingInstrument.venue == venue.name)
            if venue.listed:
                query = query.where(MatchingInstrument.id.not_in(list(venue.listed)))
            for row in await session.scalars(query):
                await venue._load_instrument(session, Instrument.of(row), publish=False)

    async def _take(self, instrument_id: int, epoch: int) -> None:
        """Become the owner: rebuild the book from snapshot + journal (a reset is published),
        serve the command channel, re-submit the instrument's held but unjournaled orders."""
        venue = self.venue
        await self._stop_task(instrument_id)
        async with venue.platform.db.session() as session:
            await venue._load_instrument(session, venue.listed[instrument_id])
            pending = [
                row
                for row in await recovery.unjournaled_orders(session, venue.name)
                if row.instrument_id == instrument_id
            ]
        self.epochs[instrument_id] = epoch
        ready = asyncio.Event()
        self._tasks[instrument_id] = self._spawn(self._serve(instrument_id, ready), keep=False)
        await asyncio.wait_for(ready.wait(), md_live.READY_TIMEOUT)
        self.takeovers += 1
        log.info("took over", venue=venue.name, instrument_id=instrument_id, epoch=epoch)
        if pending:
            self._spawn(self._resubmit(instrument_id, pending))

    async def _resubmit(self, instrument_id: int, rows: Sequence[MatchingOrder]) -> None:
        from casebook.engines.matching.venue import _place_command

        for row in rows:
            try:
                await self.submit(instrument_id, _place_command(row))
            except Problem as problem:
                log.warning("recovered order refused", order_id=row.id, problem=problem.detail)

    async def _demote_later(self, instrument_id: int) -> None:
        async with self._lock:
            if instrument_id not in self.epochs and not self._closing:
                await self._demote(instrument_id)

    async def _demote(self, instrument_id: int) -> None:
        """Another process owns the book now: stop serving it, reload it as a replica, follow."""
        self.epochs.pop(instrument_id, None)
        await self._stop_task(instrument_id)
        async with self.venue.platform.db.session() as session:
            await self.venue._load_instrument(
                session, self.venue.listed[instrument_id], publish=False
            )
        self._tasks[instrument_id] = self._spawn(self._follow(instrument_id), keep=False)
        log.warning("lost the lease", venue=self.venue.name, instrument_id=instrument_id)

    async def _stop_task(self, instrument_id: int) -> None:
        task = self._tasks.pop(instrument_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- routing -----------------------------------------------------------------------------------

    async def submit(
        self,
        instrument_id: int,
        command: tuple[Any, ...],
        keep: tuple[bool, bool] | None = None,
    ) -> OrderView | None:
        """Apply `command` through the owner of its book: the local writer when this process owns
        it, else over the bus. `keep` (REPLACE only): keep the order's (price, qty) as the OWNER's
        book has them. Raises what the writer would, or VenueClosed when nobody answered."""
        deadline = time.monotonic() + self.config.request_timeout
        while True:
            if self._closing:
                raise VenueClosed("The venue is shutting down; retry the request.")
            if instrument_id in self.epochs:
                try:
                    return await self._local(instrument_id, command, keep)
                except LeaseLost:
                    continue  # demoted meanwhile: route it to the new owner
            if instrument_id not in self._tasks:
                # Listed in this process since the last tick: claim it now rather than wait.
                await self.tick()
                if instrument_id in self.epochs:
                    continue
            return await self._remote(instrument_id, command, keep, deadline)

    async def _local(
        self, instrument_id: int, command: tuple[Any, ...], keep: Sequence[bool] | None
    ) -> OrderView | None:
        if keep and command[0] == REPLACE and any(keep):
            resting = self.venue.books[instrument_id].open_order(command[1])
            if resting is not None:
                price = resting[2] if keep[0] else command[3]
                qty = resting[3] if keep[1] else command[4]
                command = (REPLACE, command[1], command[2], price, qty, command[5])
        return await self.venue.writer.submit(instrument_id, command)

    async def _remote(
        self,
        instrument_id: int,
        command: tuple[Any, ...],
        keep: tuple[bool, bool] | None,
        deadline: float,
    ) -> OrderView | None:
        request_id = secrets.token_hex(12)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message = orjson.dumps(
            {
                "id": request_id,
                "reply": self.reply_channel,
                "command": [int(v) for v in command],
                "keep": list(keep) if keep else None,
            }
        )
        channel = cmd_channel(self.venue.name, instrument_id)
        try:
            while True:
                try:
                    await self.venue.platform.bus.publish(channel, message)
                except (RedisError, OSError):
                    log.warning("command not published; retrying", channel=channel)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    reply = await asyncio.wait_for(
                        asyncio.shield(future), min(self.config.resend_seconds, remaining)
                    )
                except TimeoutError:
                    continue
                return _outcome(reply)
        finally:
            self._waiting.pop(request_id, None)
        if command[0] == PLACE:
            # Held and committed; whoever owns the book next submits it (recovery).
            async with self.venue.platform.db.session() as session:
                row = await session.get(MatchingOrder, command[1])
            if row is not None:
                return OrderView.of(row)
        raise VenueClosed(f"No process answered for instrument {instrument_id}; retry shortly.")

    async def _receive_replies(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self.venue.platform.bus.subscribe(self.reply_channel) as replies:
                    ready.set()
                    async for raw in replies:
                        try:
                            reply = orjson.loads(raw)
                            future = self._waiting.get(reply["id"])
                        except (orjson.JSONDecodeError, KeyError, TypeError):
                            log.warning("malformed cluster reply dropped")
                            continue
                        if future is not None and not future.done():
                            future.set_result(reply)
                return
            except SubscriberTooSlow:
                continue  # the requesters re-send; their owners answer again from the cache

    async def _serve(self, instrument_id: int, ready: asyncio.Event) -> None:
        """Take the commands other processes route to this owned book (one task each, so they
        group-commit together in the writer)."""
        channel = cmd_channel(self.venue.name, instrument_id)
        while True:
            try:
                async with self.venue.platform.bus.subscribe(channel) as messages:
                    ready.set()
                    async for raw in messages:
                        self._spawn(self._handle(instrument_id, raw))
                return
            except SubscriberTooSlow:
                continue  # dropped requests are re-sent by their callers

    async def _handle(self, instrument_id: int, raw: bytes) -> None:
        try:
            request = orjson.loads(raw)
            request_id, reply_to = str(request["id"]), str(request["reply"])
            command = _valid_command(request["command"])
            keep = request.get("keep")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            command = None
        if command is None:
            log.warning("malformed cluster command dropped", channel=instrument_id)
            return
        if request_id in self._replies:
            cached = self._replies[request_id]
            if cached is not None:  # answered already; None: still in the writer's queue
                await self._publish(reply_to, cached)
            return
        self._replies[request_id] = None
        while len(self._replies) > REPLIES_KEPT:
            self._replies.popitem(last=False)
        try:
            view = await self._local(instrument_id, command, keep)
            reply: dict[str, Any] = {"id": request_id, "view": _view_dict(view)}
        except VenueClosed:
            # Not applied (lease lost, shutting down): stay silent, the caller re-sends to
            # whoever owns the book next.
            self._replies.pop(request_id, None)
            return
        except Problem as problem:
            reply = {"id": request_id, "problem": problem.body()}
        except Exception as error:
            log.exception("routed command failed", instrument_id=instrument_id)
            reply = {"id": request_id, "error": repr(error)}
        data = orjson.dumps(reply)
        self._replies[request_id] = data
        await self._publish(reply_to, data)

    async def _publish(self, channel: str, data: bytes) -> None:
        try:
            await self.venue.platform.bus.publish(channel, data)
        except (RedisError, OSError):
            log.warning("cluster reply not published; the caller re-sends", channel=channel)

    # -- replicas ----------------------------------------------------------------------------------

    async def _follow(self, instrument_id: int) -> None:
        """Keep the replica of a book another process owns current (see the module docstring)."""
        channel = md_live.channel(self.venue.name, instrument_id)
        while True:
            try:
                async with self.venue.platform.bus.subscribe(channel) as messages:
                    await self.catch_up(instrument_id)
                    iterator = messages.__aiter__()
                    while True:
                        try:
                            raw = await asyncio.wait_for(
                                iterator.__anext__(), self.config.follow_seconds
                            )
                        except TimeoutError:
                            raw = None
                        except StopAsyncIteration:
                            return
                        seq = None
                        if raw is not None:
                            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                                seq = int(orjson.loads(raw)["seq"])
                        await self.catch_up(instrument_id, seq)
            except SubscriberTooSlow:
                continue
            except (RedisError, OSError, SQLAlchemyError, TimeoutError):
                log.exception("replica follower failed; retrying", instrument_id=instrument_id)
                await asyncio.sleep(self.config.follow_seconds)

    async def catch_up(self, instrument_id: int, seq: int | None = None) -> None:
        """Apply the journal after the replica's last seq to the replica book and its market data,
        then take the owner's market-data `seq` (from its bus message). O(new commands)."""
        venue = self.venue
        async with venue.platform.db.session() as session:
            entries = await journal.entries_after(
                session, venue.name, instrument_id, venue.last_seq[instrument_id]
            )
        if instrument_id in self.epochs:
            return  # taken over meanwhile: the writer owns the book now
        book = venue.books[instrument_id]
        events: list[tuple[Any, ...]] = []
        for entry_seq, command in entries:
            book.apply(command, events)
            venue.last_seq[instrument_id] = entry_seq
        md = venue.marketdata(instrument_id)
        if events:
            for event in events:
                if event[0] == TRADE:
                    venue.last_price[instrument_id] = event[7]
            try:
                md.apply(events)
            except MarketDataDiverged:
                log.exception("replica market data diverged", instrument_id=instrument_id)
                md.reset_from_book(book)
        if seq is not None:
            md.seq = seq


def _outcome(reply: dict[str, Any]) -> OrderView | None:
    if "view" in reply:
        return _view_of(reply["view"])
    if "problem" in reply:
        raise _rebuild_problem(reply["problem"])
    raise SettlementFailed(str(reply.get("error", "the owner failed to apply the command")))
