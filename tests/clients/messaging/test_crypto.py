"""The device-side end-to-end encryption (casebook.clients.messaging.e2e) on its own: X3DH
session set-up, the Double Ratchet in both directions and out of order, tampering, replays,
identity pinning, concurrent session starts and saving the state."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casebook.clients.messaging.e2e import (
    DecryptionError,
    DeviceCrypto,
    E2EError,
    NoSession,
    PeerBundle,
    UntrustedIdentity,
)
from casebook.engines.messaging.keys import verify_signed_prekey

ALICE, BOB = 1, 2


def claim(device: DeviceCrypto, device_id: int, one_time: bool = True) -> PeerBundle:
    """What the key directory would hand out for `device` (taking its lowest one-time prekey)."""
    published: dict[str, Any] = device.publication()
    one_time_prekeys = published["one_time_prekeys"]
    return PeerBundle.from_json(
        {
            "device_id": str(device_id),
            "identity_key": published["identity_key"],
            "signed_prekey": published["signed_prekey"],
            "one_time_prekey": one_time_prekeys[0] if one_time and one_time_prekeys else None,
        }
    )


async def test_the_first_message_starts_a_session_and_spends_the_one_time_prekey() -> None:
    alice, bob = DeviceCrypto.create(2), DeviceCrypto.create(2)
    bundle = claim(bob, BOB)

    envelope = await alice.encrypt(BOB, b"hello", bundle)

    assert await bob.decrypt(ALICE, envelope) == b"hello"
    remaining = [k["public_key"] for k in bob.publication()["one_time_prekeys"]]
    assert base64.b64encode(bundle.one_time_prekey or b"").decode() not in remaining
    assert len(remaining) == 1
    assert await alice.decrypt(BOB, await bob.encrypt(ALICE, b"hi")) == b"hi"


async def test_a_session_starts_without_one_time_prekey_when_the_device_ran_out() -> None:
    alice, bob = DeviceCrypto.create(0), DeviceCrypto.create(0)
    envelope = await alice.encrypt(BOB, b"no prekey left", claim(bob, BOB, one_time=False))
    assert await bob.decrypt(ALICE, envelope) == b"no prekey left"


async def test_the_published_signature_verifies_on_the_server_side() -> None:
    published = DeviceCrypto.create(1).publication()
    assert verify_signed_prekey(
        base64.b64decode(published["identity_key"]),
        base64.b64decode(published["signed_prekey"]["public_key"]),
        base64.b64decode(published["signed_prekey"]["signature"]),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    turns=st.lists(st.tuples(st.booleans(), st.integers(1, 4)), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
)
async def test_every_message_decrypts_whatever_the_turns_and_delivery_order(
    turns: list[tuple[bool, int]], seed: int
) -> None:
    """Alice and Bob take turns sending bursts; each burst arrives shuffled. Every message
    decrypts exactly to what was sent."""
    shuffle = random.Random(seed).shuffle
    alice, bob = DeviceCrypto.create(1), DeviceCrypto.create(1)
    first = await alice.encrypt(BOB, b"start", claim(bob, BOB))
    assert await bob.decrypt(ALICE, first) == b"start"
    for turn, (alice_sends, count) in enumerate(turns):
        sender, receiver, to, sender_id = (
            (alice, bob, BOB, ALICE) if alice_sends else (bob, alice, ALICE, BOB)
        )
        burst = [
            (f"{turn}.{i}".encode(), await sender.encrypt(to, f"{turn}.{i}".encode()))
            for i in range(count)
        ]
        shuffle(burst)
        for plaintext, envelope in burst:
            assert await receiver.decrypt(sender_id, envelope) == plaintext


async def test_a_lost_first_message_does_not_lose_the_session() -> None:
    alice, bob = DeviceCrypto.create(1), DeviceCrypto.create(1)
    await alice.encrypt(BOB, b"lost", claim(bob, BOB))
    # Until Bob answers, every message carries the X3DH header.
    assert await bob.decrypt(ALICE, await alice.encrypt(BOB, b"second")) == b"second"
    assert await alice.decrypt(BOB, await bob.encrypt(ALICE, b"got it")) == b"got it"


@pytest.mark.parametrize("position", [1, 5, 40, 100, 140, 150, 170, -40, -1])
async def test_a_tampered_envelope_is_rejected_and_changes_nothing(position: int) -> None:
    alice, bob = DeviceCrypto.create(1), DeviceCrypto.create(1)
    envelope = bytearray(await alice.encrypt(BOB, b"attack at dawn", claim(bob, BOB)))
    envelope[position] ^= 0x04

    with pytest.raises(DecryptionError):
        await bob.decrypt(ALICE, bytes(envelope))

    assert await bob.decrypt(ALICE, await alice.encrypt(BOB, b"genuine")) == b"genuine"


async def test_a_replayed_or_truncated_envelope_is_rejected() -> None:
    alice, bob = DeviceCrypto.create(1), DeviceCrypto.create(1)
    assert await bob.decrypt(ALICE, await alice.encrypt(BOB, b"one", claim(bob, BOB))) == b"one"
    envelope = await bob.encrypt(ALICE, b"two")
    assert await alice.decrypt(BOB, envelope) == b"two"
    with pytest.raises(DecryptionError):
        await alice.decrypt(BOB, envelope)
    with pytest.raises(DecryptionError):
        await alice.decrypt(BOB, envelope[:60])
    with pytest.raises(DecryptionError):
        await alice.decrypt(BOB, b"\x07" + envelope[1:])


async def test_a_device_needs_a_bundle_for_its_first_message() -> None:
    with pytest.raises(NoSession):
        await DeviceCrypto.create(0).encrypt(BOB, b"hi")


async def test_a_forged_signed_prekey_is_refused_by_the_initiator() -> None:
    bob, mallory = DeviceCrypto.create(1), DeviceCrypto.create(1)
    genuine, forged = claim(bob, BOB), claim(mallory, BOB)
    bundle = PeerBundle(
        BOB, genuine.identity_key, forged.signed_prekey, forged.signed_prekey_signature, None
    )
    with pytest.raises(E2EError):
        await DeviceCrypto.create(0).encrypt(BOB, b"hi", bundle)


async def test_another_identity_for_a_known_device_is_refused() -> None:
    alice, bob, mallory = DeviceCrypto.create(1), DeviceCrypto.create(1), DeviceCrypto.create(1)
    alice.trust(BOB, claim(bob, BOB).identity_key)
    with pytest.raises(UntrustedIdentity):
        await alice.encrypt(BOB, b"hi", claim(mallory, BOB))
    # Mallory starting a session as Bob's device is refused on the receiving side too.
    assert await bob.decrypt(ALICE, await alice.encrypt(BOB, b"hi", claim(bob, BOB))) == b"hi"
    impostor = await mallory.encrypt(BOB, b"it's me", claim(DeviceCrypto.create(1), BOB))
    with pytest.raises(UntrustedIdentity):
        await alice.decrypt(BOB, impostor)


async def test_sessions_started_by_both_sides_at_once_converge() -> None:
    alice, bob = DeviceCrypto.create(1), DeviceCrypto.create(1)
    from_alice = await alice.encrypt(BOB, b"a0", claim(bob, BOB))
    from_bob = await bob.encrypt(ALICE, b"b0", claim(alice, ALICE))
    assert await bob.decrypt(ALICE, from_alice) == b"a0"
    assert await alice.decrypt(BOB, from_bob) == b"b0"
    for i in range(3):
        assert await bob.decrypt(ALICE, await alice.encrypt(BOB, b"a%d" % i)) == b"a%d" % i
        assert await alice.decrypt(BOB, await bob.encrypt(ALICE, b"b%d" % i)) == b"b%d" % i


async def test_the_state_survives_saving_and_loading() -> None:
    alice, bob = DeviceCrypto.create(3), DeviceCrypto.create(3)
    assert await bob.decrypt(ALICE, await alice.encrypt(BOB, b"one", claim(bob, BOB))) == b"one"
    pending = await alice.encrypt(BOB, b"two")

    alice, bob = DeviceCrypto.from_bytes(alice.to_bytes()), DeviceCrypto.from_bytes(bob.to_bytes())

    assert await bob.decrypt(ALICE, pending) == b"two"
    assert await alice.decrypt(BOB, await bob.encrypt(ALICE, b"three")) == b"three"
    assert bob.publication() == DeviceCrypto.from_bytes(bob.to_bytes()).publication()
    with pytest.raises(E2EError):
        DeviceCrypto.from_bytes(b"not a state")
