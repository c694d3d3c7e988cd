"""Viber's voice/video calls at /api/viber/calls and over /ws/viber, between phone-number
accounts: the engine's call signalling (tests/engines/messaging/test_calls.py has the rest)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from casebook.clients.messaging.ws import MessagingSocket, connect
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
FEATURE = pytest.mark.feature("viber", "calls")


async def ring(
    client: httpx.AsyncClient, caller: ViberUser, callee: ViberUser, kind: str = "voice"
) -> httpx.Response:
    return await client.post(
        f"{API}/calls",
        json={"callee_id": callee.id, "kind": kind, "device_id": str(caller.device_id)},
        headers=caller.headers,
    )


async def call_event(socket: MessagingSocket, event: str) -> dict[str, Any]:
    """The next call event of kind `event` on the socket (other call events are skipped)."""
    async with asyncio.timeout(5):
        while True:
            frame = await socket.next_event("call")
            if frame["event"] == event:
                return frame


@FEATURE
async def test_a_video_call_between_phone_accounts_is_signalled_over_the_socket(
    client: httpx.AsyncClient, ws_url: str, alice: ViberUser, bob: ViberUser
) -> None:
    async with (
        connect(ws_url, token=alice.token, device_id=alice.device_id) as alice_socket,
        connect(ws_url, token=bob.token, device_id=bob.device_id) as bob_socket,
    ):
        await alice_socket.next_event("resumed")
        await bob_socket.next_event("resumed")
        started = await alice_socket.request(
            {"type": "call", "action": "start", "callee_id": bob.id, "kind": "video"}
        )
        call = started["call"]
        incoming = await call_event(bob_socket, "incoming")
        assert incoming["call"]["caller_id"] == alice.id and incoming["call"]["kind"] == "video"

        def signal(socket: MessagingSocket, **body: Any) -> Any:
            return socket.request(
                {"type": "call", "action": "signal", "call_id": call["id"], "signal": body}
            )

        await signal(alice_socket, type="offer", sdp=OFFER)
        assert (await call_event(bob_socket, "signal"))["signal"] == {"type": "offer", "sdp": OFFER}
        await bob_socket.request({"type": "call", "action": "accept", "call_id": call["id"]})
        assert (await call_event(alice_socket, "accepted"))["call"]["state"] == "accepted"
        await signal(bob_socket, type="answer", sdp=ANSWER)
        assert (await call_event(alice_socket, "signal"))["signal"]["sdp"] == ANSWER
        await signal(alice_socket, type="ice", candidate=CANDIDATE)
        await signal(bob_socket, type="ice", candidate={**CANDIDATE, "sdpMid": "1"})
        assert (await call_event(bob_socket, "signal"))["signal"]["candidate"] == CANDIDATE
        assert (await call_event(alice_socket, "signal"))["signal"]["candidate"]["sdpMid"] == "1"
        await bob_socket.request({"type": "call", "action": "end", "call_id": call["id"]})
        assert (await call_event(alice_socket, "ended"))["call"]["ended_by"] == bob.id

    log = (await client.get(f"{API}/calls", headers=alice.headers)).json()["items"]
    assert [(c["id"], c["state"], c["kind"]) for c in log] == [(call["id"], "ended", "video")]
    assert log[0]["duration_seconds"] >= 0 and log[0]["answered_at"] is not None


@FEATURE
async def test_the_viber_call_log_shows_missed_declined_and_busy_calls(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, new_user: NewUser
) -> None:
    carol = await new_user("Carol")
    missed = (await ring(client, alice, bob)).json()
    busy = (await ring(client, carol, bob)).json()
    await client.post(f"{API}/calls/{missed['id']}/end", headers=alice.headers)
    declined = (await ring(client, carol, bob)).json()
    refused = await client.post(f"{API}/calls/{declined['id']}/decline", headers=bob.headers)
    assert refused.status_code == 200
    log = (await client.get(f"{API}/calls", headers=bob.headers)).json()["items"]
    assert [(c["id"], c["state"]) for c in log] == [
        (declined["id"], "declined"),
        (busy["id"], "busy"),
        (missed["id"], "missed"),
    ]
    assert (await client.get(f"{API}/calls", headers=alice.headers)).json()["items"][0][
        "state"
    ] == "missed"
