"""JSON views of the engine's rows: the same shapes over HTTP and in WebSocket events.

Ids are strings (JavaScript-safe), seqs numbers, times ISO 8601 UTC, binary base64.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from casebook.engines.messaging.models import (
    MessageRow,
    MessagingConversation,
    MessagingDevice,
    MessagingMember,
)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def message_view(message: MessageRow, ciphertext: bytes | None = None) -> dict[str, Any]:
    """One entry of a conversation's log.

    `ciphertext` is the envelope of the device the view is for (E2E messages only); it renders as
    base64, or null. A message deleted for everyone has null body and data.
    """
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "sender_id": str(message.sender_id),
        "sender_device_id": (
            str(message.sender_device_id) if message.sender_device_id is not None else None
        ),
        "client_id": message.client_id,
        "kind": message.kind,
        "body": message.body,
        "data": message.data,
        "target_seq": message.target_seq,
        "created_at": _time(message.created_at),
        "edited_at": _time(message.edited_at),
        "deleted": bool(message.deleted),
        "expires_at": _time(message.expires_at),
        "ciphertext": b64(ciphertext) if ciphertext is not None else None,
    }


def conversation_view(
    conversation: MessagingConversation, member: MessagingMember | None = None
) -> dict[str, Any]:
    """A conversation, with the caller's own membership (role, marks, unread) when given."""
    view: dict[str, Any] = {
        "id": str(conversation.id),
        "kind": conversation.kind,
        "title": conversation.title,
        "about": conversation.about,
        "created_by": str(conversation.created_by),
        "created_at": _time(conversation.created_at),
        "last_seq": conversation.last_seq,
        "member_count": conversation.member_count,
        "member_limit": conversation.member_limit,
        "e2e": bool(conversation.e2e),
        "ttl_seconds": conversation.ttl_seconds,
        "public_handle": conversation.public_handle,
    }
    if member is not None:
        view["me"] = {
            "role": member.role,
            "joined_seq": member.joined_seq,
            "delivered_seq": member.delivered_seq,
            "read_seq": member.read_seq,
            "cleared_seq": member.cleared_seq,
            "unread": max(0, conversation.last_seq - max(member.read_seq, member.cleared_seq)),
            "muted_until": _time(member.muted_until),
        }
    return view


def member_view(member: MessagingMember) -> dict[str, Any]:
    return {
        "conversation_id": str(member.conversation_id),
        "user_id": str(member.user_id),
        "role": member.role,
        "joined_at": _time(member.joined_at),
        "delivered_seq": member.delivered_seq,
        "read_seq": member.read_seq,
    }


def device_view(device: MessagingDevice) -> dict[str, Any]:
    return {
        "id": str(device.id),
        "user_id": str(device.user_id),
        "name": device.name,
        "created_at": _time(device.created_at),
        "last_seen_at": _time(device.last_seen_at),
        "revoked": device.revoked_at is not None,
        "e2e": device.identity_key is not None,
    }
