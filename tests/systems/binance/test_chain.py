"""The simulated chain: signatures, nonces, blocks, confirmations, no negative balance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from casebook.platform.db import Database
from casebook.systems.binance import keys
from casebook.systems.binance.chain import (
    Chain,
    InvalidSignature,
    InvalidTransaction,
    NonceMismatch,
    TransactionKnown,
    balance,
)
from casebook.systems.binance.chain_models import ChainBalance, ChainTx
from tests.systems.binance.conftest import ClientWallet, fund, produce

pytestmark = pytest.mark.feature("binance", "dex")


async def submit(db: Database, chain: Chain, body: dict[str, object], signature: str) -> str:
    async with db.session(write=True) as session:
        return (await chain.submit(session, body, signature)).hash


async def test_a_signed_transfer_moves_coins_in_the_next_block(db: Database, chain: Chain) -> None:
    alice, bob = ClientWallet(), ClientWallet()
    await fund(db, chain, alice.address, "BTC", 1_000)
    body, signature = alice.signed("transfer", to=bob.address, asset="BTC", amount=300)
    tx_hash = await submit(db, chain, body, signature)
    async with db.session() as session:
        pending = await chain.tx(session, tx_hash)
        assert (pending.status, pending.block_height, pending.confirmations) == (
            "pending",
            None,
            None,
        )
        assert await balance(session, bob.address, "BTC") == 0
    await produce(db, chain)
    async with db.session() as session:
        included = await chain.tx(session, tx_hash)
        assert included.status == "succeeded"
        assert included.block_height == 2 and included.confirmations == 0
        assert await balance(session, alice.address, "BTC") == 700
        assert await balance(session, bob.address, "BTC") == 300
    await produce(db, chain, blocks=3)
    async with db.session() as session:
        assert (await chain.tx(session, tx_hash)).confirmations == 3
        block, txs = await chain.block(session, 2)
        assert [t.hash for t in txs] == [tx_hash]
        assert block.prev_hash == (await chain.block(session, 1))[0].hash


async def test_a_tampered_transaction_is_refused_and_changes_nothing(
    db: Database, chain: Chain
) -> None:
    alice, mallory = ClientWallet(), ClientWallet()
    await fund(db, chain, alice.address, "BTC", 1_000)
    body, signature = alice.signed("transfer", to=alice.address, asset="BTC", amount=10)
    tampered = {**body, "to": mallory.address, "amount": 999}
    with pytest.raises(InvalidSignature):
        await submit(db, chain, tampered, signature)
    # Mallory re-signs Alice's transaction with her own key: the address no longer matches.
    stolen = {**tampered, "public_key": mallory.public_key}
    with pytest.raises(InvalidTransaction, match="from is not the address"):
        await submit(db, chain, stolen, keys.sign(mallory.key, stolen))
    async with db.session() as session:
        assert await chain.next_nonce(session, alice.address) == 0
        assert await chain.pending_count(session) == 0
    # The untampered original is still valid.
    await submit(db, chain, body, signature)


async def test_a_replayed_or_out_of_order_transaction_is_refused(
    db: Database, chain: Chain
) -> None:
    alice, bob = ClientWallet(), ClientWallet()
    await fund(db, chain, alice.address, "ETH", 100)
    body, signature = alice.signed("transfer", to=bob.address, asset="ETH", amount=10)
    await submit(db, chain, body, signature)
    with pytest.raises(TransactionKnown):
        await submit(db, chain, body, signature)
    await produce(db, chain)
    with pytest.raises(TransactionKnown):
        await submit(db, chain, body, signature)
    other, other_sig = alice.signed("transfer", nonce=0, to=bob.address, asset="ETH", amount=11)
    with pytest.raises(NonceMismatch) as refused:
        await submit(db, chain, other, other_sig)
    assert refused.value.extensions["expected_nonce"] == 1
    skipped, skipped_sig = alice.signed("transfer", nonce=5, to=bob.address, asset="ETH", amount=1)
    with pytest.raises(NonceMismatch):
        await submit(db, chain, skipped, skipped_sig)
    foreign = {**alice.body("transfer", to=bob.address, asset="ETH", amount=1), "chain": "mainnet"}
    with pytest.raises(InvalidTransaction, match="chain"):
        await submit(db, chain, foreign, keys.sign(alice.key, foreign))
    async with db.session() as session:
        assert await balance(session, bob.address, "ETH") == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": "10"}, "amount"),
        ({"asset": "btc"}, "asset"),
        ({"to": "0x1234"}, "to"),
        ({"kind": "mint"}, "kind"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_malformed_transactions_are_refused(
    db: Database, chain: Chain, change: dict[str, object], message: str
) -> None:
    alice = ClientWallet()
    body = {**alice.body("transfer", to=alice.address, asset="BTC", amount=1), **change}
    with pytest.raises(InvalidTransaction, match=message):
        await submit(db, chain, body, keys.sign(alice.key, body))


async def test_an_overspend_reverts_but_consumes_its_nonce(db: Database, chain: Chain) -> None:
    alice, bob = ClientWallet(), ClientWallet()
    await fund(db, chain, alice.address, "BTC", 50)
    body, signature = alice.signed("transfer", to=bob.address, asset="BTC", amount=51)
    tx_hash = await submit(db, chain, body, signature)
    await produce(db, chain)
    async with db.session() as session:
        reverted = await chain.tx(session, tx_hash)
        assert (reverted.status, reverted.error) == ("reverted", "insufficient BTC balance")
        assert await balance(session, alice.address, "BTC") == 50
        assert await chain.next_nonce(session, alice.address) == 1


async def test_concurrent_submissions_and_producers_never_overspend(
    db: Database, chain: Chain, wallet_factory: Callable[[], ClientWallet]
) -> None:
    wallets = [wallet_factory() for _ in range(4)]
    for wallet in wallets:
        await fund(db, chain, wallet.address, "BTC", 100)

    async def attempt(body: dict[str, object], signature: str) -> bool:
        try:
            await submit(db, chain, body, signature)
        except (TransactionKnown, NonceMismatch):
            return False
        return True

    # Each wallet races three different nonce-0 transactions and a copy: exactly one is accepted.
    races = []
    for i, wallet in enumerate(wallets):
        payee = wallets[(i + 1) % len(wallets)].address
        for amount in (60, 70, 80):
            body, signature = wallet.signed(
                "transfer", nonce=0, to=payee, asset="BTC", amount=amount
            )
            races += [attempt(body, signature), attempt(body, signature)]
    accepted = await asyncio.gather(*races)
    assert sum(accepted) == len(wallets)
    # Then each wallet spends 70 more, twice, concurrently with the others and with two producers.
    sink = wallet_factory().address
    follow_ups = []
    for wallet in wallets:
        payee = sink
        for nonce in (1, 2):
            body, signature = wallet.signed(
                "transfer", nonce=nonce, to=payee, asset="BTC", amount=70
            )
            follow_ups.append((body, signature))

    async def spend_in_order(pairs: list[tuple[dict[str, object], str]]) -> None:
        for body, signature in pairs:
            assert await attempt(body, signature)

    await asyncio.gather(
        *(spend_in_order(follow_ups[i * 2 : i * 2 + 2]) for i in range(len(wallets))),
        produce(db, chain),
        produce(db, chain),
    )
    await produce(db, chain, blocks=2)
    async with db.session() as session:
        amounts = (await session.scalars(select(ChainBalance.amount))).all()
        assert all(amount >= 0 for amount in amounts)
        assert sum(amounts) == 400  # no coin created or lost
        statuses = (
            await session.scalars(select(ChainTx.status).where(ChainTx.kind == "transfer"))
        ).all()
        assert len(statuses) == 12 and "pending" not in statuses
        # A wallet never held over 100 + 80 - 60 = 120 when its two 70s ran: one of them reverted.
        assert statuses.count("reverted") >= len(wallets)
        heights = select(ChainTx.block_height, func.count()).group_by(ChainTx.block_height)
        assert all(count >= 1 for _, count in (await session.execute(heights)).all())


async def test_sealed_keys_open_only_for_their_address() -> None:
    wallet = ClientWallet()
    sealed = keys.seal("secret", wallet.address, wallet.key)
    opened = keys.unseal("secret", wallet.address, sealed)
    assert keys.public_key_hex(opened) == wallet.public_key
    with pytest.raises(keys.SealedKeyError):
        keys.unseal("other-secret", wallet.address, sealed)
    with pytest.raises(keys.SealedKeyError):
        keys.unseal("secret", ClientWallet().address, sealed)
    assert wallet.key.private_bytes_raw() not in sealed
