"""Telegram's chat page in the visitor's language (seed 002 §1, "multi-language support").

Through the `client` fixture: `?lang=` or Accept-Language picks the language; the page's own
markup and the strings table handed to chat.js (the `#chat-strings` JSON block) are both in it,
the response says so (Content-Language, Vary), and the page still runs no inline script. Other
messaging systems keep the English page. The catalogue check refuses a translation that loses a
key or a placeholder, and every key the page uses is in the catalogue.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import httpx
import pytest

from casebook.engines.messaging import web
from casebook.engines.messaging.web.strings import ENGLISH, ChatLocale
from casebook.systems.telegram import i18n
from tests.systems.telegram.conftest import TgUser

PAGE = "/telegram/"
WEB = Path(web.__file__).parent
SHOWN_BY_THE_TEMPLATE = (
    "connecting",
    "new_chat",
    "new_group",
    "choose_conversation",
    "load_older",
    "thread_empty",
    "composer_placeholder",
    "send",
    "find_person",
    "group_name",
    "add_people",
    "create_group",
    "dismiss",
)


def json_block(page: str, block_id: str) -> dict[str, object]:
    found = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', page)
    assert found is not None, f"the page carries #{block_id}"
    value: dict[str, object] = json.loads(found.group(1))
    return value


def markup(page: str) -> str:
    """The page without its JSON blocks: what the template itself rendered."""
    return re.sub(r'<script type="application/json"[^>]*>.*?</script>', "", page, flags=re.S)


def assert_speaks(page: httpx.Response, lang: str) -> None:
    strings = i18n.CHAT_LOCALES[lang].strings
    shown = markup(page.text)
    for key in SHOWN_BY_THE_TEMPLATE:
        assert html.escape(strings[key]) in shown, key
    assert f'<div class="chat" data-testid="chat" lang="{lang}">' in shown
    handed = json_block(page.text, "chat-strings")
    assert handed == {"lang": lang, "strings": dict(strings)}
    assert page.headers["content-language"] == lang
    assert "Accept-Language" in page.headers["vary"]


async def test_accept_language_ru_gives_the_russian_chat_page_and_script_strings(
    client: httpx.AsyncClient, alice: TgUser
) -> None:
    client.cookies.set("casebook_access", alice.token)
    page = await client.get(PAGE, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert page.status_code == 200
    assert_speaks(page, "ru")
    ru = i18n.CHAT_LOCALES["ru"].strings
    assert ru["new_chat"] == "Новый чат"  # a real translation, not a copy of the English
    shown = markup(page.text)
    for key in SHOWN_BY_THE_TEMPLATE:
        assert html.escape(ENGLISH[key]) not in shown, key
    # The empty list's hint keeps the button's name in bold, in Russian.
    assert f"<strong>{ru['new_chat']}</strong>" in shown
    # The script's own strings came along: receipts, presence, errors.
    strings = json_block(page.text, "chat-strings")["strings"]
    assert isinstance(strings, dict)
    assert strings["receipt_read_by"] == "Прочитали: {count} из {total}"
    assert strings["online"] == "в сети"
    # The page's configuration is unchanged by the language.
    assert json_block(page.text, "chat-config")["api"] == "/api/telegram"


async def test_lang_query_switches_the_chat_page_and_wins_over_the_header(
    client: httpx.AsyncClient, alice: TgUser
) -> None:
    client.cookies.set("casebook_access", alice.token)
    assert_speaks(await client.get(PAGE, params={"lang": "ru"}), "ru")
    english = await client.get(PAGE, params={"lang": "en"}, headers={"Accept-Language": "ru"})
    assert_speaks(english, "en")
    unknown = await client.get(PAGE, headers={"Accept-Language": "xx, ru;q=0"})
    assert_speaks(unknown, "en")
    # The switcher links every language of the catalogue, the current one marked.
    page = (await client.get(PAGE, params={"lang": "ru"})).text
    for code in i18n.LANGUAGES:
        assert f'href="{PAGE}?lang={code}" hreflang="{code}"' in page
    assert re.search(r'hreflang="ru" lang="ru" aria-current="true"', page)


async def test_the_translated_page_runs_no_inline_script_and_keeps_its_security_headers(
    client: httpx.AsyncClient, alice: TgUser
) -> None:
    client.cookies.set("casebook_access", alice.token)
    page = await client.get(PAGE, params={"lang": "ru"})
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert page.headers["x-frame-options"] == "DENY"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, flags=re.S)
    executable = [
        (attrs, body) for attrs, body in scripts if 'type="application/json"' not in attrs
    ]
    assert executable and all('src="/' in attrs and not body.strip() for attrs, body in executable)
    # A string cannot close its JSON block: the block escapes markup characters.
    block = re.search(r'id="chat-strings">(.*?)</script>', page.text, flags=re.S)
    assert block is not None and "<" not in block.group(1)


async def test_other_messaging_systems_keep_the_english_page(
    client: httpx.AsyncClient, alice: TgUser
) -> None:
    client.cookies.set("casebook_access", alice.token)
    for slug in ("instant-messenger", "viber"):
        page = await client.get(f"/{slug}/", headers={"Accept-Language": "ru"})
        assert page.status_code == 200, slug
        assert json_block(page.text, "chat-strings") == {"lang": "en", "strings": dict(ENGLISH)}
        shown = markup(page.text)
        assert html.escape(ENGLISH["composer_placeholder"]) in shown
        assert i18n.CHAT_LOCALES["ru"].strings["new_chat"] not in shown
        assert "content-language" not in page.headers
        assert "chat-languages" not in shown  # no switcher where there is one language


def test_every_language_of_the_catalogue_translates_the_whole_chat_page() -> None:
    for lang in i18n.LANGUAGES:
        strings = i18n.CHAT_LOCALES[lang].strings
        assert set(strings) == set(ENGLISH), lang
    # A translation that drops a placeholder or a key is refused when it is built.
    broken = dict(i18n.CHAT_LOCALES["ru"].strings)
    broken["receipt_read_by"] = "Прочитали все"
    with pytest.raises(ValueError, match=r"\[ru\]: placeholders differ .*receipt_read_by"):
        ChatLocale("ru", broken)
    del broken["send"]
    with pytest.raises(ValueError, match=r"\[ru\]: missing \['send'\]"):
        ChatLocale("ru", broken)


def test_the_page_uses_exactly_the_keys_of_the_strings_table() -> None:
    template = (WEB / "templates" / "messaging_chat.html").read_text(encoding="utf-8")
    script = (WEB / "static" / "chat.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bs\.([a-z_]+)", template)) | set(
        re.findall(r'\bt\(\s*"([a-z_]+)"', script)
    )
    # Chosen by a condition, not named in one t("...") call.
    used |= set(re.findall(r'"(typing_(?:one|many))"', script))
    # The template reaches this one through locale.conversations_empty().
    used.add("conversations_empty")
    assert used == set(ENGLISH)
