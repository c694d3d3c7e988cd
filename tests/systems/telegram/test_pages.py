"""The Telegram pages through the `client` fixture: the chat page, and the bot console (list,
create with the token shown once, revoke, recent updates, webhook state) in English or Russian
chosen by ?lang= or Accept-Language, with strings from the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from casebook.systems.telegram import i18n
from tests.systems.telegram.conftest import Bot, ChatWith, NewBot, Say, TgUser

CONSOLE = "/telegram/bots"
SAME_ORIGIN = {"Origin": "http://testserver"}


def sign_in(client: httpx.AsyncClient, user: TgUser) -> None:
    client.cookies.set("casebook_access", user.token)


async def test_visitors_are_sent_to_log_in(client: httpx.AsyncClient) -> None:
    chat = await client.get("/telegram/")
    console = await client.get(CONSOLE)
    assert chat.status_code == console.status_code == 303
    assert console.headers["location"] == "/login?next=/telegram/bots"


async def test_the_chat_page_is_telegrams(client: httpx.AsyncClient, alice: TgUser) -> None:
    sign_in(client, alice)
    page = await client.get("/telegram/")
    assert page.status_code == 200
    assert (
        "Telegram" in page.text and '"/api/telegram"' in page.text and "/ws/telegram" in page.text
    )


@pytest.mark.feature("telegram", "bots")
async def test_the_console_creates_a_bot_shows_its_token_once_and_revokes_it(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser
) -> None:
    sign_in(client, alice)
    empty = await client.get(CONSOLE)
    assert empty.status_code == 200 and "You have no bots yet." in empty.text

    created = await client.post(
        CONSOLE, data={"name": "Weather", "username": "weather_now_bot"}, headers=SAME_ORIGIN
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    token_match = re.search(r"data-token>([0-9]+:[A-Za-z0-9_-]+)<", created.text)
    assert token_match is not None
    token = token_match.group(1)
    me = await client.get(f"/api/telegram/bot{token}/getMe")
    assert me.json()["result"]["username"] == "weather_now_bot"
    # Listed afterwards without its token.
    listed = await client.get(CONSOLE)
    assert "@weather_now_bot" in listed.text and token not in listed.text
    assert token.split(":")[1] not in listed.text

    # A refusal is explained, and nothing is created.
    taken = await client.post(
        CONSOLE, data={"name": "Other", "username": "weather_now_bot"}, headers=SAME_ORIGIN
    )
    assert taken.status_code == 409 and 'role="alert"' in taken.text
    bad = await client.post(CONSOLE, data={"name": "Bad", "username": "nope"}, headers=SAME_ORIGIN)
    assert bad.status_code == 422
    assert (await client.get(CONSOLE)).text.count('class="bot"') == 1

    # Cross-site posts are refused.
    forged = await client.post(
        CONSOLE,
        data={"name": "Evil", "username": "evil_forged_bot"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403

    bot_id = token.split(":")[0]
    # Another user cannot revoke it.
    sign_in(client, bob)
    stolen = await client.post(f"/telegram/bots/{bot_id}/revoke", headers=SAME_ORIGIN)
    assert stolen.status_code == 404
    assert (await client.get(f"/api/telegram/bot{token}/getMe")).status_code == 200

    sign_in(client, alice)
    revoked = await client.post(f"/telegram/bots/{bot_id}/revoke", headers=SAME_ORIGIN)
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/telegram/bots?lang=en"
    page = await client.get(CONSOLE)
    assert re.search(r"data-status>revoked<", page.text)
    assert "Revoke token" not in page.text
    assert (await client.get(f"/api/telegram/bot{token}/getMe")).status_code == 401


@pytest.mark.feature("telegram", "bots")
async def test_the_console_shows_recent_updates_and_the_webhook_state(
    client: httpx.AsyncClient,
    alice: TgUser,
    bob: TgUser,
    bot: Bot,
    chat_with: ChatWith,
    say: Say,
    new_bot: NewBot,
) -> None:
    chat = await chat_with(bob, bot)
    for i in range(7):
        await say(bob, chat["id"], f"question <{i}>")
    hooked = await client.post(
        f"{bot.path}/setWebhook", json={"url": "http://127.0.0.1:9/unreachable"}
    )
    assert hooked.json()["ok"] is True
    sign_in(client, alice)
    page = (await client.get(CONSOLE)).text
    section = page[page.index(f'data-bot="{bot.bot_id}"') :]
    assert re.search(r"data-pending>7<", section)
    shown = re.findall(r'data-update="(\d+)"', section)
    assert len(shown) == 5  # the newest five, newest first
    assert [int(u) for u in shown] == sorted((int(u) for u in shown), reverse=True)
    assert "question &lt;6&gt;" in section and "question <6>" not in section  # escaped
    assert "http://127.0.0.1:9/unreachable" in section
    # Bob sees none of Alice's bots.
    sign_in(client, bob)
    assert f'data-bot="{bot.bot_id}"' not in (await client.get(CONSOLE)).text


async def test_the_console_speaks_russian_by_query_or_accept_language(
    client: httpx.AsyncClient, alice: TgUser
) -> None:
    sign_in(client, alice)
    ru = i18n.strings("ru")
    by_header = await client.get(CONSOLE, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert by_header.headers["content-language"] == "ru"
    assert ru["console_title"] in by_header.text and ru["no_bots"] in by_header.text
    assert 'lang="ru"' in by_header.text
    assert "Bot console" not in by_header.text
    by_query = await client.get(CONSOLE, params={"lang": "ru"})
    assert ru["create_button"] in by_query.text
    # The explicit switch wins over the header; unknown languages fall back to English.
    english = await client.get(CONSOLE, params={"lang": "en"}, headers={"Accept-Language": "ru"})
    assert "Bot console" in english.text and english.headers["content-language"] == "en"
    unknown = await client.get(CONSOLE, headers={"Accept-Language": "xx, ru;q=0"})
    assert unknown.headers["content-language"] == "en"
    weighted = await client.get(CONSOLE, headers={"Accept-Language": "en;q=0.3, ru;q=0.8"})
    assert weighted.headers["content-language"] == "ru"
    # A form posted in Russian answers in Russian.
    created = await client.post(
        f"{CONSOLE}?lang=ru",
        data={"name": "Погода", "username": "pogoda_ru_bot"},
        headers=SAME_ORIGIN,
    )
    assert created.status_code == 201 and ru["token_once"] in created.text


def test_every_language_of_the_catalogue_has_every_string(tmp_path: Path) -> None:
    assert set(i18n.LANGUAGES) >= {"en", "ru"}
    for lang in i18n.LANGUAGES:
        assert set(i18n.strings(lang)) == set(i18n.strings("en"))
    broken = tmp_path / "i18n.toml"
    broken.write_text('[en]\na = "A"\nb = "B"\n\n[ru]\na = "Z"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[ru\]: missing \['b'\]"):
        i18n.load_catalogue(broken)
