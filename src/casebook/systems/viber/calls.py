"""Voice and video call signalling: the call log, its state machine, and the relay of WebRTC
offer/answer/ICE messages between the two parties' devices over the WebSocket.

States and transitions (each one guarded UPDATE … WHERE state = <from>, so of two racing
requests exactly one wins and the other gets 409):

    ringing ──accept (callee)──▶ accepted ──end (either)──▶ ended
       │──decline (callee) / end by the callee──▶ declined
       │──end by the caller / no answer in `ring_timeout` (a job)──▶ missed
    (a call to or from someone already in a call is logged as busy at once)

"In a call" is a row of `viber_call_lines` (primary key user id) held from ringing until the
call's terminal state: a new call takes both parties' lines with INSERT … ON CONFLICT DO
NOTHING, so two simultaneous calls to one person cannot both ring, on either backend.

Signalling: `POST /calls/{id}/signal {type: offer|answer|ice, …}` relays the payload, unstored,
as a `{"type": "call", "event": "signal", …}` event on the other party's user channel; the engine's
gateway passes user-channel events to every socket of that user. Before the call is accepted the
callee's devices all receive the offer (any may pick up); afterwards signals name
`to_device_id`, the device that accepted. Every state change is published to both parties as
`{"type": "call", "event": <state>, "call": <view>}`.

The media path (STUN/TURN, SRTP, an SFU for group calls) is not here: the peers' WebRTC stacks
carry media directly once signalling is done; a relay comes with the RTC engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import service
from casebook.engines.messaging.errors import UserNotFound
from casebook.engines.messaging.events import publish_to_user
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, utcnow
from casebook.platform.errors import PROBLEM_JSON, Conflict, InvalidInput, NotFound
from casebook.platform.ids import IdStr, new_id
from casebook.systems.viber.models import ViberCall, ViberCallLine

PlatformDep = Annotated[Platform, Depends(get_platform)]
CallId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_SDP = 16_384
MAX_CANDIDATE = 1024


@dataclass(frozen=True)
class CallConfig:
    ring_timeout: float = 45.0
    """Seconds a call rings before it is logged as missed (Viber rings for about that long)."""


class CallNotFound(NotFound):
    type_ = "viber/call-not-found"
    title = "No such call"


class CallStateConflict(Conflict):
    type_ = "viber/call-state"
    title = "The call is not in a state that allows this"


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for s in statuses}


def _insert(session: AsyncSession) -> Any:
    return sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert


def config(platform: Platform, system: str) -> CallConfig:
    current: CallConfig = platform.state.setdefault(f"viber-calls:{system}", CallConfig())
    return current


def configure(platform: Platform, system: str, **changes: Any) -> CallConfig:
    """Replace the call settings of this process (tests shorten `ring_timeout`)."""
    updated = CallConfig(**{**config(platform, system).__dict__, **changes})
    platform.state[f"viber-calls:{system}"] = updated
    return updated


def timeout_job(system: str) -> str:
    return f"{system}.call-timeout"


def call_view(call: ViberCall) -> dict[str, Any]:
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


async def _announce(platform: Platform, system: str, call: ViberCall, event: str) -> None:
    """Tell both parties' devices about the call's new state."""
    payload = {"type": "call", "event": event, "call_id": str(call.id), "call": call_view(call)}
    for user_id in (call.callee_id, call.caller_id):
        await publish_to_user(platform.bus, system, user_id, payload)


# Service ---------------------------------------------------------------------------------------


async def start_call(
    platform: Platform, system: str, caller_id: int, device_id: int, callee_id: int, kind: str
) -> ViberCall:
    """Ring `callee_id` from the caller's device: a "ringing" call, or a "busy" one when either
    party already holds a line. Raises UserNotFound, DeviceNotFound, InvalidInput (self)."""
    if caller_id == callee_id:
        raise InvalidInput("Call someone else.")
    now = utcnow()
    async with platform.db.session(write=True) as session:
        await service.live_device(session, system, caller_id, device_id)
        if await session.scalar(select(User.id).where(User.id == callee_id)) is None:
            raise UserNotFound(f"No user {callee_id}.")
        call = ViberCall(
            id=new_id(),
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
                _insert(session)(ViberCallLine)
                .values(user_id=user_id, call_id=call.id)
                .on_conflict_do_nothing(index_elements=["user_id"])
                .returning(ViberCallLine.user_id)
            )
            taken.append(got)
        if None in taken:
            await session.execute(delete(ViberCallLine).where(ViberCallLine.call_id == call.id))
            call.state, call.ended_at = "busy", now
    await _announce(platform, system, call, "incoming" if call.state == "ringing" else "busy")
    if call.state == "ringing":
        await platform.jobs.enqueue(
            timeout_job(system),
            {"call_id": str(call.id)},
            key=str(call.id),
            delay=config(platform, system).ring_timeout,
        )
    return call


async def _party_call(session: AsyncSession, call_id: int, user_id: int) -> ViberCall:
    call = await session.get(ViberCall, call_id, populate_existing=True)
    if call is None or user_id not in (call.caller_id, call.callee_id):
        raise CallNotFound(f"No call {call_id} of yours.")
    return call


async def _move(
    session: AsyncSession, call: ViberCall, from_state: str, to_state: str, **values: Any
) -> bool:
    """The guarded transition: True when this request moved the call, False when another got
    there first. Terminal states free both lines in the same transaction."""
    moved = await session.scalar(
        update(ViberCall)
        .where(ViberCall.id == call.id, ViberCall.state == from_state)
        .values(state=to_state, **values)
        .returning(ViberCall.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    if to_state != "accepted":
        await session.execute(delete(ViberCallLine).where(ViberCallLine.call_id == call.id))
    return True


async def transition(
    platform: Platform,
    system: str,
    call_id: int,
    user_id: int,
    action: Literal["accept", "decline", "end"],
    device_id: int | None = None,
) -> ViberCall:
    """Apply a party's `action`; returns the call after it. Raises CallNotFound (not a party),
    CallStateConflict (409: the call is no longer in a state that allows it, e.g. the other
    side's accept or decline won), InvalidInput (an accept naming no device)."""
    now = utcnow()
    async with platform.db.session(write=True) as session:
        call = await _party_call(session, call_id, user_id)
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
            current = await _party_call(session, call_id, user_id)
            raise CallStateConflict(f"The call is {current.state}; it cannot be {action}ed now.")
        call = await _party_call(session, call_id, user_id)
    await _announce(platform, system, call, call.state)
    return call


async def expire_ringing(platform: Platform, system: str, call_id: int) -> bool:
    """The ring timeout: a call still ringing becomes missed (True); any other state stays."""
    async with platform.db.session(write=True) as session:
        call = await session.get(ViberCall, call_id)
        if call is None:
            return False
        moved = await _move(session, call, "ringing", "missed", ended_at=utcnow())
        if moved:
            await session.refresh(call)
    if moved:
        await _announce(platform, system, call, "missed")
    return moved


def register_jobs(platform: Platform, system: str) -> None:
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
    """Relay one signalling message to the other party (not stored). Raises CallNotFound,
    DeviceNotFound, CallStateConflict (the call is over, an answer before acceptance from the
    wrong side…). O(1): two primary-key reads and one bus publish."""
    async with platform.db.session() as session:
        call = await _party_call(session, call_id, user_id)
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
    session: AsyncSession, user_id: int, *, before: int | None, limit: int
) -> list[ViberCall]:
    """The user's calls (made and received), newest first: two keyset range scans on the
    (caller_id, id) and (callee_id, id) indexes merged, O(log n + limit)."""
    found: list[ViberCall] = []
    for column in (ViberCall.caller_id, ViberCall.callee_id):
        query = (
            select(ViberCall).where(column == user_id).order_by(ViberCall.id.desc()).limit(limit)
        )
        if before is not None:
            query = query.where(ViberCall.id < before)
        found += list(await session.scalars(query))
    return sorted(found, key=lambda c: c.id, reverse=True)[:limit]


# HTTP ------------------------------------------------------------------------------------------


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


class SignalIn(BaseModel):
    """One WebRTC signalling message: an SDP offer or answer, or an ICE candidate."""

    model_config = ConfigDict(extra="forbid")
    device_id: IdStr
    type: Literal["offer", "answer", "ice"]
    sdp: str | None = Field(default=None, min_length=1, max_length=MAX_SDP)
    candidate: Candidate | None = None

    @model_validator(mode="after")
    def _shape(self) -> SignalIn:
        if self.type == "ice":
            if self.candidate is None or self.sdp is not None:
                raise ValueError("an ice signal carries a candidate and no sdp")
        elif self.sdp is None or self.candidate is not None:
            raise ValueError(f"an {self.type} signal carries an sdp and no candidate")
        return self


def router(system: str) -> APIRouter:
    """Call signalling under /api/viber/calls."""
    api = APIRouter(tags=[system])

    @api.post("/calls", status_code=201, responses=_problems(401, 404, 422))
    async def start(
        body: CallIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Call someone: their devices get an `incoming` call event; the answer is "ringing",
        or "busy" (logged) when either side is already in a call."""
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
        calls = await call_log(session, principal.user_id, before=before, limit=limit)
        return {
            "items": [call_view(c) for c in calls],
            "next_before": str(calls[-1].id) if len(calls) == limit else None,
        }

    @api.get("/calls/{call_id}", responses=_problems(401, 404))
    async def get(call_id: CallId, principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
        return call_view(await _party_call(session, call_id, principal.user_id))

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
        """Relay an SDP offer/answer or an ICE candidate to the other party's devices."""
        payload = body.model_dump(exclude={"device_id"}, exclude_none=True)
        event = await relay_signal(
            platform, system, call_id, principal.user_id, body.device_id, payload
        )
        return {"relayed": True, "to_device_id": event["to_device_id"]}

    return api
