"""The ledger on a database: `plan_batch` run inside the caller's transaction.

`Ledger(session)` works in the caller's unit of work, so a system's own rows (a payment, a pledge)
and the money they move commit or roll back together. One `create_transfers` call costs a fixed
number of statements whatever the batch size:

1. lock the batch's accounts — PostgreSQL `SELECT … ORDER BY id FOR UPDATE` (always in id order,
   so two batches cannot deadlock on accounts); SQLite takes the database write lock with a
   no-op UPDATE (one writer at a time is SQLite's model);
2. read, now that nothing can change under us, the stored transfers that share the batch's ids and
   the pending transfers it posts or voids; take sequence numbers and the database clock;
3. decide every transfer in memory (`plan_batch`, O(1) each);
4. write: one multi-row INSERT of the accepted transfers, one executemany of counter increments
   (`debits_posted = debits_posted + :d`, never a value computed from a read), one of pending
   status changes guarded by `pending_status = 'pending'`.

The table's CHECK constraint refuses a counter that breaks an account's non-negative rule, so even
a bug above this layer cannot overdraw an account: the transaction would fail instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Row, Table, any_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger.domain import (
    CURRENCY,
    MAX_BATCH,
    AccountDelta,
    AccountKind,
    AccountState,
    Outcome,
    PendingStatus,
    StoredTransfer,
    Transfer,
    TransferKind,
    plan_batch,
)
from casebook.engines.ledger.errors import AccountNotFound, BatchTooLarge, refusal
from casebook.engines.ledger.models import LedgerAccount, LedgerTransfer
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id

RAW_LOCK_FROM = 64
"""Lock queries for more accounts than this read their rows straight through asyncpg."""
COPY_FROM = 64
"""Batches of at least this many new transfers go into PostgreSQL by COPY."""
SEQ_BATCH_BITS = 13
assert MAX_BATCH < 1 << SEQ_BATCH_BITS
ACCOUNTS = cast(Table, LedgerAccount.__table__)
TRANSFERS = cast(Table, LedgerTransfer.__table__)


@dataclass(frozen=True, slots=True)
class Account:
    """An account and its counters (minor units of `currency`)."""

    id: int
    owner: str
    name: str
    currency: str
    kind: AccountKind
    allow_negative: bool
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    created_at: datetime

    @property
    def credit_normal(self) -> bool:
        return self.kind.credit_normal

    @property
    def posted(self) -> int:
        """The posted balance on the normal side: a wallet's money, an asset's holdings."""
        net = self.credits_posted - self.debits_posted
        return net if self.credit_normal else -net

    @property
    def held(self) -> int:
        """Outgoing holds (pending transfers that would reduce the balance)."""
        return self.debits_pending if self.credit_normal else self.credits_pending

    @property
    def incoming(self) -> int:
        """Incoming pending transfers (not spendable until posted)."""
        return self.credits_pending if self.credit_normal else self.debits_pending

    @property
    def available(self) -> int:
        """What the account may still spend: posted less outgoing holds."""
        return self.posted - self.held


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        owner=row.owner,
        name=row.name,
        currency=row.currency,
        kind=AccountKind(row.kind),
        allow_negative=bool(row.allow_negative),
        debits_pending=row.debits_pending,
        debits_posted=row.debits_posted,
        credits_pending=row.credits_pending,
        credits_posted=row.credits_posted,
        created_at=row.created_at,
    )


def stored_transfer(row: Row[Any]) -> StoredTransfer:
    return StoredTransfer(
        id=row.id,
        seq=row.seq,
        kind=TransferKind(row.kind),
        debit_account_id=row.debit_account_id,
        credit_account_id=row.credit_account_id,
        amount=row.amount,
        pending_id=row.pending_id,
        pending_status=PendingStatus(row.pending_status) if row.pending_status else None,
        timeout=row.timeout,
        timeout_at=row.timeout_at,
        code=row.code,
        reference=row.reference,
        debit_balance=row.debit_balance,
        credit_balance=row.credit_balance,
        created_at=row.created_at,
    )


def _in(column: Any, values: Iterable[int], postgres: bool) -> Any:
    """`column IN (…)`; on PostgreSQL `column = ANY(:array)`, one parameter however many ids."""
    ids = sorted(set(values))
    if postgres:
        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


class Ledger:
    """Double-entry accounts and transfers in the caller's transaction (see the module docstring).

    On SQLite, open the session with `Database.session(write=True)` (or the `WriteSession`
    dependency) when the unit of work reads its own rows before moving money, so those reads are
    current too; the ledger's own reads are always taken under its lock.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    # Accounts

    async def open_account(
        self,
        *,
        owner: str,
        name: str,
        currency: str,
        kind: AccountKind,
        allow_negative: bool = False,
    ) -> Account:
        """The account (owner, name, currency), created on first use; O(log n).

        Opening is idempotent: concurrent callers get the same account. Its kind and
        allow_negative are fixed by whoever created it first.
        """
        if not CURRENCY.match(currency):
            raise ValueError(
                f"currency must be 1-10 upper-case letters or digits, not {currency!r}"
            )
        if not owner or len(owner) > 100 or not name or len(name) > 64:
            raise ValueError("owner (1-100 chars) and name (1-64 chars) are required")
        values = {
            "id": new_id(),
            "owner": owner,
            "name": name,
            "currency": currency,
            "kind": kind.value,
            "credit_normal": kind.credit_normal,
            "allow_negative": allow_negative,
            "debits_pending": 0,
            "debits_posted": 0,
            "credits_pending": 0,
            "credits_posted": 0,
            "created_at": utcnow(),
        }
        dialect = postgresql if self._postgres else sqlite
        statement = dialect.insert(ACCOUNTS).values(values).on_conflict_do_nothing()
        await self.session.execute(statement)
        row = (
            await self.session.execute(
                select(ACCOUNTS).where(
                    ACCOUNTS.c.owner == owner,
                    ACCOUNTS.c.name == name,
                    ACCOUNTS.c.currency == currency,
                )
            )
        ).one()
        return _account(row)

    async def account(self, account_id: int) -> Account:
        """The account with its current counters; raises AccountNotFound."""
        row = (
            await self.session.execute(select(ACCOUNTS).where(ACCOUNTS.c.id == account_id))
        ).first()
        if row is None:
            raise AccountNotFound(f"There is no ledger account {account_id}.")
        return _account(row)

    async def accounts(self, account_ids: Iterable[int]) -> dict[int, Account]:
        """The named accounts that exist, by id."""
        ids = list(account_ids)
        if not ids:
            return {}
        rows = (
            await self.session.execute(
                select(ACCOUNTS).where(_in(ACCOUNTS.c.id, ids, self._postgres))
            )
        ).all()
        return {row.id: _account(row) for row in rows}

    async def accounts_of(self, owner: str) -> list[Account]:
        """Every account of `owner`, oldest first."""
        rows = await self.session.execute(
            select(ACCOUNTS).where(ACCOUNTS.c.owner == owner).order_by(ACCOUNTS.c.id)
        )
        return [_account(row) for row in rows]

    async def find_account(self, *, owner: str, name: str, currency: str) -> Account | None:
        """The account (owner, name, currency) if it was opened, without opening it; O(log n)."""
        row = (
            await self.session.execute(
                select(ACCOUNTS).where(
                    ACCOUNTS.c.owner == owner,
                    ACCOUNTS.c.name == name,
                    ACCOUNTS.c.currency == currency,
                )
            )
        ).first()
        return _account(row) if row is not None else None

    async def accounts_named(
        self, name: str, currency: str, *, after_id: int = 0, limit: int = 1000
    ) -> list[Account]:
        """One page of the accounts called `name` in `currency` across owners, by id after
        `after_id` (for jobs that walk every holder: interest, fees). O(n) scan per page: for
        periodic jobs, not request paths."""
        rows = await self.session.execute(
            select(ACCOUNTS)
            .where(
                ACCOUNTS.c.name == name, ACCOUNTS.c.currency == currency, ACCOUNTS.c.id > after_id
            )
            .order_by(ACCOUNTS.c.id)
            .limit(max(1, min(limit, 10_000)))
        )
        return [_account(row) for row in rows]

    # Transfers

    async def transfer(self, transfer: Transfer) -> StoredTransfer:
        """Make one transfer, or find it made already (a retry); raises `TransferRefused`.

        Returns the stored transfer either way.
        """
        (outcome,) = await self.create_transfers([transfer])
        if not outcome.succeeded:
            raise refusal(outcome)
        stored = await self.get_transfer(transfer.id)
        assert stored is not None
        return stored

    async def get_transfer(self, transfer_id: int) -> StoredTransfer | None:
        row = (
            await self.session.execute(select(TRANSFERS).where(TRANSFERS.c.id == transfer_id))
        ).first()
        return stored_transfer(row) if row is not None else None

    async def transfers_between(
        self, account_id: int, start: datetime, end: datetime
    ) -> list[StoredTransfer]:
        """The account's transfers made in [start, end), oldest first (for reconciliation and
        reports). Reads the account's (account, seq) index and filters on time: O(m) for the
        account's m transfers, so for jobs and reports rather than request paths."""
        rows: list[Row[Any]] = []
        for column in (TRANSFERS.c.debit_account_id, TRANSFERS.c.credit_account_id):
            rows += (
                await self.session.execute(
                    select(TRANSFERS).where(
                        column == account_id,
                        TRANSFERS.c.created_at >= start,
                        TRANSFERS.c.created_at < end,
                    )
                )
            ).all()
        return sorted((stored_transfer(row) for row in rows), key=lambda t: t.seq)

    async def transfers(self, transfer_ids: Iterable[int]) -> dict[int, StoredTransfer]:
        ids = list(transfer_ids)
        if not ids:
            return {}
        rows = await self.session.execute(
            select(TRANSFERS).where(_in(TRANSFERS.c.id, ids, self._postgres))
        )
        return {row.id: stored_transfer(row) for row in rows}

    async def create_transfers(self, transfers: Sequence[Transfer]) -> list[Outcome]:
        """Decide and record a batch of transfers; one `Outcome` per transfer, in order.

        Business refusals (insufficient funds, a hold already captured…) are outcomes, not
        exceptions: the accepted transfers of the batch stand, and a linked chain stands or falls
        as one. Raises BatchTooLarge over MAX_BATCH transfers. O(n) Python work and a constant
        number of statements for n transfers.
        """
        if len(transfers) > MAX_BATCH:
            raise BatchTooLarge(f"At most {MAX_BATCH} transfers per batch; got {len(transfers)}.")
        if not transfers:
            return []
        pending_ids = {t.pending_id for t in transfers if t.pending_id > 0}
        account_ids = {
            a for t in transfers for a in (t.debit_account_id, t.credit_account_id) if a > 0
        }
        if pending_ids:
            known = await self.session.execute(
                select(TRANSFERS.c.debit_account_id, TRANSFERS.c.credit_account_id).where(
                    _in(TRANSFERS.c.id, pending_ids, self._postgres)
                )
            )
            for debit_id, credit_id in known:
                account_ids.update((debit_id, credit_id))

        accounts = await self._lock(account_ids)
        stored = await self.transfers({t.id for t in transfers if t.id > 0} | pending_ids)
        existing = {i: stored[i] for i in {t.id for t in transfers} if i in stored}
        pendings = {i: stored[i] for i in pending_ids if i in stored}
        now, seqs = await self._clock_and_sequence(len(transfers))

        plan = plan_batch(transfers, accounts, pendings, existing, now=now, seqs=iter(seqs))
        await self._write(plan.inserts, plan.deltas, plan.resolved)
        return plan.outcomes

    async def _lock(self, account_ids: set[int]) -> dict[int, AccountState]:
        """Lock the accounts (id order) and read their counters; O(k log n) for k accounts."""
        rows: Sequence[Any]  # asyncpg Records or SQLAlchemy Rows, both indexable by position
        if self._postgres:
            if not account_ids:
                return {}
            ids = sorted(account_ids)
            driver = await self._driver()
            connection = await self.session.connection()
            if not driver.is_in_transaction() and len(ids) <= RAW_LOCK_FROM:
                # The session's first statement, and a small one: through SQLAlchemy, which
                # opens the transaction the row locks must live in.
                rows = (await connection.exec_driver_sql(_PG_LOCK, (ids,))).all()
            else:
                if not driver.is_in_transaction():
                    await connection.exec_driver_sql("SELECT 1")  # opens the transaction
                # Straight to asyncpg: records decode in C, where SQLAlchemy's row adapter
                # costs more than the query on a large batch (~3 µs a row).
                rows = await driver.fetch(_PG_LOCK, ids)
        else:
            # The first write of the transaction takes SQLite's write lock (a no-op when the
            # session began IMMEDIATE); from here on every read is current.
            await self.session.execute(
                update(ACCOUNTS).where(ACCOUNTS.c.id == -1).values(id=ACCOUNTS.c.id)
            )
            if not account_ids:
                return {}
            columns = [ACCOUNTS.c[name] for name in _LOCK_COLUMNS]
            query = select(*columns).where(_in(ACCOUNTS.c.id, account_ids, False))
            rows = (await self.session.execute(query)).all()
        return {
            row[0]: AccountState(
                row[0], row[1], bool(row[2]), bool(row[3]), row[4], row[5], row[6], row[7]
            )
            for row in cast(Sequence[Any], rows)
        }

    async def _driver(self) -> Any:
        """The asyncpg connection under this session (check `is_in_transaction()` before
        sending it anything that must be transactional: SQLAlchemy's adapter opens the
        database transaction lazily, at the first statement sent through it)."""
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def _clock_and_sequence(self, count: int) -> tuple[datetime, range]:
        """The database's clock and `count` fresh, increasing sequence numbers, taken under the
        lock, so a later transfer on the same account always gets a later seq and time.

        PostgreSQL: one `nextval` per batch, n, numbers the batch's transfers n·2^13 + i
        (MAX_BATCH < 2^13): one round trip whatever the batch size. SQLite has one writer at a
        time and counts on from the largest seq (one index probe)."""
        if self._postgres:
            row = (
                await self.session.execute(
                    text("SELECT clock_timestamp(), nextval('ledger_transfer_seq')")
                )
            ).one()
            first = row[1] << SEQ_BATCH_BITS
            return row[0], range(first, first + count)
        last = (
            await self.session.execute(select(func.coalesce(func.max(TRANSFERS.c.seq), 0)))
        ).scalar_one()
        return utcnow(), range(last + 1, last + 1 + count)

    async def _write(
        self,
        inserts: Sequence[StoredTransfer],
        deltas: dict[int, AccountDelta],
        resolved: dict[int, PendingStatus],
    ) -> None:
        """Three driver-level statements: SQLAlchemy's per-row parameter processing would cost
        more than the database's work on large batches. PostgreSQL gets the rows by binary COPY
        (or, under COPY_FROM rows, one INSERT over arrays) and each update as ONE statement
        over arrays (`unnest`); SQLite, in-process, runs each
        as an executemany."""
        rows = [
            (
                row.id,
                row.seq,
                row.kind.value,
                row.debit_account_id,
                row.credit_account_id,
                row.amount,
                row.pending_id,
                row.pending_status.value if row.pending_status else None,
                row.timeout,
                row.timeout_at,
                row.code,
                row.reference,
                row.debit_balance,
                row.credit_balance,
                row.created_at,
            )
            for row in inserts
        ]
        changes = [
            (account_id, d.debits_pending, d.debits_posted, d.credits_pending, d.credits_posted)
            for account_id, d in sorted(deltas.items())
            if d.debits_pending or d.debits_posted or d.credits_pending or d.credits_posted
        ]
        statuses = [(pid, status.value) for pid, status in resolved.items()]
        connection = await self.session.connection()
        if self._postgres:
            if len(rows) >= COPY_FROM:
                # Binary COPY: the cheapest way in for many rows, but it costs extra round
                # trips per call, so small batches take the one-statement INSERT.
                driver = await self._driver()
                assert driver.is_in_transaction()  # the lock query above opened it
                await driver.copy_records_to_table(
                    "ledger_transfers", records=rows, columns=_COLUMN_NAMES
                )
            elif rows:
                await connection.exec_driver_sql(
                    _PG_INSERT, tuple(list(c) for c in zip(*rows, strict=True))
                )
            if changes:
                await connection.exec_driver_sql(
                    _PG_UPDATE, tuple(list(c) for c in zip(*changes, strict=True))
                )
            if statuses:
                await connection.exec_driver_sql(
                    _PG_RESOLVE, tuple(list(c) for c in zip(*statuses, strict=True))
                )
            return
        if rows:
            await connection.exec_driver_sql(
                _SQLITE_INSERT,
                [(*r[:9], _sqlite_time(r[9]), *r[10:14], _sqlite_time(r[14])) for r in rows],
            )
        if changes:
            await connection.exec_driver_sql(_SQLITE_UPDATE, [(*c[1:], c[0]) for c in changes])
        if statuses:
            await connection.exec_driver_sql(_SQLITE_RESOLVE, [(st, pid) for pid, st in statuses])


_LOCK_COLUMNS = (
    "id",
    "currency",
    "credit_normal",
    "allow_negative",
    "debits_pending",
    "debits_posted",
    "credits_pending",
    "credits_posted",
)
_PG_LOCK = (
    f"SELECT {', '.join(_LOCK_COLUMNS)} FROM ledger_accounts WHERE id = ANY($1::bigint[])"
    " ORDER BY id FOR UPDATE"
)
_COLUMNS = (
    "id, seq, kind, debit_account_id, credit_account_id, amount, pending_id, pending_status,"
    " timeout, timeout_at, code, reference, debit_balance, credit_balance, created_at"
)
_COLUMN_NAMES = [name.strip() for name in _COLUMNS.split(",")]
_PG_INSERT = (
    f"INSERT INTO ledger_transfers ({_COLUMNS}) SELECT * FROM unnest("
    "$1::bigint[], $2::bigint[], $3::varchar[], $4::bigint[], $5::bigint[], $6::bigint[],"
    " $7::bigint[], $8::varchar[], $9::bigint[], $10::timestamptz[], $11::varchar[],"
    " $12::varchar[], $13::bigint[], $14::bigint[], $15::timestamptz[])"
)
_PG_UPDATE = (
    "UPDATE ledger_accounts AS a SET debits_pending = a.debits_pending + d.dp,"
    " debits_posted = a.debits_posted + d.dpo, credits_pending = a.credits_pending + d.cp,"
    " credits_posted = a.credits_posted + d.cpo"
    " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])"
    " AS d(id, dp, dpo, cp, cpo) WHERE a.id = d.id"
)
_PG_RESOLVE = (
    "UPDATE ledger_transfers AS t SET pending_status = r.status"
    " FROM unnest($1::bigint[], $2::varchar[]) AS r(id, status)"
    " WHERE t.id = r.id AND t.pending_status = 'pending'"
)
_SQLITE_INSERT = f"INSERT INTO ledger_transfers ({_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_SQLITE_UPDATE = (
    "UPDATE ledger_accounts SET debits_pending = debits_pending + ?,"
    " debits_posted = debits_posted + ?, credits_pending = credits_pending + ?,"
    " credits_posted = credits_posted + ? WHERE id = ?"
)
_SQLITE_RESOLVE = (
    "UPDATE ledger_transfers SET pending_status = ? WHERE id = ? AND pending_status = 'pending'"
)


def _sqlite_time(value: datetime | None) -> str | None:
    """A UTC time in the text form SQLAlchemy's SQLite DATETIME reads back."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
