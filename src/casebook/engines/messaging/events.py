"""What the engine publishes on the platform bus, and on which channels.

The writer publishes every committed conversation event once, on the conversation's channel; the
gateway of each process subscribes to the channels of the conversations its sockets belong to and
hands each event to those sockets. One publish per message whatever the group's size: fan-out
happens at the edge, per process, not as one row or one bus message per recipient.

Channels (per system, so systems never see each other's traffic):
- `msg:<system>:c:<conversation id>`: conversation events — "message" (a new entry in the log,
  including edit and delete events), "typing", "members" (joined, left, role changed),
  "conversation" (title, settings changed).
- `msg:<system>:u:<user id>`: events for one user's devices — "joined"/"left" a conversation (the
  gateway subscribes or unsubscribes), "hidden" (deleted for me), "presence" of someone they
  follow, "device" (revoked), "call" (signalling addressed to the user), and "receipts"
  (members' delivered/read marks moved), published to the authors of the entries whose state
  changed and, when the read mark moved, to the member: not to every member
  (service._receipt_events); the gateway merges an author's receipts of acks over a short
  window into one event (gateway.ReceiptOutbox).

Every event is a JSON object with a "type"; ids are strings (JavaScript-safe), seqs numbers.
"""

from __future__ import annotations

from typing import Any

import orjson

from casebook.platform.bus import Bus


def conversation_channel(system: str, conversation_id: int) -> str:
    return f"msg:{system}:c:{conversation_id}"


def user_channel(system: str, user_id: int) -> str:
    return f"msg:{system}:u:{user_id}"


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def decode(raw: bytes) -> dict[str, Any]:
    event = orjson.loads(raw)
    if not isinstance(event, dict) or "type" not in event:
        raise ValueError("a messaging event is a JSON object with a type")
    return event


async def publish_to_conversation(
    bus: Bus, system: str, conversation_id: int, event: dict[str, Any]
) -> None:
    await bus.publish(conversation_channel(system, conversation_id), encode(event))


async def publish_to_user(bus: Bus, system: str, user_id: int, event: dict[str, Any]) -> None:
    await bus.publish(user_channel(system, user_id), encode(event))
