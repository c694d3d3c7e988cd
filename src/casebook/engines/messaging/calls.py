"""Voice and video call signalling for every chat system: the call log, its state machine, the
relay of WebRTC offer/answer/ICE messages between the two parties' devices, and Web Push to the
callee's offline devices.

States and transitions (each one guarded UPDATE … WHERE state = <from>, so of two racing
requests exactly one wins and the other gets 409):

    ringing ──accept (callee)──▶ accepted ──end (either)──▶ ended
       │──decline (callee) / end by the callee──▶ declined
       │──end by the caller / no answer in `ring_timeout` (a job)──▶ missed
    (a call to or from someone already in a call is logged as busy at once)

"In a call" is a row of `messaging_call_lines` (primary key system + user id) held from ringing
until the call's terminal state: a new call takes both parties' lines with INSERT … ON CONFLICT
DO NOTHING, so two simultaneous calls to one person cannot both ring, on either backend.

Signalling (over HTTP `POST /calls/{id}/signal`, or over the socket, see below) relays the
payload, unstored, as a `{"type": "call", "event": "signal", …}` event on the other party's user
channel; the gateway passes user-channel events to the sockets of that user, and drops a call
event that names another device in `to_device_id` (`for_device`). Before the call is accepted
the callee's devices all receive the offer (any may pick up); afterwards signals go to the
device that accepted only. Every state change is published to both parties as
`{"type": "call", "event": <incoming|busy|accepted|declined|missed|ended>, "call": <view>}`.

Socket frames (the gateway hands every `{"type": "call"}` client frame to `socket_frame`; the
socket's own device is the one acting):

    → {"type": "call", "action": "start", "callee_id", "kind": "voice"|"video"}
    → {"type": "call", "action": "accept"|"decline"|"end", "call_id"}
    → {"type": "call", "action": "signal", "call_id", "signal": {"type": "offer"|"answer",
       "sdp"} | {"type": "ice", "candidate": {"candidate", "sdpMid", "sdpMLineIndex"}}}
    ← {"type": "call_reply", "action", "call": <view>}  (signal: "call_id", "to_device_id")

A refused frame is the gateway's error frame with the same problem as over HTTP.

Push: when a call starts ringing, and when a ringing call is missed, each of the callee's
devices with a push subscription that is not connected (no presence key) gets a Web Push
through push.py's send job (payload `{"type": "call", "event": "incoming"|"missed", …}`,
`Urgency: high`, `Topic: call<id>` so the push service replaces an undelivered "incoming" with
the "missed" that follows it).

The media path (STUN/TURN, SRTP, an SFU for group calls) is not here: the peers' WebRTC stacks
carry media directly once signalling is done; a relay comes with the RTC engine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import contacts, presence, push, service
from casebook.engines.messaging.errors import NotAllowed, UserNotFound
from casebook.engines.messaging.events import publish_to_user
from casebook.engines.messaging.models import MessagingCall, MessagingCallLine, MessagingDevice
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, utcnow
from casebook.platform.errors import PROBLEM_JSON, Conflict, InvalidInput, NotFound
from casebook.platform.ids import IdStr, new_id
from casebook.platform.ratelimit import RateLimit, enforce

PlatformDep = Annotated[Platform, Depends(get_platform)]
CallId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_SDP = 16_384
MAX_CANDIDATE = 1024


CALL_START_RATE = RateLimit(rate=0.2, burst=20)
"""Calls a user may start: 20 at once, then one every 5 s (ringing people is intrusive)."""


@dataclass(frozen=True)
class CallConfig:
    ring_timeout: float = 45.0
    """Seconds a call rings before it is logged as missed (Viber rings for about that long)."""
    start_rate: RateLimit = CALL_START_RATE


class CallNotFound(NotFound):
    type_ = "messaging/call-not-found"
    title = "No such call"


class CallStateConflict(Conflict):
    type_ = "messaging/call-state"
    title = "The call is not in a state that allows this"


class InvalidCallFrame(InvalidInput):
    type_ = "messaging/invalid-frame"
    title = "The frame is not valid"


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for s in statuses}


def _insert(session: AsyncSession) -> Any:
    return sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert


def _config_key(system: str) -> str:
    return f"messaging.calls:{system}"


def config(platform: Platform, system: str) -> CallConfig:
    current = platform.state.get(_config_key(system))
    return current if isinstance(current, CallConfig) else CallConfig()


def configure(platform: Platform, system: str, **changes: Any) -> CallConfig:
    """Replace some call settings of this process (tests shorten `ring_timeout`)."""
    updated = replace(config(platform, system), **changes)
    platform.state[_config_key(system)] = updated
    return updated


def timeout_job(system: str) -> str:
    return f"messaging.{system}.call-timeout"


def call_view(call: MessagingCall) -> dict[str, Any]:
    """The JSON of a call, the same over HTTP, in socket events and in replies."""

    def iso(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": str(call.id),
        "caller_id": str(call.caller_id),
        "callee_id": str(call.callee_id),
        "caller_device_id": str(call.caller_device_id),
        "callee_device_id": None if call.callee_device_id is None else str(call.callee_device_id),
        "kind": call.kind,
        "state": call.state,
        "started_at": iso(call.started_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "ended_by": None if call.ended_by is None else str(call.ended_by),
        "duration_seconds": (
            None
            if call.answered_at is None or call.ended_at is None
            else round((call.ended_at - call.answered_at).total_seconds(), 3)
        ),
    }


def for_device(event: dict[str, Any], device_id: int) -> bool:
    """Whether a user-channel call event is for the socket of `device_id`: every event is,
    except a signal addressed to another of the user's devices. O(1)."""
    target = event.get("to_device_id")
    return target is None or target == str(device_id)


async def _announce(platform: Platform, system: str, call: MessagingCall, event: str) -> None:
    """Tell both parties' devices about the call's new state."""
    payload = {"type": "call", "event": event, "call_id": str(call.id), "call": call_view(call)}
    for user_id in (call.callee_id, call.caller_id):
        await publish_to_user(platform.bus, system, user_id, payload)


async def _push_to_callee(platform: Platform, system: str, call: MessagingCall, event: str) -> int:
    """Queue a Web Push of `event` ("incoming" or "missed") for each of the callee's live
    devices that has a subscription and no socket; returns how many. One indexed query of the
    callee's devices and one cache read per subscribed device: O(callee's devices). The send
    jobs are push.py's (keyed by device, call and event, so a repeat queues nothing)."""
    async with platform.db.session() as session:
        devices = list(
            await session.scalars(
                select(MessagingDevice.id).where(
                    MessagingDevice.user_id == call.callee_id,
                    MessagingDevice.system == system,
                    MessagingDevice.revoked_at.is_(None),
                    MessagingDevice.push_subscription.is_not(None),
                )
            )
        )
    note = {
        "type": "call",
        "event": event,
        "system": system,
        "call_id": str(call.id),
        "caller_id": str(call.caller_id),
        "kind": call.kind,
        "started_at": call.started_at.isoformat(),
    }
    queued = 0
    for device_id in devices:
        if await presence.device_is_online(platform, system, device_id):
            continue  # its socket already shows the call
        await platform.jobs.enqueue(
            push.send_job(system),
            {
                "device_id": str(device_id),
                "notification": note,
                "topic": f"call{call.id}",
                "urgency": "high",
            },
            key=f"{device_id}:call:{call.id}:{event}",
        )
        queued += 1
    return queued


# Service ---------------------------------------------------------------------------------------


async def start_call(
    platform: Platform, system: str, caller_id: int, device_id: int, callee_id: int, kind: str
) -> MessagingCall:
    """Ring `callee_id` from the caller's device: a "ringing" call, or a "busy" one when either
    party already holds a line. Raises UserNotFound, DeviceNotFound, InvalidInput (self),
    NotAllowed (the callee blocked the caller), TooManyRequests (beyond `start_rate`).
    O(1): primary-key probes, two line inserts, two publishes, one job."""
    if caller_id == callee_id:
        raise InvalidInput("Call someone else.", field="callee_id")
    await enforce(platform, f"{system}:call:{caller_id}", config(platform, system).start_rate)
    now = utcnow()
    async with platform.db.session(write=True) as session:
        await service.live_device(session, system, caller_id, device_id)
        if await session.scalar(select(User.id).where(User.id == callee_id)) is None:
            raise UserNotFound(f"No user {callee_id}.")
        if await contacts.is_blocked(session, system, callee_id, caller_id):
            raise NotAllowed("This user does not accept calls from you.")
        call = MessagingCall(
            id=new_id(),
            system=system,
            caller_id=caller_id,
            callee_id=callee_id,
            caller_device_id=device_id,
            kind=kind,
            state="ringing",
            started_at=now,
        )
        session.add(call)
        await session.flush()
        taken = []
        for user_id in (caller_id, callee_id):
            got = await session.scalar(
                _insert(session)(MessagingCallLine)
                .values(system=system, user_id=user_id, call_id=call.id)
                .on_conflict_do_nothing(index_elements=["system", "user_id"])
                .returning(MessagingCallLine.user_id)
            )
            taken.append(got)
        if None in taken:
            await session.execute(
                delete(MessagingCallLine).where(MessagingCallLine.call_id == call.id)
            )
            call.state, call.ended_at = "busy", now
    await _announce(platform, system, call, "incoming" if call.state == "ringing" else "busy")
    if call.state == "ringing":
        await platform.jobs.enqueue(
            timeout_job(system),
            {"call_id": str(call.id)},
            key=str(call.id),
            delay=config(platform, system).ring_timeout,
        )
        await _push_to_callee(platform, system, call, "incoming")
    return call


async def _party_call(
    session: AsyncSession, system: str, call_id: int, user_id: int
) -> MessagingCall:
    call = await session.get(MessagingCall, call_id, populate_existing=True)
    if call is None or call.system != system or user_id not in (call.caller_id, call.callee_id):
        raise CallNotFound(f"No call {call_id} of yours.")
    return call


async def _move(
    session: AsyncSession, call: MessagingCall, from_state: str, to_state: str, **values: Any
) -> bool:
    """The guarded transition: True when this request moved the call, False when another got
    there first. Terminal states free both lines in the same transaction."""
    moved = await session.scalar(
        update(MessagingCall)
        .where(MessagingCall.id == call.id, MessagingCall.state == from_state)
        .values(state=to_state, **values)
        .returning(MessagingCall.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    if to_state != "accepted":
        await session.execute(delete(MessagingCallLine).where(MessagingCallLine.call_id == call.id))
    return True


async def transition(
    platform: Platform,
    system: str,
    call_id: int,
    user_id: int,
    action: Literal["accept", "decline", "end"],
    device_id: int | None = None,
) -> MessagingCall:
    """Apply a party's `action`; returns the call after it. Raises CallNotFound (not a party),
    CallStateConflict (409: the call is no longer in a state that allows it, e.g. the other
    side's accept or decline won), InvalidInput (an accept naming no device), DeviceNotFound."""
    now = utcnow()
    async with platform.db.session(write=True) as session:
        call = await _party_call(session, system, call_id, user_id)
        is_callee = user_id == call.callee_id
        if action in ("accept", "decline") and not is_callee:
            raise CallNotFound(f"No incoming call {call_id} of yours.")
        if action == "accept":
            if device_id is None:
                raise InvalidInput("Name the device that picks up.", field="device_id")
            await service.live_device(session, system, user_id, device_id)
            step = ("ringing", "accepted", {"answered_at": now, "callee_device_id": device_id})
        elif action == "decline":
            step = ("ringing", "declined", {"ended_at": now, "ended_by": user_id})
        elif call.state == "ringing":
            step = (
                "ringing",
                "declined" if is_callee else "missed",
                {"ended_at": now, "ended_by": user_id},
            )
        else:
            step = ("accepted", "ended", {"ended_at": now, "ended_by": user_id})
        from_state, to_state, values = step
        if not await _move(session, call, from_state, to_state, **values):
            current = await _party_call(session, system, call_id, user_id)
            raise CallStateConflict(f"The call is {current.state}; it cannot be {action}ed now.")
        call = await _party_call(session, system, call_id, user_id)
    await _announce(platform, system, call, call.state)
    if call.state == "missed":
        await _push_to_callee(platform, system, call, "missed")
    return call


async def expire_ringing(platform: Platform, system: str, call_id: int) -> bool:
    """The ring timeout: a call still ringing becomes missed (True); any other state stays."""
    async with platform.db.session(write=True) as session:
        call = await session.get(MessagingCall, call_id)
        if call is None or call.system != system:
            return False
        moved = await _move(session, call, "ringing", "missed", ended_at=utcnow())
        if moved:
            await session.refresh(call)
    if moved:
        await _announce(platform, system, call, "missed")
        await _push_to_callee(platform, system, call, "missed")
    return moved


def register_jobs(platform: Platform, system: str) -> None:
    """Register the ring-timeout job of `system` (mount.startup calls it)."""

    async def run(platform: Platform, payload: dict[str, Any]) -> None:
        await expire_ringing(platform, system, int(payload["call_id"]))

    platform.jobs.register(timeout_job(system), run, retries=3)


async def relay_signal(
    platform: Platform,
    system: str,
    call_id: int,
    user_id: int,
    device_id: int,
    signal: dict[str, Any],
) -> dict[str, Any]:
    """Relay one signalling message to the other party (not stored); returns the event sent.
    Raises CallNotFound, DeviceNotFound, CallStateConflict (the call is over, an answer from the
    caller, a callee device other than the one that accepted). O(1): two primary-key reads and
    one bus publish."""
    async with platform.db.session() as session:
        call = await _party_call(session, system, call_id, user_id)
        await service.live_device(session, system, user_id, device_id)
    if call.state not in ("ringing", "accepted"):
        raise CallStateConflict(f"The call is {call.state}; there is no one to signal.")
    is_callee = user_id == call.callee_id
    if signal["type"] == "answer" and not is_callee:
        raise CallStateConflict("Only the callee answers an offer.")
    if call.state == "accepted" and is_callee and device_id != call.callee_device_id:
        raise CallStateConflict("Another of your devices took this call.")
    to_user = call.caller_id if is_callee else call.callee_id
    if is_callee:
        to_device: int | None = call.caller_device_id
    else:
        to_device = call.callee_device_id  # None while ringing: every device of the callee
    event = {
        "type": "call",
        "event": "signal",
        "call_id": str(call.id),
        "from_user_id": str(user_id),
        "from_device_id": str(device_id),
        "to_device_id": None if to_device is None else str(to_device),
        "signal": signal,
    }
    await publish_to_user(platform.bus, system, to_user, event)
    return event


async def call_log(
    session: AsyncSession, system: str, user_id: int, *, before: int | None, limit: int
) -> list[MessagingCall]:
    """The user's calls in `system` (made and received), newest first: two keyset range scans
    on the (system, caller_id, id) and (system, callee_id, id) indexes merged,
    O(log n + limit)."""
    found: list[MessagingCall] = []
    for column in (MessagingCall.caller_id, MessagingCall.callee_id):
        query = (
            select(MessagingCall)
            .where(MessagingCall.system == system, column == user_id)
            .order_by(MessagingCall.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(MessagingCall.id < before)
        found += list(await session.scalars(query))
    return sorted(found, key=lambda c: c.id, reverse=True)[:limit]


# Request shapes (HTTP bodies and socket frames) ------------------------------------------------


class CallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    callee_id: IdStr
    kind: Literal["voice", "video"] = "voice"
    device_id: IdStr


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: IdStr


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidate: str = Field(max_length=MAX_CANDIDATE)
    sdpMid: str | None = Field(default=None, max_length=64)  # the WebRTC field names
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=255)


class Signal(BaseModel):
    """One WebRTC signalling message: an SDP offer or answer, or an ICE candidate."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["offer", "answer", "ice"]
    sdp: str | None = Field(default=None, min_length=1, max_length=MAX_SDP)
    candidate: Candidate | None = None

    @model_validator(mode="after")
    def _shape(self) -> Signal:
        if self.type == "ice":
            if self.candidate is None or self.sdp is not None:
                raise ValueError("an ice signal carries a candidate and no sdp")
        elif self.sdp is None or self.candidate is not None:
            raise ValueError(f"an {self.type} signal carries an sdp and no candidate")
        return self

    def payload(self) -> dict[str, Any]:
        """What the other party receives as `signal`."""
        return self.model_dump(exclude_none=True)


class SignalIn(Signal):
    device_id: IdStr


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["call"]
    ref: str | None = Field(default=None, max_length=64)


class StartFrame(_Frame):
    action: Literal["start"]
    callee_id: IdStr
    kind: Literal["voice", "video"] = "voice"


class StateFrame(_Frame):
    action: Literal["accept", "decline", "end"]
    call_id: IdStr


class SignalFrame(_Frame):
    action: Literal["signal"]
    call_id: IdStr
    signal: Signal


_FRAME = TypeAdapter(
    Annotated[StartFrame | StateFrame | SignalFrame, Field(discriminator="action")]
)


async def socket_frame(
    platform: Platform, system: str, user_id: int, device_id: int, frame: dict[str, Any]
) -> dict[str, Any]:
    """Act on a `{"type": "call"}` client frame from the socket of `device_id`; returns the
    `call_reply` frame. Raises InvalidCallFrame for a malformed frame, and the same problems
    as the HTTP endpoints."""
    try:
        parsed = _FRAME.validate_python(frame)
    except ValidationError as error:
        problems = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in error.errors()
        ]
        raise InvalidCallFrame("Bad call frame.", errors=problems) from None
    if isinstance(parsed, StartFrame):
        call = await start_call(platform, system, user_id, device_id, parsed.callee_id, parsed.kind)
    elif isinstance(parsed, StateFrame):
        call = await transition(platform, system, parsed.call_id, user_id, parsed.action, device_id)
    else:
        event = await relay_signal(
            platform, system, parsed.call_id, user_id, device_id, parsed.signal.payload()
        )
        return {
            "type": "call_reply",
            "action": "signal",
            "call_id": event["call_id"],
            "to_device_id": event["to_device_id"],
        }
    return {"type": "call_reply", "action": parsed.action, "call": call_view(call)}


# HTTP ------------------------------------------------------------------------------------------


def router(system: str) -> APIRouter:
    """Call signalling under /api/<slug>/calls."""
    api = APIRouter(tags=[system])

    @api.post("/calls", status_code=201, responses=_problems(401, 403, 404, 422, 429))
    async def start(
        body: CallIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Call someone from one of your devices: their devices get an `incoming` call event
        (offline ones a push); the answer is "ringing", or "busy" (logged) when either side is
        already in a call."""
        call = await start_call(
            platform, system, principal.user_id, body.device_id, body.callee_id, body.kind
        )
        return call_view(call)

    @api.get("/calls", responses=_problems(401, 422))
    async def log(
        principal: CurrentPrincipal,
        session: Session,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> dict[str, Any]:
        """Your call log, newest first; `next_before` pages on."""
        calls = await call_log(session, system, principal.user_id, before=before, limit=limit)
        return {
            "items": [call_view(c) for c in calls],
            "next_before": str(calls[-1].id) if len(calls) == limit else None,
        }

    @api.get("/calls/{call_id}", responses=_problems(401, 404))
    async def get(call_id: CallId, principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
        """One of your calls."""
        return call_view(await _party_call(session, system, call_id, principal.user_id))

    @api.post("/calls/{call_id}/accept", responses=_problems(401, 404, 409, 422))
    async def accept(
        call_id: CallId, body: AcceptIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Pick up on one of your devices (409 if the call stopped ringing)."""
        call = await transition(
            platform, system, call_id, principal.user_id, "accept", body.device_id
        )
        return call_view(call)

    @api.post("/calls/{call_id}/decline", responses=_problems(401, 404, 409))
    async def decline(
        call_id: CallId, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Reject a ringing call."""
        return call_view(await transition(platform, system, call_id, principal.user_id, "decline"))

    @api.post("/calls/{call_id}/end", responses=_problems(401, 404, 409))
    async def end(
        call_id: CallId, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Hang up: ends a running call; while ringing, the caller's hang-up is a missed call
        and the callee's a decline."""
        return call_view(await transition(platform, system, call_id, principal.user_id, "end"))

    @api.post("/calls/{call_id}/signal", status_code=202, responses=_problems(401, 404, 409, 422))
    async def signal(
        call_id: CallId, body: SignalIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Relay an SDP offer/answer or an ICE candidate to the other party's devices (the
        socket's `call` frame does the same)."""
        payload = body.model_dump(exclude={"device_id"}, exclude_none=True)
        event = await relay_signal(
            platform, system, call_id, principal.user_id, body.device_id, payload
        )
        return {"relayed": True, "to_device_id": event["to_device_id"]}

    return api
