"""sendPhoto: a multipart upload (compressed and thumbnailed like Telegram does) or the
file_id of an earlier photo; a user's photo reaches the bot as PhotoSizes."""

from __future__ import annotations

import io
import secrets

import httpx
import pytest
from PIL import Image

from tests.systems.telegram.conftest import API, Bot, ChatWith, TgUser, pending_updates

pytestmark = pytest.mark.feature("telegram", "bots")


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_send_photo_by_upload_then_by_file_id(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith
) -> None:
    chat = await chat_with(bob, bot)
    uploaded = await client.post(
        f"{bot.path}/sendPhoto",
        data={"chat_id": bob.id, "caption": "big red"},
        files={"photo": ("red.png", png(2000, 1000), "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    message = uploaded.json()["result"]
    sizes = message["photo"]
    assert message["caption"] == "big red"
    assert [(s["width"], s["height"]) for s in sizes] == [(320, 160), (1280, 640), (2000, 1000)]
    again = await client.post(
        f"{bot.path}/sendPhoto", json={"chat_id": bob.user_id, "photo": sizes[1]["file_id"]}
    )
    assert again.status_code == 200, again.text
    assert again.json()["result"]["photo"][-1]["file_id"] == sizes[-1]["file_id"]
    history = await client.get(f"{API}/conversations/{chat['id']}/messages", headers=bob.headers)
    assert [m["kind"] for m in history.json()["items"]] == ["media", "media"]
    assert [m["body"] for m in history.json()["items"]] == [None, "big red"]
    for bad in ("123456", "nonsense"):
        wrong = await client.post(
            f"{bot.path}/sendPhoto", json={"chat_id": bob.user_id, "photo": bad}
        )
        assert wrong.status_code == 400
    not_an_image = await client.post(
        f"{bot.path}/sendPhoto",
        data={"chat_id": bob.id},
        files={"photo": ("x.png", b"this is text", "image/png")},
    )
    assert not_an_image.status_code == 400
    assert not_an_image.json()["ok"] is False


async def test_users_photo_reaches_the_bot_and_the_bot_can_send_it_back(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith
) -> None:
    chat = await chat_with(bob, bot)
    upload = await client.post(
        f"{API}/attachments",
        params={"kind": "image"},
        files={"file": ("me.png", png(400, 300), "image/png")},
        headers=bob.headers,
    )
    assert upload.status_code == 201, upload.text
    attachment_id = upload.json()["id"]
    sent = await client.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={
            "client_id": secrets.token_hex(4),
            "kind": "media",
            "body": "look",
            "data": {"attachments": [attachment_id]},
        },
        headers=bob.headers,
    )
    assert sent.status_code == 201, sent.text
    update = (await pending_updates(client, bot, 1))[0]["message"]
    assert update["caption"] == "look"
    assert update["photo"][-1]["file_id"] == attachment_id
    echoed = await client.post(
        f"{bot.path}/sendPhoto", json={"chat_id": bob.user_id, "photo": attachment_id}
    )
    assert echoed.status_code == 200, echoed.text
    copy = echoed.json()["result"]["photo"][-1]
    assert copy["file_id"] != attachment_id  # the bot's own copy of the file
    assert copy["file_unique_id"] == update["photo"][-1]["file_unique_id"]  # same bytes
