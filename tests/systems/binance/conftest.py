"""Fixtures of the Binance chain, wallet and DEX tests: a database of their own, a client-side
wallet that signs with its own Ed25519 key (the server never sees it), and an app that mounts the
routers under test the way the system will (under /api/binance)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI

from casebook.app import create_app
from casebook.platform.context import Platform
from casebook.platform.db import Database
from casebook.platform.errors import install_problem_handlers
from casebook.platform.idempotency import install_idempotency
from casebook.platform.settings import Settings
from casebook.systems.binance import keys
from casebook.systems.binance.chain import Chain, TxView
from casebook.systems.binance.dex import DEX_KINDS

CHAIN_ID = "casebook-binance-sim"


@dataclass
class ClientWallet:
    """A user's own wallet: generates its key, builds and signs transactions client-side."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    nonce: int = 0

    @property
    def public_key(self) -> str:
        return keys.public_key_hex(self.key)

    @property
    def address(self) -> str:
        return keys.address_of(self.public_key)

    def body(self, kind: str, nonce: int | None = None, **fields: Any) -> dict[str, Any]:
        if nonce is None:
            nonce, self.nonce = self.nonce, self.nonce + 1
        return {
            "chain": CHAIN_ID,
            "kind": kind,
            "from": self.address,
            "public_key": self.public_key,
            "nonce": nonce,
            **fields,
        }

    def signed(
        self, kind: str, nonce: int | None = None, **fields: Any
    ) -> tuple[dict[str, Any], str]:
        body = self.body(kind, nonce, **fields)
        return body, keys.sign(self.key, body)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The platform WITHOUT the Binance system running: these tests drive their own Chain and
    Wallets, on which the running system's block and wallet jobs would race (same tables).
    The smallest built system stands in, for the platform and /api/auth."""
    application = create_app(settings, only=["url-shortener"])
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def chain() -> Chain:
    return Chain(kinds=DEX_KINDS)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def wallet_factory() -> Callable[[], ClientWallet]:
    return ClientWallet


async def fund(db: Database, chain: Chain, address: str, asset: str, amount: int) -> TxView:
    """Mint on chain and produce the block that includes the mint."""
    async with db.session(write=True) as session:
        view = await chain.mint(session, address, asset, amount)
        await chain.produce_block(session)
    return view


async def produce(db: Database, chain: Chain, blocks: int = 1) -> None:
    for _ in range(blocks):
        async with db.session(write=True) as session:
            await chain.produce_block(session)


@pytest.fixture
def mounted(platform: Platform) -> Callable[..., httpx.AsyncClient]:
    """An HTTP client on an app that mounts the given routers under /api/binance."""

    def make(*routers: APIRouter) -> httpx.AsyncClient:
        application = FastAPI()
        application.state.platform = platform
        install_problem_handlers(application)
        install_idempotency(application)
        for router in routers:
            application.include_router(router, prefix="/api/binance")
        transport = httpx.ASGITransport(app=application)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    return make
