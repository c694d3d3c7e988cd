"""The Bot API subset over HTTP: Telegram's answer shapes, tokens, getUpdates with offsets and
long polling, sendMessage with inline keyboards, callbacks, editMessageText, and who may do
what."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.systems.telegram.conftest import (
    API,
    Bot,
    ChatWith,
    NewBot,
    NewUser,
    Say,
    TgUser,
    pending_updates,
)

pytestmark = pytest.mark.feature("telegram", "bots")


async def call(client: httpx.AsyncClient, bot: Bot, method: str, **params: Any) -> httpx.Response:
    return await client.post(f"{bot.path}/{method}", json=params)


async def test_get_me_answers_in_telegrams_shape(client: httpx.AsyncClient, bot: Bot) -> None:
    response = await client.get(f"{bot.path}/getMe")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["result"]["id"] == bot.bot_id
    assert body["result"]["is_bot"] is True
    assert body["result"]["username"] == bot.username
    assert body["result"]["first_name"] == "Echo"


async def test_bad_tokens_and_unknown_methods(client: httpx.AsyncClient, bot: Bot) -> None:
    wrong_secret = bot.token.split(":")[0] + ":" + "x" * 35
    for token in (wrong_secret, "garbage", f"1:{'a' * 30}"):
        response = await client.get(f"{API}/bot{token}/getMe")
        assert response.status_code == 401
        assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    missing = await client.get(f"{bot.path}/sendDice")
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_revoked_bot_token_stops_working(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, bot: Bot
) -> None:
    listed = await client.get(f"{API}/bots", headers=alice.headers)
    assert [b["username"] for b in listed.json()["items"]] == [bot.username]
    assert "token" not in listed.json()["items"][0]
    # Someone else can neither see nor revoke it.
    assert (await client.get(f"{API}/bots", headers=bob.headers)).json()["items"] == []
    other = await client.delete(f"{API}/bots/{bot.bot_id}", headers=bob.headers)
    assert other.status_code == 404
    assert (await client.get(f"{bot.path}/getMe")).status_code == 200
    revoked = await client.delete(f"{API}/bots/{bot.bot_id}", headers=alice.headers)
    assert revoked.status_code == 204
    assert (await client.get(f"{bot.path}/getMe")).status_code == 401


async def test_bot_usernames_are_checked_and_unique(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, bot: Bot
) -> None:
    for username in ("notabox", "bbot", "x" * 30 + "bot", "has space_bot"):
        response = await client.post(
            f"{API}/bots", json={"name": "N", "username": username}, headers=alice.headers
        )
        assert response.status_code == 422, username
    taken = await client.post(
        f"{API}/bots", json={"name": "N", "username": bot.username.upper()}, headers=bob.headers
    )
    assert taken.status_code == 409


async def test_user_message_becomes_an_update_and_offset_confirms_it(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith, say: Say
) -> None:
    chat = await chat_with(bob, bot)
    await say(bob, chat["id"], "first")
    await say(bob, chat["id"], "second")
    got = await pending_updates(client, bot, 2)
    assert [u["message"]["text"] for u in got] == ["first", "second"]
    first, second = got
    assert second["update_id"] == first["update_id"] + 1
    message = first["message"]
    assert message["chat"] == {"id": bob.user_id, "type": "private", "first_name": "Tg User"}
    assert message["from"] == {"id": bob.user_id, "is_bot": False, "first_name": "Tg User"}
    assert message["message_id"] == 1 and isinstance(message["date"], int)
    # Without an offset the same updates come again; an offset confirms everything below it.
    again = (await call(client, bot, "getUpdates")).json()["result"]
    assert [u["update_id"] for u in again] == [first["update_id"], second["update_id"]]
    after = (await call(client, bot, "getUpdates", offset=second["update_id"])).json()["result"]
    assert [u["update_id"] for u in after] == [second["update_id"]]
    done = (await call(client, bot, "getUpdates", offset=second["update_id"] + 1)).json()
    assert done == {"ok": True, "result": []}
    await say(bob, chat["id"], "third")
    third = await pending_updates(client, bot, 1)
    assert third[0]["update_id"] == second["update_id"] + 1


async def test_negative_offset_keeps_only_the_last_updates(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith, say: Say
) -> None:
    chat = await chat_with(bob, bot)
    for text in ("a", "b", "c"):
        await say(bob, chat["id"], text)
    await pending_updates(client, bot, 3)
    last = (await call(client, bot, "getUpdates", offset=-1)).json()["result"]
    assert [u["message"]["text"] for u in last] == ["c"]
    assert [
        u["message"]["text"] for u in (await call(client, bot, "getUpdates")).json()["result"]
    ] == ["c"]
    limited = (await call(client, bot, "getUpdates", limit=0)).json()["result"]
    assert len(limited) == 1


async def test_long_poll_returns_as_soon_as_a_message_arrives(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith, say: Say
) -> None:
    chat = await chat_with(bob, bot)
    poll = asyncio.create_task(call(client, bot, "getUpdates", timeout=20))
    await asyncio.sleep(0.1)
    assert not poll.done()
    await say(bob, chat["id"], "wake up")
    response = await asyncio.wait_for(poll, 5)
    assert [u["message"]["text"] for u in response.json()["result"]] == ["wake up"]


async def test_many_concurrent_messages_give_gap_free_update_ids_in_chat_order(
    client: httpx.AsyncClient, new_user: NewUser, bot: Bot, chat_with: ChatWith, say: Say
) -> None:
    users = [await new_user() for _ in range(4)]
    chats = [await chat_with(user, bot) for user in users]
    await asyncio.gather(
        *(
            say(user, chat["id"], f"{n}")
            for user, chat in zip(users, chats, strict=True)
            for n in range(5)
        )
    )
    await pending_updates(client, bot, 20)
    got: list[dict[str, Any]] = []
    offset = None
    while len(got) < 20:
        page = (await call(client, bot, "getUpdates", offset=offset, limit=7)).json()["result"]
        assert page
        got += page
        offset = page[-1]["update_id"] + 1
    ids = [u["update_id"] for u in got]
    assert ids == list(range(ids[0], ids[0] + 20))
    for user in users:
        seqs = [
            u["message"]["message_id"] for u in got if u["message"]["chat"]["id"] == user.user_id
        ]
        assert seqs == [1, 2, 3, 4, 5]


async def test_parameters_in_query_form_and_json(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith
) -> None:
    await chat_with(bob, bot)
    by_query = await client.get(f"{bot.path}/sendMessage", params={"chat_id": bob.id, "text": "q"})
    by_form = await client.post(
        f"{bot.path}/sendMessage",
        data={
            "chat_id": bob.id,
            "text": "f",
            "reply_markup": json.dumps(
                {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
            ),
        },
    )
    by_json = await call(
        client, bot, "sendMessage", chat_id=bob.user_id, text="j", parse_mode="HTML"
    )
    assert [r.json()["result"]["text"] for r in (by_query, by_form, by_json)] == ["q", "f", "j"]
    assert by_form.json()["result"]["reply_markup"] == {
        "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]
    }
    assert [r.json()["result"]["message_id"] for r in (by_query, by_form, by_json)] == [1, 2, 3]


async def test_send_message_errors_are_telegrams(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, bot: Bot, chat_with: ChatWith
) -> None:
    # A bot cannot start a private chat; a user who never wrote to it is out of reach.
    forbidden = await call(client, bot, "sendMessage", chat_id=bob.user_id, text="hi")
    assert forbidden.status_code == 403
    assert forbidden.json() == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot can't initiate conversation with a user",
    }
    await chat_with(bob, bot)
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"chat_id": bob.user_id}, "Bad Request: message text is empty"),
        ({"chat_id": bob.user_id, "text": "x" * 4097}, "Bad Request: message is too long"),
        ({"text": "hi"}, "Bad Request: chat_id is empty"),
        ({"chat_id": -12345, "text": "hi"}, "Bad Request: chat not found"),
        ({"chat_id": "abc", "text": "hi"}, "Bad Request: invalid chat_id specified"),
        ({"chat_id": bob.user_id, "text": "hi", "parse_mode": "BBCode"}, None),
        ({"chat_id": bob.user_id, "text": "hi", "reply_markup": {"keyboard": [["x"]]}}, None),
        (
            {
                "chat_id": bob.user_id,
                "text": "hi",
                "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]},
            },
            "Bad Request: BUTTON_DATA_INVALID",
        ),
    ]
    for params, description in cases:
        response = await call(client, bot, "sendMessage", **params)
        assert response.status_code == 400, params
        body = response.json()
        assert body["ok"] is False and body["error_code"] == 400
        if description:
            assert body["description"] == description
    # Nothing was written by the refused calls.
    chat = (await client.get(f"{API}/conversations", headers=bob.headers)).json()["items"][0]
    assert chat["last_seq"] == 0


async def test_bot_reply_is_in_the_users_history_not_in_anyone_elses(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, bot: Bot, chat_with: ChatWith, say: Say
) -> None:
    chat = await chat_with(bob, bot)
    await say(bob, chat["id"], "ping")
    sent = await call(client, bot, "sendMessage", chat_id=bob.user_id, text="pong")
    assert sent.json()["result"]["from"]["is_bot"] is True
    history = await client.get(f"{API}/conversations/{chat['id']}/messages", headers=bob.headers)
    assert [m["body"] for m in history.json()["items"]] == ["pong", "ping"]
    assert history.json()["items"][0]["sender_id"] == str(bot.bot_id)
    stranger = await client.get(f"{API}/conversations/{chat['id']}/messages", headers=alice.headers)
    assert stranger.status_code == 404
    # The bot does not receive its own message as an update.
    await say(bob, chat["id"], "after")
    got = await pending_updates(client, bot, 2)
    assert [u["message"]["text"] for u in got] == ["ping", "after"]


async def test_inline_keyboard_callback_answer_and_edit(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, bot: Bot, chat_with: ChatWith
) -> None:
    chat = await chat_with(bob, bot)
    keyboard = {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}],
            [{"text": "Docs", "url": "https://core.telegram.org/bots/api"}],
        ]
    }
    sent = (
        await call(
            client, bot, "sendMessage", chat_id=bob.user_id, text="Sure?", reply_markup=keyboard
        )
    ).json()["result"]
    seq = sent["message_id"]
    markup_url = f"{API}/conversations/{chat['id']}/messages/{seq}/reply-markup"
    assert (await client.get(markup_url, headers=bob.headers)).json()["reply_markup"] == keyboard
    assert (await client.get(markup_url, headers=alice.headers)).status_code == 404

    press_url = f"{API}/conversations/{chat['id']}/messages/{seq}/callback"
    wrong = await client.post(press_url, json={"data": "maybe"}, headers=bob.headers)
    assert wrong.status_code == 422
    outsider = await client.post(press_url, json={"data": "yes"}, headers=alice.headers)
    assert outsider.status_code == 404
    pressed = await client.post(press_url, json={"data": "yes"}, headers=bob.headers)
    assert pressed.status_code == 201
    query_id = pressed.json()["id"]

    got = await pending_updates(client, bot, 1)
    assert len(got) == 1
    query = got[0]["callback_query"]
    assert query["id"] == query_id and query["data"] == "yes"
    assert query["from"]["id"] == bob.user_id
    assert query["message"]["message_id"] == seq
    assert query["message"]["reply_markup"] == keyboard

    # Only the bot the query was sent to answers it, and only once.
    other_bot_token = (
        await client.post(
            f"{API}/bots", json={"name": "O", "username": "other_x_bot"}, headers=alice.headers
        )
    ).json()["token"]
    foreign = await client.post(
        f"{API}/bot{other_bot_token}/answerCallbackQuery", json={"callback_query_id": query_id}
    )
    assert foreign.status_code == 400
    answered = await call(
        client, bot, "answerCallbackQuery", callback_query_id=query_id, text="Done"
    )
    assert answered.json() == {"ok": True, "result": True}
    twice = await call(client, bot, "answerCallbackQuery", callback_query_id=query_id)
    assert twice.status_code == 400
    state = await client.get(f"{API}/callback-queries/{query_id}", headers=bob.headers)
    assert state.json()["answered"] is True and state.json()["text"] == "Done"
    assert (
        await client.get(f"{API}/callback-queries/{query_id}", headers=alice.headers)
    ).status_code == 404

    edited = await call(
        client, bot, "editMessageText", chat_id=bob.user_id, message_id=seq, text="Yes it is"
    )
    result = edited.json()["result"]
    assert result["text"] == "Yes it is" and "edit_date" in result
    assert "reply_markup" not in result  # an edit without reply_markup removes the keyboard
    assert (await client.get(markup_url, headers=bob.headers)).json()["reply_markup"] is None
    same = await call(
        client, bot, "editMessageText", chat_id=bob.user_id, message_id=seq, text="Yes it is"
    )
    assert same.status_code == 400
    assert same.json()["description"].startswith("Bad Request: message is not modified")
    history = await client.get(f"{API}/conversations/{chat['id']}/messages", headers=bob.headers)
    target = next(m for m in history.json()["items"] if m["seq"] == seq)
    assert target["body"] == "Yes it is" and target["edited_at"] is not None
    # The old keyboard's buttons no longer work.
    late = await client.post(press_url, json={"data": "no"}, headers=bob.headers)
    assert late.status_code == 422


async def test_bot_cannot_edit_someone_elses_message(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith, say: Say
) -> None:
    chat = await chat_with(bob, bot)
    mine = await say(bob, chat["id"], "my words")
    response = await call(
        client, bot, "editMessageText", chat_id=bob.user_id, message_id=mine["seq"], text="yours"
    )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: message can't be edited"
    history = await client.get(f"{API}/conversations/{chat['id']}/messages", headers=bob.headers)
    assert history.json()["items"][0]["body"] == "my words"


async def test_bot_in_a_group_and_a_channel(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, new_bot: NewBot, say: Say
) -> None:
    bot = await new_bot(alice)
    group = await client.post(
        f"{API}/conversations",
        json={"kind": "group", "title": "Club", "members": [bob.id, str(bot.bot_id)]},
        headers=alice.headers,
    )
    channel = await client.post(
        f"{API}/conversations",
        json={"kind": "channel", "title": "News", "members": [str(bot.bot_id)]},
        headers=alice.headers,
    )
    group_id, channel_id = group.json()["id"], channel.json()["id"]
    await say(bob, group_id, "hello group")
    await say(alice, channel_id, "breaking")
    got = await pending_updates(client, bot, 2)
    assert got[0]["message"]["chat"] == {
        "id": -int(group_id),
        "type": "supergroup",
        "title": "Club",
    }
    assert got[1]["channel_post"]["chat"]["type"] == "channel"
    assert got[1]["channel_post"]["sender_chat"]["id"] == -int(channel_id)
    assert "from" not in got[1]["channel_post"]
    reply = await call(client, bot, "sendMessage", chat_id=-int(group_id), text="hi all")
    assert reply.json()["result"]["chat"]["id"] == -int(group_id)
    # A subscriber bot may not post in the channel.
    refused = await call(client, bot, "sendMessage", chat_id=-int(channel_id), text="spam")
    assert refused.status_code == 403


async def test_allowed_updates_filter_future_updates(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, new_bot: NewBot, say: Say
) -> None:
    picky, witness = await new_bot(alice), await new_bot(alice)
    group = await client.post(
        f"{API}/conversations",
        json={"kind": "group", "title": "G", "members": [str(picky.bot_id), str(witness.bot_id)]},
        headers=alice.headers,
    )
    first = await call(client, picky, "getUpdates", allowed_updates=json.dumps(["callback_query"]))
    assert first.json()["result"] == []
    await say(alice, group.json()["id"], "ignored")
    # Both bots' updates of a message are made together: once the witness has its update, the
    # picky bot's filter has been applied.
    await pending_updates(client, witness, 1)
    assert (await call(client, picky, "getUpdates")).json()["result"] == []
    await call(client, picky, "getUpdates", allowed_updates=[])
    await say(alice, group.json()["id"], "seen")
    got = await pending_updates(client, picky, 1)
    assert [u["message"]["text"] for u in got] == ["seen"]
