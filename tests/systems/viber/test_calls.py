"""Voice/video call signalling at /api/viber/calls: the call log's state machine (guarded under
concurrency, busy lines, ring timeout by a job) and the relay of SDP offer/answer and ICE
candidates to the other party's sockets over /ws/viber."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from casebook.clients.messaging.ws import MessagingSocket, connect
from casebook.platform.context import Platform
from casebook.systems.viber import calls
from tests.systems.viber.conftest import API, NewUser, ViberUser

OFFER = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
)
ANSWER = OFFER.replace("4611731400430051336", "1234567890")
CANDIDATE = {
    "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.7 46154 typ srflx",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


async def ring(
    client: httpx.AsyncClient, caller: ViberUser, callee: ViberUser, kind: str = "voice"
) -> httpx.Response:
    return await client.post(
        f"{API}/calls",
        json={"callee_id": callee.id, "kind": kind, "device_id": str(caller.device_id)},
        headers=caller.headers,
    )


async def call_event(socket: MessagingSocket, event: str) -> dict[str, Any]:
    """The next call event of kind `event` on the socket (other frames are skipped)."""
    async with asyncio.timeout(5):
        while True:
            frame = await socket.next_event("call")
            if frame["event"] == event:
                return frame


@pytest.mark.feature("viber", "calls")
async def test_exactly_one_of_accept_and_decline_wins(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser
) -> None:
    for _ in range(3):
        call = (await ring(client, alice, bob, "video")).json()
        assert call["state"] == "ringing" and call["kind"] == "video"
        accept, decline = await asyncio.gather(
            client.post(
                f"{API}/calls/{call['id']}/accept",
                json={"device_id": str(bob.device_id)},
                headers=bob.headers,
            ),
            client.post(f"{API}/calls/{call['id']}/decline", headers=bob.headers),
        )
        assert sorted([accept.status_code, decline.status_code]) == [200, 409]
        final = (await client.get(f"{API}/calls/{call['id']}", headers=alice.headers)).json()
        assert final["state"] == ("accepted" if accept.status_code == 200 else "declined")
        if final["state"] == "accepted":
            assert final["callee_device_id"] == str(bob.device_id) and final["answered_at"]
            ended = await client.post(f"{API}/calls/{call['id']}/end", headers=alice.headers)
            assert ended.json()["state"] == "ended" and ended.json()["duration_seconds"] >= 0
        # Either way both lines are free again: the next call rings.
    log = (await client.get(f"{API}/calls", headers=bob.headers)).json()["items"]
    assert len(log) == 3 and {c["state"] for c in log} <= {"ended", "declined"}


@pytest.mark.feature("viber", "calls")
async def test_a_person_in_a_call_is_busy_even_to_simultaneous_callers(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, carol: ViberUser, new_user: NewUser
) -> None:
    first = (await ring(client, alice, bob)).json()
    assert (await ring(client, carol, bob)).json()["state"] == "busy"
    assert (await ring(client, carol, alice)).json()["state"] == "busy"
    # The caller hanging up while it rings is a missed call for the callee; lines are freed.
    hung_up = await client.post(f"{API}/calls/{first['id']}/end", headers=alice.headers)
    assert hung_up.json()["state"] == "missed" and hung_up.json()["ended_by"] == alice.id
    again = await client.post(
        f"{API}/calls/{first['id']}/accept",
        json={"device_id": str(bob.device_id)},
        headers=bob.headers,
    )
    assert again.status_code == 409

    dave = await new_user("Dave")
    callers = [alice, bob, carol]
    answers = await asyncio.gather(*(ring(client, c, dave) for c in callers))
    states = sorted(a.json()["state"] for a in answers)
    assert states == ["busy", "busy", "ringing"]


@pytest.mark.feature("viber", "calls")
async def test_an_unanswered_call_turns_missed_by_the_timeout_job(
    client: httpx.AsyncClient, platform: Platform, alice: ViberUser, bob: ViberUser
) -> None:
    calls.configure(platform, "viber", ring_timeout=0.1)
    call = (await ring(client, alice, bob)).json()
    async with asyncio.timeout(5):
        while True:
            seen = (await client.get(f"{API}/calls/{call['id']}", headers=bob.headers)).json()
            if seen["state"] != "ringing":
                break
            await asyncio.sleep(0.02)
    assert seen["state"] == "missed" and seen["ended_at"] and seen["answered_at"] is None
    late = await client.post(
        f"{API}/calls/{call['id']}/accept",
        json={"device_id": str(bob.device_id)},
        headers=bob.headers,
    )
    assert late.status_code == 409 and late.json()["type"].endswith("viber/call-state")
    # The line is free: a new call rings.
    assert (await ring(client, bob, alice)).json()["state"] == "ringing"


async def test_only_the_parties_see_or_touch_a_call(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, carol: ViberUser
) -> None:
    call = (await ring(client, alice, bob)).json()
    assert (await client.get(f"{API}/calls/{call['id']}", headers=carol.headers)).status_code == 404
    assert (await client.get(f"{API}/calls", headers=carol.headers)).json()["items"] == []
    for action in ("decline", "end"):
        assert (
            await client.post(f"{API}/calls/{call['id']}/{action}", headers=carol.headers)
        ).status_code == 404
    signal = {"device_id": str(carol.device_id), "type": "offer", "sdp": OFFER}
    assert (
        await client.post(f"{API}/calls/{call['id']}/signal", json=signal, headers=carol.headers)
    ).status_code == 404
    # The caller cannot pick up their own call, nor use someone else's device.
    own = await client.post(
        f"{API}/calls/{call['id']}/accept",
        json={"device_id": str(alice.device_id)},
        headers=alice.headers,
    )
    assert own.status_code == 404
    borrowed = await client.post(
        f"{API}/calls/{call['id']}/signal",
        json={**signal, "device_id": str(bob.device_id)},
        headers=alice.headers,
    )
    assert borrowed.status_code == 404
    bad_shapes = [
        {"device_id": str(alice.device_id), "type": "offer"},
        {"device_id": str(alice.device_id), "type": "ice", "sdp": OFFER},
        {"device_id": str(alice.device_id), "type": "offer", "sdp": "x" * 20_000},
        {"device_id": str(alice.device_id), "type": "hangup"},
    ]
    for shape in bad_shapes:
        refused = await client.post(
            f"{API}/calls/{call['id']}/signal", json=shape, headers=alice.headers
        )
        assert refused.status_code == 422, shape
    early_answer = await client.post(
        f"{API}/calls/{call['id']}/signal",
        json={"device_id": str(alice.device_id), "type": "answer", "sdp": ANSWER},
        headers=alice.headers,
    )
    assert early_answer.status_code == 409
    assert (await ring(client, alice, alice)).status_code == 422
    state = (await client.get(f"{API}/calls/{call['id']}", headers=bob.headers)).json()["state"]
    assert state == "ringing"


@pytest.mark.feature("viber", "calls")
async def test_offer_answer_and_ice_cross_between_the_parties_sockets(
    client: httpx.AsyncClient, ws_url: str, alice: ViberUser, bob: ViberUser
) -> None:
    async with (
        connect(ws_url, token=alice.token, device_id=alice.device_id) as alice_socket,
        connect(ws_url, token=bob.token, device_id=bob.device_id) as bob_socket,
    ):
        await alice_socket.next_event("resumed")
        await bob_socket.next_event("resumed")
        call = (await ring(client, alice, bob, "video")).json()
        incoming = await call_event(bob_socket, "incoming")
        assert incoming["call"]["caller_id"] == alice.id and incoming["call"]["kind"] == "video"

        def signal(user: ViberUser, kind: str, **fields: Any) -> Any:
            return client.post(
                f"{API}/calls/{call['id']}/signal",
                json={"device_id": str(user.device_id), "type": kind, **fields},
                headers=user.headers,
            )

        sent = await signal(alice, "offer", sdp=OFFER)
        assert sent.status_code == 202 and sent.json()["to_device_id"] is None  # every device
        offer = await call_event(bob_socket, "signal")
        assert offer["signal"] == {"type": "offer", "sdp": OFFER}
        assert offer["from_device_id"] == str(alice.device_id)

        accepted = await client.post(
            f"{API}/calls/{call['id']}/accept",
            json={"device_id": str(bob.device_id)},
            headers=bob.headers,
        )
        assert accepted.status_code == 200
        assert (await call_event(alice_socket, "accepted"))["call"]["state"] == "accepted"

        assert (await signal(bob, "answer", sdp=ANSWER)).status_code == 202
        answer = await call_event(alice_socket, "signal")
        assert answer["signal"] == {"type": "answer", "sdp": ANSWER}
        assert answer["to_device_id"] == str(alice.device_id)

        await signal(alice, "ice", candidate=CANDIDATE)
        await signal(bob, "ice", candidate={**CANDIDATE, "sdpMid": "1"})
        to_bob = await call_event(bob_socket, "signal")
        to_alice = await call_event(alice_socket, "signal")
        assert to_bob["signal"] == {"type": "ice", "candidate": CANDIDATE}
        assert to_bob["to_device_id"] == str(bob.device_id)
        assert to_alice["signal"]["candidate"]["sdpMid"] == "1"

        await client.post(f"{API}/calls/{call['id']}/end", headers=bob.headers)
        assert (await call_event(alice_socket, "ended"))["call"]["ended_by"] == bob.id
        assert (await call_event(bob_socket, "ended"))["call"]["state"] == "ended"
        after = await signal(alice, "ice", candidate=CANDIDATE)
        assert after.status_code == 409
