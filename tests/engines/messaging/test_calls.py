"""Call signalling, the engine's part every chat system mounts at /api/<slug>/calls: the call
log's guarded state machine (busy lines, ring timeout by a job), who may see and touch a call,
and the relay of SDP offer/answer and ICE candidates over the socket (`call` frames, and
HTTP), to the right devices only. The state-machine tests run through Instant Messenger,
Telegram and Viber alike."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from casebook.clients.messaging.ws import MessagingSocket, SocketError, connect
from casebook.engines.messaging import calls
from casebook.platform.context import Platform
from casebook.platform.ratelimit import RateLimit
from tests.engines.messaging.conftest import API, SYSTEM, ChatUser

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

SYSTEMS = [
    pytest.param("instant-messenger", id="instant-messenger"),
    pytest.param("telegram", id="telegram", marks=pytest.mark.feature("telegram", "calls")),
    pytest.param("viber", id="viber", marks=pytest.mark.feature("viber", "calls")),
]


@dataclass
class Party:
    """A user with one messaging device in `system`."""

    system: str
    user_id: int
    token: str
    device_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.user_id)

    @property
    def api(self) -> str:
        return f"/api/{self.system}"


NewParty = Callable[[str], Awaitable[Party]]


@pytest.fixture
def new_party(client: httpx.AsyncClient) -> NewParty:
    """`await new_party("telegram")`: a fresh user (email account) with a device there."""

    async def create(system: str) -> Party:
        email = f"caller-{secrets.token_hex(5)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": "Caller"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        token = login.json()["access_token"]
        device = await client.post(
            f"/api/{system}/devices",
            json={"name": "phone"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert device.status_code == 201, device.text
        return Party(system, int(registered.json()["id"]), token, int(device.json()["id"]))

    return create


async def ring(
    client: httpx.AsyncClient, caller: Party | ChatUser, callee: Party | ChatUser, **fields: Any
) -> httpx.Response:
    api = caller.api if isinstance(caller, Party) else API
    return await client.post(
        f"{api}/calls",
        json={"callee_id": callee.id, "device_id": str(caller.device_id), **fields},
        headers=caller.headers,
    )


async def call_event(socket: MessagingSocket, event: str, within: float = 5.0) -> dict[str, Any]:
    """The next call event of kind `event` on the socket (other frames are skipped)."""
    async with asyncio.timeout(within):
        while True:
            frame = await socket.next_event("call", within=within)
            if frame["event"] == event:
                return frame


@pytest.mark.parametrize("system", SYSTEMS)
async def test_exactly_one_of_accept_and_decline_wins(
    client: httpx.AsyncClient, new_party: NewParty, system: str
) -> None:
    alice, bob = await new_party(system), await new_party(system)
    outcomes = set()
    for _ in range(4):
        call = (await ring(client, alice, bob, kind="video")).json()
        assert call["state"] == "ringing" and call["kind"] == "video"
        accept, decline = await asyncio.gather(
            client.post(
                f"{bob.api}/calls/{call['id']}/accept",
                json={"device_id": str(bob.device_id)},
                headers=bob.headers,
            ),
            client.post(f"{bob.api}/calls/{call['id']}/decline", headers=bob.headers),
        )
        assert sorted([accept.status_code, decline.status_code]) == [200, 409]
        loser = decline if accept.status_code == 200 else accept
        assert loser.json()["type"].endswith("messaging/call-state")
        final = (await client.get(f"{alice.api}/calls/{call['id']}", headers=alice.headers)).json()
        assert final["state"] == ("accepted" if accept.status_code == 200 else "declined")
        outcomes.add("ended" if final["state"] == "accepted" else "declined")
        if final["state"] == "accepted":
            assert final["callee_device_id"] == str(bob.device_id) and final["answered_at"]
            ended = await client.post(f"{alice.api}/calls/{call['id']}/end", headers=alice.headers)
            assert ended.json()["state"] == "ended" and ended.json()["duration_seconds"] >= 0
            assert ended.json()["ended_by"] == alice.id
        # Either way both lines are free again: the next call rings.
    log = (await client.get(f"{bob.api}/calls", headers=bob.headers)).json()
    assert len(log["items"]) == 4 and {c["state"] for c in log["items"]} == outcomes
    assert [c["id"] for c in log["items"]] == sorted((c["id"] for c in log["items"]), key=int)[::-1]


@pytest.mark.parametrize("system", SYSTEMS)
async def test_a_person_in_a_call_is_busy_even_to_simultaneous_callers(
    client: httpx.AsyncClient, new_party: NewParty, system: str
) -> None:
    alice, bob, carol, dave = [await new_party(system) for _ in range(4)]
    first = (await ring(client, alice, bob)).json()
    assert (await ring(client, carol, bob)).json()["state"] == "busy"
    assert (await ring(client, carol, alice)).json()["state"] == "busy"
    # The caller hanging up while it rings is a missed call for the callee; lines are freed.
    hung_up = await client.post(f"{alice.api}/calls/{first['id']}/end", headers=alice.headers)
    assert hung_up.json()["state"] == "missed" and hung_up.json()["ended_by"] == alice.id
    again = await client.post(
        f"{bob.api}/calls/{first['id']}/accept",
        json={"device_id": str(bob.device_id)},
        headers=bob.headers,
    )
    assert again.status_code == 409

    answers = await asyncio.gather(*(ring(client, c, dave) for c in (alice, bob, carol)))
    assert sorted(a.json()["state"] for a in answers) == ["busy", "busy", "ringing"]
    busy_log = (await client.get(f"{carol.api}/calls", headers=carol.headers)).json()["items"]
    assert [c["state"] for c in busy_log].count("busy") >= 2


async def test_a_line_is_per_system_so_a_telegram_call_does_not_make_you_busy_elsewhere(
    client: httpx.AsyncClient, new_party: NewParty
) -> None:
    alice, bob = await new_party("telegram"), await new_party("telegram")
    on_telegram = (await ring(client, alice, bob)).json()
    assert on_telegram["state"] == "ringing"
    # The same two people on Instant Messenger: their devices there, their lines there.
    alice_im = Party(SYSTEM, alice.user_id, alice.token, 0)
    device = await client.post(f"{API}/devices", json={"name": "im"}, headers=alice.headers)
    alice_im.device_id = int(device.json()["id"])
    bob_im = Party(SYSTEM, bob.user_id, bob.token, 0)
    assert (await ring(client, alice_im, bob_im)).json()["state"] == "ringing"
    # A Telegram call is not found through Instant Messenger, nor in its log.
    assert (
        await client.get(f"{API}/calls/{on_telegram['id']}", headers=alice.headers)
    ).status_code == 404
    im_log = (await client.get(f"{API}/calls", headers=alice.headers)).json()["items"]
    assert on_telegram["id"] not in [c["id"] for c in im_log] and len(im_log) == 1
    # A Telegram device cannot place an Instant Messenger call.
    assert (await ring(client, alice_im, bob_im, device_id=str(alice.device_id))).status_code == 404


async def test_an_unanswered_call_turns_missed_by_the_timeout_job(
    client: httpx.AsyncClient, platform: Platform, alice: ChatUser, bob: ChatUser
) -> None:
    calls.configure(platform, SYSTEM, ring_timeout=0.1)
    call = (await ring(client, alice, bob)).json()
    async with asyncio.timeout(5):
        while True:
            seen = (await client.get(f"{API}/calls/{call['id']}", headers=bob.headers)).json()
            if seen["state"] != "ringing":
                break
            await asyncio.sleep(0.02)
    assert seen["state"] == "missed" and seen["ended_at"] and seen["answered_at"] is None
    assert seen["ended_by"] is None  # nobody hung up: it timed out
    late = await client.post(
        f"{API}/calls/{call['id']}/accept",
        json={"device_id": str(bob.device_id)},
        headers=bob.headers,
    )
    assert late.status_code == 409 and late.json()["type"].endswith("messaging/call-state")
    assert (await ring(client, bob, alice)).json()["state"] == "ringing"  # the lines are free


async def test_only_the_parties_see_or_touch_a_call_and_bad_requests_change_nothing(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser, carol: ChatUser
) -> None:
    call = (await ring(client, alice, bob)).json()
    assert (await client.get(f"{API}/calls/{call['id']}", headers=carol.headers)).status_code == 404
    assert (await client.get(f"{API}/calls", headers=carol.headers)).json()["items"] == []
    for action in ("decline", "end"):
        assert (
            await client.post(f"{API}/calls/{call['id']}/{action}", headers=carol.headers)
        ).status_code == 404
    stolen = await client.post(
        f"{API}/calls/{call['id']}/accept",
        json={"device_id": str(carol.device_id)},
        headers=carol.headers,
    )
    assert stolen.status_code == 404
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
    bob_borrows = await client.post(
        f"{API}/calls/{call['id']}/accept",
        json={"device_id": str(alice.device_id)},
        headers=bob.headers,
    )
    assert bob_borrows.status_code == 404
    bad_shapes = [
        {"device_id": str(alice.device_id), "type": "offer"},
        {"device_id": str(alice.device_id), "type": "ice", "sdp": OFFER},
        {"device_id": str(alice.device_id), "type": "offer", "sdp": "x" * 20_000},
        {"device_id": str(alice.device_id), "type": "hangup"},
        {"device_id": str(alice.device_id), "type": "offer", "sdp": OFFER, "extra": 1},
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
    assert (await ring(client, carol, alice, kind="hologram")).status_code == 422
    nobody = await ring(client, carol, alice, callee_id="123456789")
    assert nobody.status_code == 404
    assert (await client.get(f"{API}/calls", headers=carol.headers)).json()["items"] == []
    state = (await client.get(f"{API}/calls/{call['id']}", headers=bob.headers)).json()["state"]
    assert state == "ringing"
    assert (await client.get(f"{API}/calls/{call['id']}")).status_code == 401


async def test_a_blocked_caller_cannot_ring_and_call_starts_are_rate_limited(
    client: httpx.AsyncClient, platform: Platform, alice: ChatUser, bob: ChatUser, carol: ChatUser
) -> None:
    await client.get(f"{API}/profile", headers=alice.headers)  # her account here, to block
    blocked = await client.put(
        f"{API}/contacts/{alice.id}", json={"blocked": True}, headers=bob.headers
    )
    assert blocked.status_code == 200, blocked.text
    refused = await ring(client, alice, bob)
    assert refused.status_code == 403 and refused.json()["type"].endswith("messaging/not-allowed")
    assert (await client.get(f"{API}/calls", headers=bob.headers)).json()["items"] == []

    calls.configure(platform, SYSTEM, start_rate=RateLimit(rate=0.01, burst=2))
    for _ in range(2):
        call = (await ring(client, carol, alice)).json()
        await client.post(f"{API}/calls/{call['id']}/end", headers=carol.headers)
    limited = await ring(client, carol, alice)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert len((await client.get(f"{API}/calls", headers=carol.headers)).json()["items"]) == 2


async def test_call_frames_on_the_socket_ring_answer_and_relay_to_the_right_device(
    client: httpx.AsyncClient, ws_url: str, alice: ChatUser, bob: ChatUser
) -> None:
    """Alice calls Bob over her socket; Bob has two devices: both ring and see the offer, one
    picks up, and from then on the other sees state changes but no signalling."""
    tablet = await client.post(f"{API}/devices", json={"name": "tablet"}, headers=bob.headers)
    bob_tablet = int(tablet.json()["id"])
    async with (
        connect(ws_url, token=alice.token, device_id=alice.device_id) as alice_socket,
        connect(ws_url, token=bob.token, device_id=bob.device_id) as bob_phone,
        connect(ws_url, token=bob.token, device_id=bob_tablet) as bob_pad,
    ):
        for socket in (alice_socket, bob_phone, bob_pad):
            await socket.next_event("resumed")
        started = await alice_socket.request(
            {"type": "call", "action": "start", "callee_id": bob.id, "kind": "video"}
        )
        assert started["type"] == "call_reply" and started["action"] == "start"
        call = started["call"]
        assert call["state"] == "ringing" and call["caller_device_id"] == str(alice.device_id)
        for socket in (bob_phone, bob_pad):
            incoming = await call_event(socket, "incoming")
            assert incoming["call"]["id"] == call["id"]

        async def signal(socket: MessagingSocket, **body: Any) -> dict[str, Any]:
            return await socket.request(
                {"type": "call", "action": "signal", "call_id": call["id"], "signal": body}
            )

        relayed = await signal(alice_socket, type="offer", sdp=OFFER)
        assert relayed["to_device_id"] is None  # ringing: every device of Bob's
        for socket in (bob_phone, bob_pad):
            offer = await call_event(socket, "signal")
            assert offer["signal"] == {"type": "offer", "sdp": OFFER}
            assert offer["from_device_id"] == str(alice.device_id)

        accepted = await bob_phone.request(
            {"type": "call", "action": "accept", "call_id": call["id"]}
        )
        assert accepted["call"]["callee_device_id"] == str(bob.device_id)
        assert (await call_event(alice_socket, "accepted"))["call"]["state"] == "accepted"
        assert (await call_event(bob_pad, "accepted"))["call"]["callee_device_id"] == str(
            bob.device_id
        )  # the tablet stops ringing

        # The tablet that did not pick up cannot signal into the call.
        with pytest.raises(SocketError) as refused:
            await signal(bob_pad, type="answer", sdp=ANSWER)
        assert refused.value.status == 409

        await signal(bob_phone, type="answer", sdp=ANSWER)
        answer = await call_event(alice_socket, "signal")
        assert answer["signal"] == {"type": "answer", "sdp": ANSWER}
        assert answer["to_device_id"] == str(alice.device_id)

        # ICE both ways, the HTTP way and the socket way mixed.
        await signal(alice_socket, type="ice", candidate=CANDIDATE)
        over_http = await client.post(
            f"{API}/calls/{call['id']}/signal",
            json={"device_id": str(bob.device_id), "type": "ice", "candidate": CANDIDATE},
            headers=bob.headers,
        )
        assert over_http.status_code == 202
        to_bob = await call_event(bob_phone, "signal")
        assert to_bob["signal"] == {"type": "ice", "candidate": CANDIDATE}
        assert to_bob["to_device_id"] == str(bob.device_id)
        assert (await call_event(alice_socket, "signal"))["signal"]["type"] == "ice"

        ended = await alice_socket.request({"type": "call", "action": "end", "call_id": call["id"]})
        assert ended["call"]["state"] == "ended"
        assert (await call_event(bob_phone, "ended"))["call"]["ended_by"] == alice.id
        # The tablet got the state changes but none of the signalling after the pick-up (the
        # answer and the ICE went to the phone alone).
        after_pickup = []
        while not after_pickup or after_pickup[-1]["event"] != "ended":
            after_pickup.append(await bob_pad.next_event("call"))
        assert [e["event"] for e in after_pickup] == ["ended"]

        with pytest.raises(SocketError) as late:
            await signal(alice_socket, type="ice", candidate=CANDIDATE)
        assert late.value.status == 409


async def test_a_malformed_call_frame_gets_an_error_frame_and_the_socket_stays_open(
    client: httpx.AsyncClient, ws_url: str, alice: ChatUser, bob: ChatUser, carol: ChatUser
) -> None:
    async with connect(ws_url, token=alice.token, device_id=alice.device_id) as socket:
        await socket.next_event("resumed")
        bad_frames = [
            {"type": "call"},
            {"type": "call", "action": "teleport", "call_id": "1"},
            {"type": "call", "action": "start", "callee_id": "not-digits"},
            {"type": "call", "action": "signal", "call_id": "1", "signal": {"type": "offer"}},
            {"type": "call", "action": "accept", "call_id": "1", "device_id": "2"},
        ]
        for frame in bad_frames:
            with pytest.raises(SocketError) as refused:
                await socket.request(frame)
            assert refused.value.status == 422, frame
            assert refused.value.problem["type"].endswith("messaging/invalid-frame")
        # Someone else's call is not found over the socket either.
        theirs = (await ring(client, bob, carol)).json()
        for action in ("accept", "decline", "end"):
            with pytest.raises(SocketError) as hidden:
                await socket.request({"type": "call", "action": action, "call_id": theirs["id"]})
            assert hidden.value.status == 404
        assert (await socket.ping())["type"] == "pong"
    state = (await client.get(f"{API}/calls/{theirs['id']}", headers=bob.headers)).json()
    assert state["state"] == "ringing"
    assert (await client.get(f"{API}/calls", headers=alice.headers)).json()["items"] == []
