"""What a message may contain, per kind: checked before a send request is queued, so a bad
request fails at once, alone, without touching the database.

Kinds a client sends: text, media (attachments + optional caption), sticker, location, contact,
share (a feed post's id), encrypted (E2E: the content is in per-device envelopes), edit and
delete (events naming `target_seq`). Structured content lives in `data`; every field has an
explicit limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from casebook.engines.messaging.errors import InvalidMessage
from casebook.engines.messaging.runtime import MessagingConfig

SEND_KINDS = frozenset(
    {"text", "media", "sticker", "location", "contact", "share", "encrypted", "edit", "delete"}
)
CONTENT_KINDS = frozenset({"text", "media", "sticker", "location", "contact", "share", "encrypted"})
"""Kinds that are messages of their own (edit and delete are events about another message)."""
EDITABLE_KINDS = frozenset({"text", "media"})
MAX_CLIENT_ID = 64
MAX_DATA_FIELD = 256


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reply_to: int | None = Field(default=None, ge=1)
    """The seq of the message this one answers."""


def _check_ids(values: list[str]) -> list[str]:
    for value in values:
        if not value.isdigit() or len(value) > 19:
            raise ValueError("attachment ids are digit strings")
    if len(set(values)) != len(values):
        raise ValueError("an attachment is named twice")
    return values


class TextData(_Data):
    pass


class MediaData(_Data):
    attachments: list[str] = Field(min_length=1, max_length=10)

    _ids = field_validator("attachments")(_check_ids)


class StickerData(_Data):
    pack: str = Field(min_length=1, max_length=64)
    sticker: str = Field(min_length=1, max_length=64)


class LocationData(_Data):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(default=None, max_length=MAX_DATA_FIELD)
    address: str | None = Field(default=None, max_length=MAX_DATA_FIELD)


class ContactData(_Data):
    name: str = Field(min_length=1, max_length=128)
    phone: str | None = Field(default=None, max_length=32)
    user_id: str | None = Field(default=None, pattern=r"^[0-9]{1,19}$")


class ShareData(_Data):
    """A post of the system's feed shared into the chat (the system decides who may see it)."""

    post_id: str = Field(pattern=r"^[0-9]{1,19}$")


class EncryptedData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attachments: list[str] = Field(default_factory=list, max_length=10)
    """Opaque (client-encrypted) attachments the envelopes refer to: named in clear so the
    server can let the recipients download them."""

    _ids = field_validator("attachments")(_check_ids)


_DATA_MODELS: dict[str, type[BaseModel]] = {
    "text": TextData,
    "media": MediaData,
    "sticker": StickerData,
    "location": LocationData,
    "contact": ContactData,
    "share": ShareData,
    "encrypted": EncryptedData,
}


def attachment_ids(data: Mapping[str, Any] | None) -> list[int]:
    """The attachment ids a message's `data` names (empty when none)."""
    if not data:
        return []
    return [int(value) for value in data.get("attachments", ())]


def check_content(
    config: MessagingConfig,
    *,
    kind: str,
    client_id: str,
    body: str | None,
    data: Mapping[str, Any] | None,
    envelopes: Mapping[int, bytes] | None,
    target_seq: int | None,
) -> dict[str, Any] | None:
    """Validate one message's content; return its normalised `data` (None when empty).

    Raises `InvalidMessage` naming the first problem. O(size of the content).
    """
    if not 1 <= len(client_id) <= MAX_CLIENT_ID or not client_id.isprintable():
        raise InvalidMessage(f"client_id must be 1 to {MAX_CLIENT_ID} printable characters.")
    if kind not in SEND_KINDS or (kind == "share" and not config.shares_posts):
        raise InvalidMessage(f"Unknown message kind {kind!r}.")
    if kind in ("edit", "delete"):
        if target_seq is None or target_seq < 1:
            raise InvalidMessage(f"A {kind} names the seq of its target message.")
        if data:
            raise InvalidMessage(f"A {kind} carries no data.")
    elif target_seq is not None:
        raise InvalidMessage("Only edit and delete events name a target_seq.")
    if kind == "encrypted":
        if body is not None:
            raise InvalidMessage("An encrypted message has no plaintext body.")
        if not envelopes:
            raise InvalidMessage("An encrypted message needs its envelopes.")
        for ciphertext in envelopes.values():
            if not 1 <= len(ciphertext) <= config.max_envelope_bytes:
                raise InvalidMessage(
                    f"An envelope holds 1 to {config.max_envelope_bytes} bytes of ciphertext."
                )
    elif envelopes:
        raise InvalidMessage(f"A {kind} message carries no envelopes.")
    if kind in ("text", "edit"):
        if body is None or not body.strip():
            raise InvalidMessage(f"A {kind} needs a non-empty body.")
    elif kind == "delete":
        if body is not None:
            raise InvalidMessage("A delete carries no body.")
    elif kind not in ("media",) and body is not None:
        raise InvalidMessage(f"A {kind} message has no body.")
    if body is not None and len(body) > config.max_text_length:
        raise InvalidMessage(f"The text is longer than {config.max_text_length} characters.")
    model = _DATA_MODELS.get(kind)
    if model is None:
        return None
    try:
        parsed = model.model_validate(dict(data or {}))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise InvalidMessage(f"data.{where}: {first['msg']}") from None
    normalised = parsed.model_dump(exclude_none=True)
    if kind == "encrypted" and not normalised.get("attachments"):
        normalised.pop("attachments", None)
    return normalised or None
