"""The simulated chain: a faithful stand-in for a public blockchain the exchange cannot reach here.

What it does, as a real account-based chain (Ethereum, BNB Chain) does:

- A transaction is a JSON body signed with Ed25519 by its sender (`keys.sign`). `submit` checks
  the chain id, that the `from` address derives from `public_key`, the signature, and the nonce:
  it must equal the sender's next nonce, taken by one atomic conditional UPDATE, so a replayed or
  re-ordered transaction is refused (409) however many copies race. Accepted transactions wait in
  the mempool (`pending`); balances are not checked yet.
- `produce_block` includes the pending transactions in acceptance order (at most
  `max_block_txs`), executes each against the chain state and records it `succeeded` or
  `reverted` (insufficient balance, a DEX slippage limit, a deadline passed); a reverted
  transaction changes nothing but still consumes its nonce. Block producers lock the head row, so
  there is one chain even with several producers; only block production changes balances, and a
  debit is one conditional UPDATE (`amount >= x`) under a CHECK, so no balance goes negative.
- Confirmations of a transaction = head height - its block's height.
- Kinds of transactions: `transfer` (built in), `mint` (the faucet: how coins arrive from the
  world outside the simulation; unsigned, only code can submit it), and whatever `TxKind`s the
  chain is given (the DEX's swap and liquidity transactions, `dex.DEX_KINDS`).

Executors follow one rule: check everything, then write. Block production is serialised, so what
an executor read is still true when it writes, and a revert needs no undo.

Costs: `submit` O(log n) (a few index lookups and two writes); `produce_block` O(k log n) for k
transactions; reads O(log n).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.binance import keys
from casebook.systems.binance.chain_models import (
    ChainAccount,
    ChainBalance,
    ChainBlock,
    ChainState,
    ChainTx,
)

MAX_AMOUNT = 10**15
"""Largest amount a transaction moves (the ledger's limit too, so any deposit can be credited)."""
FAUCET = "0x" + "0" * 40
"""The sender of mints: no key controls it."""
GENESIS_HASH = "0" * 64
ASSET_PATTERN = r"^[A-Z0-9]{1,10}$"
ADDRESS_PATTERN = keys.ADDRESS.pattern


class InvalidTransaction(InvalidInput):
    type_ = "binance/invalid-transaction"
    title = "The transaction is not valid"


class InvalidSignature(InvalidInput):
    type_ = "binance/invalid-signature"
    title = "The signature does not match the transaction and its key"


class TransactionKnown(Conflict):
    type_ = "binance/transaction-known"
    title = "This transaction was already submitted"


class NonceMismatch(Conflict):
    type_ = "binance/nonce-mismatch"
    title = "The nonce is not the sender's next nonce"


class Revert(Exception):
    """Raised by an executor: the transaction is included but reverted, with this reason."""


class TxBody(BaseModel):
    """The fields every signed transaction carries. Strict and closed: what is signed is exactly
    what is validated, with no coercion and no unknown field."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True, frozen=True)

    chain: str = Field(max_length=64)
    kind: str = Field(max_length=24)
    sender: str = Field(alias="from", pattern=ADDRESS_PATTERN)
    public_key: str = Field(pattern=keys.PUBLIC_KEY_HEX.pattern)
    nonce: int = Field(ge=0, le=2**53)


class TransferBody(TxBody):
    kind: Literal["transfer"]
    to: str = Field(pattern=ADDRESS_PATTERN)
    asset: str = Field(pattern=ASSET_PATTERN)
    amount: int = Field(ge=1, le=MAX_AMOUNT)


@dataclass(frozen=True)
class Execution:
    """What an executor sees: the session of the block being produced and its height."""

    session: AsyncSession
    height: int
    tx_hash: str


Executor = Callable[[Execution, Any], Awaitable[None]]


@dataclass(frozen=True)
class TxKind:
    """A kind of signed transaction: its body model (a `TxBody` subclass) and its executor, which
    raises `Revert` to revert."""

    body: type[TxBody]
    execute: Executor


@dataclass(frozen=True)
class Block:
    height: int
    hash: str
    prev_hash: str
    tx_count: int
    produced_at: datetime


@dataclass(frozen=True)
class TxView:
    hash: str
    kind: str
    sender: str
    nonce: int | None
    body: dict[str, Any]
    status: str
    error: str | None
    block_height: int | None
    confirmations: int | None


async def debit(session: AsyncSession, address: str, asset: str, amount: int) -> None:
    """Take `amount` from (address, asset) or raise Revert; one conditional UPDATE, O(log n)."""
    result = await session.execute(
        update(ChainBalance)
        .where(
            ChainBalance.address == address,
            ChainBalance.asset == asset,
            ChainBalance.amount >= amount,
        )
        .values(amount=ChainBalance.amount - amount)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Revert(f"insufficient {asset} balance")


async def credit(session: AsyncSession, address: str, asset: str, amount: int) -> None:
    """Add `amount` to (address, asset); one upsert, O(log n)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(ChainBalance).values(address=address, asset=asset, amount=amount)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["address", "asset"],
            set_={"amount": ChainBalance.amount + insert.excluded.amount},
        )
    )


async def balance(session: AsyncSession, address: str, asset: str) -> int:
    value = await session.scalar(
        select(ChainBalance.amount).where(
            ChainBalance.address == address, ChainBalance.asset == asset
        )
    )
    return int(value or 0)


async def balances(session: AsyncSession, address: str) -> dict[str, int]:
    """Every non-zero balance of `address`, by asset."""
    rows = await session.execute(
        select(ChainBalance.asset, ChainBalance.amount)
        .where(ChainBalance.address == address, ChainBalance.amount > 0)
        .order_by(ChainBalance.asset)
    )
    return {asset: int(amount) for asset, amount in rows}


async def _execute_transfer(execution: Execution, body: TransferBody) -> None:
    await debit(execution.session, body.sender, body.asset, body.amount)
    await credit(execution.session, body.to, body.asset, body.amount)


TRANSFER = TxKind(TransferBody, _execute_transfer)


@dataclass
class Chain:
    """The chain's rules; its state lives in the `binance_chain_*` tables of the session given."""

    chain_id: str = "casebook-binance-sim"
    kinds: Mapping[str, TxKind] = field(default_factory=dict)
    max_block_txs: int = 1000
    block_interval_seconds: float = 3.0

    def __post_init__(self) -> None:
        self.kinds = {"transfer": TRANSFER, **self.kinds}

    def parse(self, body: Mapping[str, Any]) -> TxBody:
        """The validated body; raises InvalidTransaction naming the first bad field."""
        kind = self.kinds.get(str(body.get("kind")))
        if kind is None:
            known = ", ".join(sorted(self.kinds))
            raise InvalidTransaction(f"kind must be one of {known}.")
        try:
            parsed = kind.body.model_validate(dict(body))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidTransaction(f"{where}: {first['msg']}") from None
        if parsed.chain != self.chain_id:
            raise InvalidTransaction(f"chain must be {self.chain_id!r} (replay protection).")
        return parsed

    async def submit(
        self, session: AsyncSession, body: Mapping[str, Any], signature: str
    ) -> TxView:
        """Accept a signed transaction into the mempool; returns it `pending`.

        Raises InvalidTransaction (422: malformed, wrong chain, `from` not derived from
        `public_key`), InvalidSignature (422), TransactionKnown (409: this exact transaction
        again) or NonceMismatch (409, with `expected_nonce`). Nothing is written when refused.
        """
        parsed = self.parse(body)
        if keys.address_of(parsed.public_key) != parsed.sender:
            raise InvalidTransaction("from is not the address of public_key.")
        if not keys.verify(parsed.public_key, signature, body):
            raise InvalidSignature()
        tx_hash = keys.tx_hash(body)
        if await session.get(ChainTx, tx_hash) is not None:
            raise TransactionKnown(f"Transaction {tx_hash} was already submitted.", hash=tx_hash)
        await self._take_nonce(session, parsed.sender, parsed.public_key, parsed.nonce)
        tx = ChainTx(
            hash=tx_hash,
            seq=new_id(),
            kind=parsed.kind,
            sender=parsed.sender,
            nonce=parsed.nonce,
            body=keys.canonical(body).decode(),
            signature=signature,
            status="pending",
            submitted_at=utcnow(),
        )
        if isinstance(parsed, TransferBody):
            tx.recipient, tx.asset, tx.amount = parsed.to, parsed.asset, parsed.amount
        session.add(tx)
        await session.flush()
        return _view(tx, None)

    async def _take_nonce(
        self, session: AsyncSession, address: str, public_key: str, nonce: int
    ) -> None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        await session.execute(
            dialect.insert(ChainAccount)
            .values(address=address, public_key=public_key, next_nonce=0)
            .on_conflict_do_nothing()
        )
        # One conditional UPDATE: of racing copies of nonce n, exactly one moves it to n + 1.
        taken = await session.execute(
            update(ChainAccount)
            .where(ChainAccount.address == address, ChainAccount.next_nonce == nonce)
            .values(next_nonce=ChainAccount.next_nonce + 1, public_key=public_key)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            expected = await self.next_nonce(session, address)
            raise NonceMismatch(
                f"The next nonce of {address} is {expected}, not {nonce}.",
                expected_nonce=expected,
            )

    async def next_nonce(self, session: AsyncSession, address: str) -> int:
        value = await session.scalar(
            select(ChainAccount.next_nonce).where(ChainAccount.address == address)
        )
        return int(value or 0)

    async def mint(self, session: AsyncSession, address: str, asset: str, amount: int) -> TxView:
        """The faucet: a pending mint of `amount` of `asset` to `address` (coins arriving from
        outside the simulation, e.g. a user's own wallet elsewhere). Not reachable over HTTP."""
        if not keys.ADDRESS.match(address):
            raise InvalidTransaction("address must be 0x and 40 hex digits.")
        if not 1 <= amount <= MAX_AMOUNT:
            raise InvalidTransaction(f"amount must be 1 to {MAX_AMOUNT}.")
        body = {
            "chain": self.chain_id,
            "kind": "mint",
            "to": address,
            "asset": asset,
            "amount": amount,
            "salt": new_id(),
        }
        tx = ChainTx(
            hash=keys.tx_hash(body),
            seq=new_id(),
            kind="mint",
            sender=FAUCET,
            nonce=None,
            body=keys.canonical(body).decode(),
            recipient=address,
            asset=asset,
            amount=amount,
            status="pending",
            submitted_at=utcnow(),
        )
        session.add(tx)
        await session.flush()
        return _view(tx, None)

    async def head(self, session: AsyncSession) -> int:
        """The height of the newest block (0 before the first)."""
        value = await session.scalar(select(ChainState.height).where(ChainState.id == 1))
        return int(value or 0)

    async def produce_block(self, session: AsyncSession) -> Block:
        """Include the pending transactions (oldest first, at most `max_block_txs`) in a new
        block and execute them; run in a write session. O(k log n) for k transactions."""
        state = await self._lock_head(session)
        height = state.height + 1
        pending = (
            await session.scalars(
                select(ChainTx)
                .where(ChainTx.status == "pending")
                .order_by(ChainTx.seq)
                .limit(self.max_block_txs)
            )
        ).all()
        digest = hashlib.sha256(f"{state.head_hash}:{height}:{time.time_ns()}".encode())
        for position, tx in enumerate(pending):
            digest.update(tx.hash.encode())
            tx.block_height, tx.position = height, position
            try:
                await self._execute(session, tx, height)
            except Revert as reason:
                tx.status, tx.error = "reverted", str(reason)[:200]
            else:
                tx.status = "succeeded"
        block = ChainBlock(
            height=height,
            hash=digest.hexdigest(),
            prev_hash=state.head_hash,
            tx_count=len(pending),
            produced_at=utcnow(),
        )
        session.add(block)
        state.height, state.head_hash = height, block.hash
        await session.flush()
        return _block(block)

    async def _lock_head(self, session: AsyncSession) -> ChainState:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        await session.execute(
            dialect.insert(ChainState)
            .values(id=1, height=0, head_hash=GENESIS_HASH)
            .on_conflict_do_nothing()
        )
        state = await session.scalar(
            select(ChainState)
            .where(ChainState.id == 1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert state is not None
        return state

    async def _execute(self, session: AsyncSession, tx: ChainTx, height: int) -> None:
        body = orjson.loads(tx.body)
        if tx.kind == "mint":
            await credit(session, body["to"], body["asset"], body["amount"])
            return
        kind = self.kinds[tx.kind]
        parsed = kind.body.model_validate(body)
        await kind.execute(Execution(session, height, tx.hash), parsed)

    async def tx(self, session: AsyncSession, tx_hash: str) -> TxView:
        """The transaction with its status and confirmations; raises NotFound."""
        tx = await session.get(ChainTx, tx_hash) if len(tx_hash) == 64 else None
        if tx is None:
            raise NotFound(f"There is no transaction {tx_hash}.")
        return _view(tx, await self.head(session))

    async def block(self, session: AsyncSession, height: int) -> tuple[Block, list[TxView]]:
        """A block and its transactions in order; raises NotFound."""
        block = await session.get(ChainBlock, height)
        if block is None:
            raise NotFound(f"There is no block {height}.")
        head = await self.head(session)
        txs = await session.scalars(
            select(ChainTx).where(ChainTx.block_height == height).order_by(ChainTx.position)
        )
        return _block(block), [_view(tx, head) for tx in txs]

    async def blocks(self, session: AsyncSession, *, before: int | None, limit: int) -> list[Block]:
        """Newest first, heights below `before`; O(log n + limit)."""
        query = select(ChainBlock).order_by(ChainBlock.height.desc()).limit(limit)
        if before is not None:
            query = query.where(ChainBlock.height < before)
        return [_block(b) for b in await session.scalars(query)]

    async def pending_count(self, session: AsyncSession) -> int:
        count = await session.scalar(
            select(func.count()).select_from(ChainTx).where(ChainTx.status == "pending")
        )
        return int(count or 0)


def _view(tx: ChainTx, head: int | None) -> TxView:
    confirmations = None
    if head is not None and tx.block_height is not None:
        confirmations = head - tx.block_height
    return TxView(
        hash=tx.hash,
        kind=tx.kind,
        sender=tx.sender,
        nonce=tx.nonce,
        body=orjson.loads(tx.body),
        status=tx.status,
        error=tx.error,
        block_height=tx.block_height,
        confirmations=confirmations,
    )


def _block(block: ChainBlock) -> Block:
    return Block(block.height, block.hash, block.prev_hash, block.tx_count, block.produced_at)


# The periodic block producer


BLOCK_JOB = "binance.produce-block"
_CHAIN_STATE_KEY = "binance.chain"


def install(platform: Platform, chain: Chain) -> None:
    """Keep `chain` for this process and register the block-producing job; call at startup, then
    `schedule_block` once the job queue runs."""
    platform.state[_CHAIN_STATE_KEY] = chain
    platform.jobs.register(BLOCK_JOB, _block_job, retries=3)


def chain_of(platform: Platform) -> Chain:
    chain = platform.state.get(_CHAIN_STATE_KEY)
    if not isinstance(chain, Chain):
        raise RuntimeError("the chain is not installed (chain.install at startup)")
    return chain


async def schedule_block(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next block at the next interval boundary, keyed by it, so the processes of a
    cluster produce one block per slot."""
    interval = chain_of(platform).block_interval_seconds
    now = time.time() if now is None else now
    slot = int(now // interval) + 1
    return await platform.jobs.enqueue(
        BLOCK_JOB, {}, key=str(slot), delay=max(0.0, slot * interval - now)
    )


async def _block_job(platform: Platform, payload: dict[str, Any]) -> None:
    try:
        async with platform.db.session(write=True) as session:
            await chain_of(platform).produce_block(session)
    finally:
        await schedule_block(platform)


# HTTP: /chain/* (the lead mounts the router under /api/binance)


class SignedTx(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: dict[str, Any]
    signature: str = Field(max_length=128)


class TxOut(BaseModel):
    hash: str
    kind: str
    sender: str = Field(serialization_alias="from")
    nonce: int | None
    body: dict[str, Any]
    status: str
    error: str | None
    block_height: int | None
    confirmations: int | None


class BlockOut(BaseModel):
    height: int
    hash: str
    prev_hash: str
    tx_count: int
    produced_at: datetime


class BlockDetail(BlockOut):
    transactions: list[TxOut]


class AddressOut(BaseModel):
    address: str
    next_nonce: int
    balances: dict[str, int]


def tx_out(view: TxView) -> TxOut:
    return TxOut(**view.__dict__)


def chain_router(chain: Chain) -> APIRouter:
    """The chain explorer and transaction submission, at /chain/* (public: a chain is)."""
    router = APIRouter(prefix="/chain")

    @router.post("/tx", status_code=202, response_model=TxOut, response_model_by_alias=True)
    async def submit_tx(signed: SignedTx, session: WriteSession) -> TxOut:
        """Submit a signed transaction to the mempool; 409 on a replay or a wrong nonce."""
        return tx_out(await chain.submit(session, signed.body, signed.signature))

    @router.get("/tx/{tx_hash}", response_model=TxOut, response_model_by_alias=True)
    async def get_tx(tx_hash: str, session: Session) -> TxOut:
        """A transaction: status, block and confirmations (head - its block's height)."""
        return tx_out(await chain.tx(session, tx_hash))

    @router.get("/blocks", response_model=list[BlockOut])
    async def list_blocks(
        session: Session,
        before: int | None = Query(None, ge=1),
        limit: int = Query(20, ge=1, le=100),
    ) -> list[BlockOut]:
        """Blocks newest first; page with `before` = the last height seen."""
        return [
            BlockOut(**b.__dict__) for b in await chain.blocks(session, before=before, limit=limit)
        ]

    @router.get("/blocks/{height}", response_model=BlockDetail, response_model_by_alias=True)
    async def get_block(height: int, session: Session) -> BlockDetail:
        block, txs = await chain.block(session, height)
        return BlockDetail(**block.__dict__, transactions=[tx_out(t) for t in txs])

    @router.get("/addresses/{address}", response_model=AddressOut)
    async def get_address(address: str, session: Session) -> AddressOut:
        """An address's balances and next nonce (what a wallet signs with next)."""
        if not keys.ADDRESS.match(address):
            raise InvalidTransaction("address must be 0x and 40 lower-case hex digits.")
        return AddressOut(
            address=address,
            next_nonce=await chain.next_nonce(session, address),
            balances=await balances(session, address),
        )

    return router
