"""A compatible subset of Telegram's Bot API at `/api/telegram/bot<token>/<method>`.

Like Telegram: GET or POST; parameters in the query string, an `application/json` body, an
`application/x-www-form-urlencoded` body or `multipart/form-data` (files); in the form and
query encodings objects (`reply_markup`, `allowed_updates`) are JSON strings. Every answer is
`{"ok": true, "result": …}` or `{"ok": false, "error_code": N, "description": "…"}` (plus
`parameters.retry_after` on 429); a bad token is 401 "Unauthorized", an unknown method 404
"Not Found". Method names are case-insensitive.

Methods: getMe, getUpdates (long polling), setWebhook, deleteWebhook, getWebhookInfo,
sendMessage, sendPhoto, editMessageText, answerCallbackQuery. Messages go through the messaging
engine's writer, so a bot's message is an ordinary entry of the conversation's log that users
read through the engine's API and sockets.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import attachments as attachment_store
from casebook.engines.messaging.errors import (
    ConversationNotFound,
    EditWindowClosed,
    MessageNotFound,
    NotAllowed,
)
from casebook.engines.messaging.models import (
    MessagingAttachment,
    MessagingConversation,
    MessagingMember,
    MessagingMessage,
)
from casebook.engines.messaging.multipart import MultipartStream
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.service import direct_key
from casebook.engines.messaging.views import message_view
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import Problem, TooManyRequests
from casebook.platform.ids import new_id
from casebook.platform.ratelimit import RateLimit, enforce
from casebook.systems.telegram import objects, updates, webhook
from casebook.systems.telegram.bots import bot_for_token
from casebook.systems.telegram.models import (
    TelegramBot,
    TelegramCallbackQuery,
    TelegramReplyMarkup,
    TelegramUpdate,
)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_BUTTONS = 100
MAX_FORM_FIELD = 64 * 1024
PARSE_MODES = frozenset({"HTML", "Markdown", "MarkdownV2"})
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class BotApiError(Exception):
    """An answer `{"ok": false, …}` with Telegram's code and description."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def bad_request(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


def _answer(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _failure(error: BotApiError) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
    headers = {}
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(body, status_code=error.code, headers=headers)


def _from_problem(problem: Problem) -> BotApiError:
    """Engine errors in Telegram's words."""
    if isinstance(problem, TooManyRequests):
        retry = problem.retry_after
        return BotApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
    if isinstance(problem, ConversationNotFound):
        return bad_request("chat not found")
    if isinstance(problem, MessageNotFound):
        return bad_request("message to edit not found")
    if isinstance(problem, EditWindowClosed):
        return bad_request("message can't be edited")
    if isinstance(problem, NotAllowed):
        return BotApiError(403, f"Forbidden: {problem.detail}")
    if problem.status >= 500:
        return BotApiError(500, "Internal Server Error: retry later")
    if problem.status == 413:
        return bad_request("file is too big")
    return bad_request(problem.detail)


# Parameters ------------------------------------------------------------------------------------


@dataclass
class Params:
    """A method's parameters, whatever the encoding they came in."""

    values: dict[str, Any]
    files: dict[str, MessagingAttachment] = field(default_factory=dict)

    def raw(self, name: str) -> Any:
        value = self.values.get(name)
        return None if value == "" else value

    def integer(self, name: str, *, default: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value.strip()):
            return int(value)
        raise bad_request(f"invalid {name} specified")

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise bad_request(f"{name} must be a string")
        return value

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise bad_request(f"invalid {name} specified")

    def obj(self, name: str) -> Any:
        value = self.raw(name)
        if isinstance(value, str):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value


async def _file_as_upload(
    filename: str, chunks: AsyncIterator[bytes], boundary: str
) -> AsyncIterator[bytes]:
    """One file part re-framed as the single-file multipart body the engine's upload takes."""
    safe = attachment_store.clean_filename(filename).replace('"', "") or "photo"
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    async for chunk in chunks:
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


async def _read_params(request: Request, platform: Platform, system: str, bot_id: int) -> Params:
    """Parse the query string and the body. A multipart file part (a photo) streams into the
    blob store as the bot's attachment as it arrives (memory O(chunk))."""
    values: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        raw = await request.body()
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise bad_request("can't parse JSON body") from None
            if not isinstance(body, dict):
                raise bad_request("the JSON body must be an object")
            values.update(body)
        return Params(values)
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form(max_fields=100, max_part_size=MAX_FORM_FIELD)
        values.update({k: v for k, v in form.items() if isinstance(v, str)})
        return Params(values)
    if not content_type.startswith("multipart/form-data"):
        return Params(values)
    limit = attachment_store.limits(platform, system).image
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise BotApiError(413, "Request Entity Too Large")
    form_stream = MultipartStream(request.headers.get("content-type"), request.stream())
    files: dict[str, MessagingAttachment] = {}
    try:
        while (part := await form_stream.next_part()) is not None:
            if part.filename is None:
                data = bytearray()
                async for chunk in form_stream.chunks():
                    data += chunk
                    if len(data) > MAX_FORM_FIELD:
                        raise bad_request(f"parameter {part.name} is too long")
                values[part.name] = data.decode("utf-8", errors="replace")
                continue
            if files:
                raise bad_request("send one file per request")
            boundary = secrets.token_hex(16)
            files[part.name] = await attachment_store.receive_upload(
                platform,
                system,
                bot_id,
                kind="image",
                e2e=False,
                content_type=f"multipart/form-data; boundary={boundary}",
                content_length=None,
                body=_file_as_upload(part.filename, form_stream.chunks(), boundary),
            )
    except Problem as problem:
        raise _from_problem(problem) from None
    return Params(values, files)


# Chats and messages ----------------------------------------------------------------------------


@dataclass
class Call:
    """One Bot API call: who, where, with what."""

    platform: Platform
    system: str
    bot: TelegramBot
    params: Params


async def _resolve_chat(session: AsyncSession, call: Call) -> MessagingConversation:
    """The conversation `chat_id` names, which the bot must be in.

    A positive id is a user: their private chat with the bot, which only the user can start
    (403 otherwise, like Telegram). A negative id is a group or channel; "@handle" a public one.
    """
    raw = call.params.raw("chat_id")
    if raw is None:
        raise bad_request("chat_id is empty")
    bot_id = call.bot.id
    conversation: MessagingConversation | None
    if isinstance(raw, str) and raw.startswith("@"):
        conversation = await session.scalar(
            select(MessagingConversation).where(
                MessagingConversation.system == call.system,
                MessagingConversation.public_handle == raw[1:].lower(),
            )
        )
    else:
        chat = call.params.integer("chat_id")
        assert chat is not None
        if chat > 0:
            conversation = await session.scalar(
                select(MessagingConversation).where(
                    MessagingConversation.system == call.system,
                    MessagingConversation.direct_key == direct_key(bot_id, chat, False),
                )
            )
            if conversation is None:
                if await session.get(User, chat) is not None:
                    raise BotApiError(403, "Forbidden: bot can't initiate conversation with a user")
                raise bad_request("chat not found")
        else:
            conversation = await session.scalar(
                select(MessagingConversation).where(
                    MessagingConversation.system == call.system,
                    MessagingConversation.id == -chat,
                )
            )
    if (
        conversation is None
        or await session.get(MessagingMember, (conversation.id, bot_id)) is None
    ):
        raise bad_request("chat not found")
    return conversation


def _inline_keyboard(raw: Any) -> dict[str, Any] | None:
    """Validate an InlineKeyboardMarkup; other markups are not supported here."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or "inline_keyboard" not in raw:
        raise bad_request("only inline keyboards (InlineKeyboardMarkup) are supported")
    rows = raw["inline_keyboard"]
    if not isinstance(rows, list) or any(not isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    clean_rows: list[list[dict[str, str]]] = []
    count = 0
    for row in rows:
        clean: list[dict[str, str]] = []
        for button in row:
            count += 1
            if count > MAX_BUTTONS:
                raise bad_request("too many inline keyboard buttons")
            if (
                not isinstance(button, dict)
                or not isinstance(button.get("text"), str)
                or not button["text"]
            ):
                raise bad_request("inline keyboard button text is empty")
            kinds = [k for k in ("callback_data", "url") if k in button]
            if len(kinds) != 1:
                raise bad_request("inline keyboard button needs exactly one of callback_data, url")
            value = button[kinds[0]]
            if not isinstance(value, str):
                raise bad_request(f"{kinds[0]} must be a string")
            if kinds[0] == "callback_data" and not 1 <= len(value.encode()) <= MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
            if kinds[0] == "url" and webhook.check_url(value) is not None:
                raise bad_request("BUTTON_URL_INVALID")
            clean.append({"text": button["text"][:256], kinds[0]: value})
        if clean:
            clean_rows.append(clean)
    return {"inline_keyboard": clean_rows}


def _parse_mode(call: Call) -> None:
    mode = call.params.text("parse_mode")
    if mode is not None and mode not in PARSE_MODES:
        raise bad_request(f"unsupported parse_mode {mode!r}")


def _reply_to(call: Call) -> int | None:
    parameters = call.params.obj("reply_parameters")
    if isinstance(parameters, dict) and "message_id" in parameters:
        value = parameters["message_id"]
        if not isinstance(value, int) or value < 1:
            raise bad_request("invalid reply_parameters specified")
        return value
    reply = call.params.integer("reply_to_message_id")
    if reply is not None and reply < 1:
        raise bad_request("invalid reply_to_message_id specified")
    return reply


async def _rate_limit(call: Call) -> None:
    rate = webhook.config(call.platform).bot_api_rate_per_second
    limit = RateLimit(rate=rate, burst=max(1, int(rate)))
    try:
        await enforce(call.platform, f"telegram:bot-send:{call.bot.id}", limit)
    except TooManyRequests as problem:
        raise _from_problem(problem) from None


async def _message_object(
    call: Call,
    conversation: MessagingConversation,
    view: dict[str, Any],
    reply_markup: dict[str, Any] | None,
) -> dict[str, Any]:
    async with call.platform.db.session() as session:
        people = {call.bot.id, int(view["sender_id"])}
        if conversation.kind == "direct":
            people.add(objects.direct_peer(conversation, call.bot.id))
        directory = await objects.Directory.load(session, people)
        ids = {int(a) for a in (view.get("data") or {}).get("attachments", ())}
        found = await updates.load_attachments(session, call.system, ids)
    return objects.message(
        view, conversation, call.bot.id, directory, attachments=found, reply_markup=reply_markup
    )


async def _post(
    call: Call,
    conversation: MessagingConversation,
    *,
    kind: str,
    body: str | None,
    data: dict[str, Any] | None,
    markup: dict[str, Any] | None,
) -> dict[str, Any]:
    """Store the inline keyboard under the message's client_id, then send through the
    engine's writer (a refused message takes its keyboard away again)."""
    await _rate_limit(call)
    writer = messenger(call.platform, call.system).writer
    client_id = f"bot:{new_id()}"
    key = {"conversation_id": conversation.id, "sender_id": call.bot.id, "client_id": client_id}
    if markup is not None:
        async with call.platform.db.session() as session:
            session.add(TelegramReplyMarkup(**key, markup=markup))
    try:
        sent = await writer.send(
            SendRequest(
                conversation_id=conversation.id,
                sender_id=call.bot.id,
                client_id=client_id,
                kind=kind,
                body=body,
                data=data,
            )
        )
    except Problem as problem:
        if markup is not None:
            async with call.platform.db.session() as session:
                await session.execute(
                    delete(TelegramReplyMarkup).where(
                        TelegramReplyMarkup.conversation_id == conversation.id,
                        TelegramReplyMarkup.sender_id == call.bot.id,
                        TelegramReplyMarkup.client_id == client_id,
                    )
                )
        raise _from_problem(problem) from None
    return await _message_object(call, conversation, sent.view, markup)


# Methods ---------------------------------------------------------------------------------------


async def get_me(call: Call) -> Any:
    return {
        "id": call.bot.id,
        "is_bot": True,
        "first_name": call.bot.name,
        "username": call.bot.username,
        "can_join_groups": True,
        "can_read_all_group_messages": True,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _allowed_updates(call: Call) -> list[str] | None:
    raw = call.params.obj("allowed_updates")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise bad_request("allowed_updates must be an Array of String")
    # Telegram ignores types it does not know; an empty list means "the default set".
    return [item for item in dict.fromkeys(raw) if item in updates.UPDATE_TYPES]


async def get_updates(call: Call) -> Any:
    if call.bot.webhook_url:
        raise BotApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
            "to delete the webhook first",
        )
    limit = call.params.integer("limit", default=100)
    timeout = call.params.integer("timeout", default=0)
    assert limit is not None and timeout is not None
    return await updates.get_updates(
        call.platform,
        call.system,
        call.bot.id,
        offset=call.params.integer("offset"),
        limit=min(max(limit, 1), 100),
        wait_seconds=max(0, timeout),
        allowed_updates=_allowed_updates(call),
    )


async def set_webhook(call: Call) -> Any:
    url = call.params.text("url") or ""
    secret = call.params.text("secret_token")
    if secret is not None and not SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    if url and (problem := webhook.check_url(url)) is not None:
        raise bad_request(problem)
    allowed = _allowed_updates(call)
    drop = call.params.flag("drop_pending_updates")
    async with call.platform.db.session() as session:
        values: dict[str, Any] = {
            "webhook_url": url or None,
            "webhook_secret": secret if url else None,
        }
        if allowed is not None:
            values["allowed_updates"] = allowed or None
        if url != (call.bot.webhook_url or ""):
            values.update(webhook_failures=0, webhook_last_error=None, webhook_last_error_at=None)
        await session.execute(
            update(TelegramBot).where(TelegramBot.id == call.bot.id).values(**values)
        )
        if drop:
            await session.execute(
                delete(TelegramUpdate).where(TelegramUpdate.bot_id == call.bot.id)
            )
        pending = await updates.pending_count(session, call.bot.id)
    if url and pending:
        await webhook.schedule(call.platform, call.system, call.bot.id, key=f"set:{new_id()}")
    return True


async def delete_webhook(call: Call) -> Any:
    async with call.platform.db.session() as session:
        await session.execute(
            update(TelegramBot)
            .where(TelegramBot.id == call.bot.id)
            .values(webhook_url=None, webhook_secret=None, webhook_failures=0)
        )
        if call.params.flag("drop_pending_updates"):
            await session.execute(
                delete(TelegramUpdate).where(TelegramUpdate.bot_id == call.bot.id)
            )
    return True


async def get_webhook_info(call: Call) -> Any:
    async with call.platform.db.session() as session:
        bot = await session.get(TelegramBot, call.bot.id, populate_existing=True)
        assert bot is not None
        info: dict[str, Any] = {
            "url": bot.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": await updates.pending_count(session, bot.id),
        }
    if bot.webhook_url:
        info["max_connections"] = 1
    if bot.webhook_last_error_at is not None and bot.webhook_url:
        info["last_error_date"] = objects.unix(bot.webhook_last_error_at)
        info["last_error_message"] = bot.webhook_last_error or ""
    if bot.allowed_updates:
        info["allowed_updates"] = bot.allowed_updates
    return info


async def send_message(call: Call) -> Any:
    text = call.params.text("text")
    if text is None or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    _parse_mode(call)
    markup = _inline_keyboard(call.params.obj("reply_markup"))
    reply_to = _reply_to(call)
    async with call.platform.db.session() as session:
        conversation = await _resolve_chat(session, call)
    data = {"reply_to": reply_to} if reply_to else None
    return await _post(call, conversation, kind="text", body=text, data=data, markup=markup)


async def _photo_attachment(call: Call) -> MessagingAttachment:
    """The photo to send: this request's upload, or an earlier photo's file_id. A photo the bot
    received from someone else is copied into a new attachment of the bot (the engine lets a
    sender name only its own attachments)."""
    uploaded = call.params.files.get("photo")
    if uploaded is not None:
        return uploaded
    file_id = call.params.text("photo")
    if not file_id:
        raise bad_request("there is no photo in the request")
    match = re.fullmatch(r"([0-9]{1,19})(?:_(thumbnail|compressed))?", file_id)
    if match is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    async with call.platform.db.session() as session:
        try:
            row = await attachment_store.readable_attachment(
                session, call.system, int(match.group(1)), call.bot.id
            )
        except Problem:
            raise bad_request("wrong file identifier/HTTP URL specified") from None
    if row.kind != "image" or row.e2e:
        raise bad_request("wrong file identifier/HTTP URL specified")
    if row.owner_id == call.bot.id:
        return row
    original = await call.platform.blobs.get(row.blob_key)

    async def once() -> AsyncIterator[bytes]:
        yield original

    boundary = secrets.token_hex(16)
    try:
        return await attachment_store.receive_upload(
            call.platform,
            call.system,
            call.bot.id,
            kind="image",
            e2e=False,
            content_type=f"multipart/form-data; boundary={boundary}",
            content_length=None,
            body=_file_as_upload(row.filename or "photo", once(), boundary),
        )
    except Problem as problem:
        raise _from_problem(problem) from None


async def _processed(call: Call, attachment: MessagingAttachment) -> MessagingAttachment:
    """Wait (bounded) for the image's compressed variant and thumbnail, so the answer lists
    the photo's sizes like Telegram's does."""
    if attachment.status != "processing":
        return attachment
    job_id = f"{attachment_store.variants_job(call.system)}:{attachment.id}"
    try:
        async with asyncio.timeout(30):
            await call.platform.jobs.wait(job_id)
    except (TimeoutError, KeyError):
        pass  # the answer then lists the sizes ready so far
    async with call.platform.db.session() as session:
        row = await session.get(MessagingAttachment, attachment.id, populate_existing=True)
    assert row is not None
    if row.status == "failed":
        raise bad_request("IMAGE_PROCESS_FAILED")
    return row


async def send_photo(call: Call) -> Any:
    caption = call.params.text("caption")
    if caption is not None and len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    _parse_mode(call)
    markup = _inline_keyboard(call.params.obj("reply_markup"))
    reply_to = _reply_to(call)
    async with call.platform.db.session() as session:
        conversation = await _resolve_chat(session, call)
    photo = await _processed(call, await _photo_attachment(call))
    data: dict[str, Any] = {"attachments": [str(photo.id)]}
    if reply_to:
        data["reply_to"] = reply_to
    return await _post(
        call, conversation, kind="media", body=caption or None, data=data, markup=markup
    )


async def edit_message_text(call: Call) -> Any:
    if call.params.raw("inline_message_id") is not None:
        raise bad_request("inline messages are not supported")
    text = call.params.text("text")
    if text is None or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    _parse_mode(call)
    markup = _inline_keyboard(call.params.obj("reply_markup"))
    seq = call.params.integer("message_id")
    if seq is None:
        raise bad_request("message identifier is not specified")
    async with call.platform.db.session() as session:
        conversation = await _resolve_chat(session, call)
        target = await session.scalar(
            select(MessagingMessage).where(
                MessagingMessage.conversation_id == conversation.id, MessagingMessage.seq == seq
            )
        )
        if target is None or target.deleted or target.kind not in ("text", "media"):
            raise bad_request("message to edit not found")
        if target.sender_id != call.bot.id:
            raise bad_request("message can't be edited")
        if target.kind != "text":
            raise bad_request("there is no text in the message to edit")
        key = (conversation.id, target.sender_id, target.client_id)
        current = await session.get(TelegramReplyMarkup, key)
        current_markup = current.markup if current is not None else None
        before = target.body
    if text == before and markup == current_markup:
        raise bad_request(NOT_MODIFIED[len("Bad Request: ") :])
    if text != before:
        await _rate_limit(call)
        try:
            await messenger(call.platform, call.system).writer.send(
                SendRequest(
                    conversation_id=conversation.id,
                    sender_id=call.bot.id,
                    client_id=f"bot-edit:{new_id()}",
                    kind="edit",
                    body=text,
                    target_seq=seq,
                )
            )
        except Problem as problem:
            raise _from_problem(problem) from None
    async with call.platform.db.session() as session:
        # Telegram: an edit without reply_markup removes the message's inline keyboard.
        await session.execute(
            delete(TelegramReplyMarkup).where(
                TelegramReplyMarkup.conversation_id == key[0],
                TelegramReplyMarkup.sender_id == key[1],
                TelegramReplyMarkup.client_id == key[2],
            )
        )
        if markup is not None:
            session.add(
                TelegramReplyMarkup(
                    conversation_id=key[0], sender_id=key[1], client_id=key[2], markup=markup
                )
            )
        edited = await session.scalar(
            select(MessagingMessage)
            .where(MessagingMessage.conversation_id == conversation.id, MessagingMessage.seq == seq)
            .execution_options(populate_existing=True)
        )
        assert edited is not None
        view = message_view(edited)
    return await _message_object(call, conversation, view, markup)


async def answer_callback_query(call: Call) -> Any:
    query_id = call.params.text("callback_query_id")
    if not query_id:
        raise bad_request("query_id is empty")
    text = call.params.text("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    url = call.params.text("url")
    if url is not None and webhook.check_url(url) is not None:
        raise bad_request("URL_INVALID")
    show_alert = call.params.flag("show_alert")
    async with call.platform.db.session() as session:
        user_id = await session.scalar(
            update(TelegramCallbackQuery)
            .where(
                TelegramCallbackQuery.id == query_id,
                TelegramCallbackQuery.bot_id == call.bot.id,
                TelegramCallbackQuery.answered_at.is_(None),
            )
            .values(answered_at=utcnow(), answer_text=text, show_alert=show_alert, answer_url=url)
            .returning(TelegramCallbackQuery.user_id)
        )
    if user_id is None:
        raise bad_request(QUERY_INVALID[len("Bad Request: ") :])
    from casebook.engines.messaging.events import publish_to_user

    await publish_to_user(
        call.platform.bus,
        call.system,
        user_id,
        {
            "type": "callback_answer",
            "callback_query_id": query_id,
            "text": text,
            "show_alert": show_alert,
            "url": url,
        },
    )
    return True


Method = Callable[[Call], Awaitable[Any]]
METHODS: dict[str, Method] = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "editmessagetext": edit_message_text,
    "answercallbackquery": answer_callback_query,
}


def router(system: str) -> APIRouter:
    """`/bot<token>/<method>` for GET and POST (not in the OpenAPI schema: it is Telegram's)."""
    api = APIRouter(include_in_schema=False)

    @api.api_route("/bot{token}/{method}", methods=["GET", "POST"])
    async def bot_method(token: str, method: str, request: Request) -> JSONResponse:
        platform: Platform = request.app.state.platform
        try:
            async with platform.db.session() as session:
                bot = await bot_for_token(session, token)
            if bot is None:
                raise BotApiError(401, "Unauthorized")
            handler = METHODS.get(method.lower())
            if handler is None:
                raise BotApiError(404, "Not Found")
            params = await _read_params(request, platform, system, bot.id)
            return _answer(await handler(Call(platform, system, bot, params)))
        except BotApiError as error:
            return _failure(error)

    return api
