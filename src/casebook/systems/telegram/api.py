"""Telegram's own HTTP endpoints beside the messaging engine's (all under /api/telegram):
BotFather (create, list, revoke bots), inline keyboards from the user's side (read, press,
read the answer) and channel post views."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON, InvalidInput
from casebook.platform.ratelimit import RateLimit, enforce
from casebook.systems.telegram import bots, callbacks, postviews
from casebook.systems.telegram.models import TelegramBot, TelegramCallbackQuery

PlatformDep = Annotated[Platform, Depends(get_platform)]
ConversationId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Seq = Annotated[int, Path(ge=1, le=2**62)]
PRESS_LIMIT = RateLimit(rate=5.0, burst=20)
"""Button presses per user: enough for any human, not for a script hammering a bot."""


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


class BotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    username: str = Field(min_length=5, max_length=32)


class PressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str = Field(min_length=1, max_length=64)


class ViewsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seqs: list[int] = Field(min_length=1, max_length=postviews.MAX_POSTS_PER_REQUEST)


def bot_view(bot: TelegramBot, token: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(bot.id),
        "name": bot.name,
        "username": bot.username,
        "created_at": bot.created_at.isoformat(),
        "revoked": bot.revoked_at is not None,
        "webhook_url": bot.webhook_url,
    }
    if token is not None:
        view["token"] = token
    return view


def query_view(query: TelegramCallbackQuery) -> dict[str, Any]:
    return {
        "id": query.id,
        "conversation_id": str(query.conversation_id),
        "seq": query.seq,
        "data": query.data,
        "answered": query.answered_at is not None,
        "text": query.answer_text,
        "show_alert": query.show_alert,
        "url": query.answer_url,
    }


def _seq_list(raw: str) -> list[int]:
    try:
        values = [int(part) for part in raw.split(",") if part]
    except ValueError:
        raise InvalidInput("seqs is a comma-separated list of numbers.") from None
    return values


def router(system: str) -> APIRouter:
    api = APIRouter(tags=[system])

    @api.post("/bots", status_code=201, responses=_problems(401, 409, 422))
    async def create_bot(
        body: BotIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Create a bot (BotFather's /newbot). The answer holds the bot's token, shown only
        here: `<bot id>:<secret>`, for `/api/telegram/bot<token>/<method>`."""
        async with platform.db.session(write=True) as session:
            bot, token = await bots.create_bot(
                session, principal.user_id, name=body.name, username=body.username
            )
            view = bot_view(bot, token)
        return view

    @api.get("/bots", responses=_problems(401))
    async def list_bots(principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
        """Your bots (without tokens), oldest first."""
        return {"items": [bot_view(b) for b in await bots.list_bots(session, principal.user_id)]}

    @api.delete("/bots/{bot_id}", status_code=204, responses=_problems(401, 404))
    async def revoke_bot(
        bot_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> Response:
        """Revoke your bot's token: the Bot API answers 401 to it from now on."""
        async with platform.db.session(write=True) as session:
            await bots.revoke_bot(session, principal.user_id, bot_id)
        return Response(status_code=204)

    @api.get(
        "/conversations/{conversation_id}/messages/{seq}/reply-markup",
        responses=_problems(401, 404),
    )
    async def reply_markup(
        conversation_id: ConversationId, seq: Seq, principal: CurrentPrincipal, session: Session
    ) -> dict[str, Any]:
        """The inline keyboard of a bot's message (null when it has none)."""
        markup = await callbacks.reply_markup(
            session, system, principal.user_id, conversation_id, seq
        )
        return {"conversation_id": str(conversation_id), "seq": seq, "reply_markup": markup}

    @api.post(
        "/conversations/{conversation_id}/messages/{seq}/callback",
        status_code=201,
        responses=_problems(401, 404, 422, 429),
    )
    async def press(
        conversation_id: ConversationId,
        seq: Seq,
        body: PressIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Press a callback button of a bot's message: the bot receives a callback_query
        update; its answer appears at `/callback-queries/{id}` and on your socket."""
        await enforce(platform, f"telegram:press:{principal.user_id}", PRESS_LIMIT)
        query = await callbacks.press(
            platform, system, principal.user_id, conversation_id, seq, body.data
        )
        return query_view(query)

    @api.get("/callback-queries/{query_id}", responses=_problems(401, 404))
    async def callback_answer(
        query_id: Annotated[str, Path(min_length=1, max_length=32)],
        principal: CurrentPrincipal,
        session: Session,
    ) -> dict[str, Any]:
        """Your callback query, with the bot's answer once it has answered."""
        return query_view(await callbacks.answer(session, principal.user_id, query_id))

    @api.post("/conversations/{conversation_id}/views", responses=_problems(401, 404, 409, 422))
    async def record_views(
        conversation_id: ConversationId,
        body: ViewsIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """You have seen these channel posts: each counts you once, ever. Answers the posts'
        view counts."""
        async with platform.db.session(write=True) as session:
            found = await postviews.record_views(
                session, system, principal.user_id, conversation_id, body.seqs
            )
        return {"views": {str(seq): views for seq, views in found.items()}}

    @api.get("/conversations/{conversation_id}/views", responses=_problems(401, 404, 409, 422))
    async def view_counts(
        conversation_id: ConversationId,
        principal: CurrentPrincipal,
        session: Session,
        seqs: Annotated[str, Query(min_length=1, max_length=2100)],
    ) -> dict[str, Any]:
        """View counts of channel posts (`?seqs=1,2,3`), without counting a view."""
        found = await postviews.read_counts(
            session, system, principal.user_id, conversation_id, _seq_list(seqs)
        )
        return {"views": {str(seq): views for seq, views in found.items()}}

    return api
