"""The messaging chat page (Instant Messenger's `/instant-messenger/`).

Through the ASGI app: the page answers a signed-in user, sends others to log in, serves only its
own static files, and makes the visitor findable by name. In a real browser: two users in two
browser contexts chat over the real server and see each other's messages, typing, presence and
read receipts live.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer, Traffic

SLUG = "instant-messenger"
PAGE = f"/{SLUG}/"
API = f"/api/{SLUG}"
PASSWORD = "a long enough passphrase"
SCREENSHOTS = os.environ.get("CASEBOOK_SCREENSHOTS", "")


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    name: str
    token: str


async def register(client: httpx.AsyncClient, email: str, name: str) -> Person:
    """A new account, logged in through the JSON API."""
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": name}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return Person(str(registered.json()["id"]), email, name, login.json()["access_token"])


def page_config(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="chat-config">(.*?)</script>', html)
    assert found is not None, "the page carries its configuration"
    config: dict[str, object] = json.loads(found.group(1))
    return config


@pytest.mark.feature(SLUG, "user-accounts")
async def test_the_chat_page_answers_signed_in_users_and_sends_others_to_log_in(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await client.get(PAGE)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next={PAGE}"

    ada = await register(client, "ada@example.com", "Ada Lovelace")
    client.cookies.set("casebook_access", ada.token)
    response = await client.get(PAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    config = page_config(response.text)
    assert config["me"] == {"id": ada.user_id, "name": "Ada Lovelace"}
    assert config["api"] == API and config["ws"] == f"/ws/{SLUG}"
    # Every script and stylesheet is one of ours, served by this site: nothing from a CDN.
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', response.text)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)

    script = await client.get(f"{PAGE}static/chat.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "new WebSocket(" in script.text
    style = await client.get(f"{PAGE}static/chat.css")
    assert style.headers["content-type"].startswith("text/css")
    # Only the page's own files: not the templates, not the Python next to them.
    for name in ("__init__.py", "messaging_chat.html", "..%2F__init__.py"):
        refused = await client.get(f"{PAGE}static/{name}")
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.feature(SLUG, "contacts")
async def test_opening_the_page_makes_the_user_findable_by_name(
    client: httpx.AsyncClient,
) -> None:
    ada = await register(client, "ada@example.com", "Ada Lovelace")
    grace = await register(client, "grace@example.com", "Grace Hopper")
    search = f"{API}/users/search"
    as_ada = {"Authorization": f"Bearer {ada.token}"}
    before = await client.get(search, params={"q": "grace"}, headers=as_ada)
    assert before.status_code == 200 and before.json() == []

    client.cookies.set("casebook_access", grace.token)
    assert (await client.get(PAGE)).status_code == 200
    assert (await client.get(PAGE)).status_code == 200  # a second visit changes nothing
    client.cookies.clear()

    after = await client.get(search, params={"q": "grace"}, headers=as_ada)
    assert [(p["user_id"], p["display_name"]) for p in after.json()] == [
        (grace.user_id, "Grace Hopper")
    ]


# In a real browser -------------------------------------------------------------------------


@dataclass
class Tab:
    page: Page
    traffic: Traffic


async def open_tab(browser: Browser, contexts: list[BrowserContext]) -> Tab:
    """A page in a browser context of its own (its own cookies and localStorage)."""
    context = await browser.new_context()
    contexts.append(context)
    page = await context.new_page()
    page.set_default_timeout(20_000)  # generous: CI runs this beside other tests
    traffic = Traffic()
    page.on("request", traffic.on_request)
    page.on("requestfailed", traffic.on_request_failed)
    page.on("response", traffic.on_response)
    page.on("console", traffic.on_console)
    page.on("pageerror", traffic.on_page_error)
    return Tab(page, traffic)


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    try:
        yield opened
    finally:
        for context in opened:
            await context.close()


async def sign_in(tab: Tab, base: str, person: Person) -> None:
    """Open the chat, log in on the page it redirects to, and wait for the live connection."""
    page = tab.page
    await page.goto(base + PAGE)
    await expect(page).to_have_url(f"{base}/login?next={PAGE}")
    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(base + PAGE)
    await expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()


@pytest.mark.e2e
@pytest.mark.feature(SLUG, "messaging")
@pytest.mark.feature(SLUG, "receipts")
@pytest.mark.feature(SLUG, "presence")
async def test_two_users_chat_live_and_see_the_read_receipt(
    live_server: LiveServer, browser: Browser, contexts: list[BrowserContext]
) -> None:
    base = live_server.url
    async with httpx.AsyncClient(base_url=base) as http:
        ada = await register(http, "ada@example.com", "Ada Lovelace")
        grace = await register(http, "grace@example.com", "Grace Hopper")
    one = await open_tab(browser, contexts)
    two = await open_tab(browser, contexts)
    await sign_in(one, base, ada)
    await sign_in(two, base, grace)
    await expect(two.page.locator("#conversation-empty")).to_be_visible()

    # Ada finds Grace by name and opens a direct chat with her.
    await one.page.get_by_role("button", name="New chat").click()
    await one.page.get_by_label("Find a person by name or username").fill("Grace")
    await one.page.get_by_role("button", name="Grace Hopper").click()
    await expect(one.page.locator("#thread-title")).to_have_text("Grace Hopper")
    await expect(one.page.locator("#thread-status")).to_have_text("online")

    await one.page.get_by_label("Message", exact=True).fill("Hello Grace 👋")
    await one.page.get_by_role("button", name="Send").click()
    sent = one.page.get_by_test_id("message").filter(has_text="Hello Grace 👋")
    await expect(sent).to_have_count(1)
    receipt = sent.get_by_test_id("receipt")
    await expect(receipt).to_have_attribute("data-state", re.compile(r"^(sent|delivered)$"))

    # Grace sees the new chat arrive live, unread, with the message as its last line.
    chat = two.page.locator("button.conversation").filter(has_text="Ada Lovelace")
    await expect(chat).to_be_visible()
    await expect(chat.get_by_test_id("last-message")).to_have_text("Hello Grace 👋")
    await expect(chat.get_by_test_id("unread")).to_have_text("1")
    # Her browser acknowledged it on arrival: Ada's receipt says delivered before any read.
    await expect(receipt).to_have_text("Delivered")

    # Opening the thread reads it: the badge goes, and Ada's receipt turns to read.
    await chat.click()
    await expect(two.page.locator("#thread-title")).to_have_text("Ada Lovelace")
    await expect(two.page.get_by_test_id("message-body")).to_have_text(["Hello Grace 👋"])
    await expect(chat.get_by_test_id("unread")).to_have_count(0)
    await expect(receipt).to_have_text("Read")
    await expect(receipt).to_have_attribute("data-state", "read")

    # Grace types (Ada sees it) and answers (Ada sees the answer live, in order).
    await two.page.get_by_label("Message", exact=True).fill("Hi Ada!")
    await expect(one.page.locator("#typing")).to_have_text("Grace Hopper typing…")
    await two.page.get_by_label("Message", exact=True).press("Enter")
    await expect(one.page.get_by_test_id("message-body")).to_have_text(
        ["Hello Grace 👋", "Hi Ada!"]
    )
    await expect(one.page.locator("#typing")).to_have_text("")
    answer = two.page.get_by_test_id("message").filter(has_text="Hi Ada!")
    await expect(answer.get_by_test_id("receipt")).to_have_text("Read")

    for tab in (one, two):
        await expect(tab.page.get_by_role("alert")).to_be_hidden()
        hosts = {urlsplit(u).hostname for u in tab.traffic.requests if not u.startswith("data:")}
        assert hosts == {"127.0.0.1"}
        tab.traffic.assert_clean()


def png_bytes(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (31, 78, 121))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.e2e
@pytest.mark.feature(SLUG, "media-sharing")
@pytest.mark.feature(SLUG, "emoji-stickers")
async def test_an_image_with_an_emoji_caption_reaches_the_other_user_as_a_thumbnail(
    live_server: LiveServer, browser: Browser, contexts: list[BrowserContext]
) -> None:
    base = live_server.url
    async with httpx.AsyncClient(base_url=base) as http:
        ada = await register(http, "ada@example.com", "Ada Lovelace")
        grace = await register(http, "grace@example.com", "Grace Hopper")
    one = await open_tab(browser, contexts)
    two = await open_tab(browser, contexts)
    await sign_in(one, base, ada)
    await sign_in(two, base, grace)
    await one.page.get_by_role("button", name="New chat").click()
    await one.page.get_by_label("Find a person by name or username").fill("hopper")
    await one.page.get_by_role("button", name="Grace Hopper").click()
    await expect(one.page.locator("#thread-title")).to_have_text("Grace Hopper")

    await one.page.locator("#composer-file").set_input_files(
        {"name": "harbour.png", "mimeType": "image/png", "buffer": png_bytes(900, 600)}
    )
    draft = one.page.get_by_role("list", name="Attachments to send")
    await expect(draft).to_contain_text("harbour.png")
    await expect(draft).not_to_contain_text("uploading")
    await one.page.get_by_label("Message", exact=True).fill("The harbour ")
    # The emoji panel opens from its button, and a click puts the emoji at the caret.
    panel = one.page.get_by_role("group", name="Emoji")
    toggle = one.page.get_by_role("button", name="Insert an emoji")
    await expect(panel).to_be_hidden()
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await one.page.get_by_role("button", name="Insert 🎉").click()
    await expect(one.page.get_by_label("Message", exact=True)).to_have_value("The harbour 🎉")
    # Keyboard: the panel closes with Escape and gives the focus back to its button.
    await panel.get_by_role("button").first.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(toggle).to_be_focused()
    await one.page.get_by_role("button", name="Send").click()
    await expect(draft.locator("li")).to_have_count(0)

    chat = two.page.locator("button.conversation").filter(has_text="Ada Lovelace")
    await expect(chat.get_by_test_id("last-message")).to_have_text("📎 The harbour 🎉")
    await chat.click()
    message = two.page.get_by_test_id("message").filter(has_text="The harbour 🎉")
    thumbnail = message.get_by_test_id("thumbnail")
    await expect(thumbnail).to_have_attribute("alt", "harbour.png")
    # The engine's 320 px thumbnail, really decoded by the browser.
    await expect(thumbnail).to_have_attribute("width", "320")
    # The thumbnail loads lazily, after its attributes are set: wait for the browser to have
    # decoded it (decode() rejects, failing the test, if the bytes are not an image).
    await thumbnail.scroll_into_view_if_needed()
    assert await thumbnail.evaluate("img => img.decode().then(() => img.naturalWidth)") == 320
    await expect(one.page.get_by_test_id("thumbnail")).to_have_count(1)
    await expect(
        one.page.get_by_test_id("message").filter(has_text="The harbour").get_by_test_id("receipt")
    ).to_have_text("Read")
    if SCREENSHOTS:
        await one.page.screenshot(path=f"{SCREENSHOTS}/chat-ada.png", full_page=True)
        await two.page.screenshot(path=f"{SCREENSHOTS}/chat-grace.png", full_page=True)
    for tab in (one, two):
        await expect(tab.page.get_by_role("alert")).to_be_hidden()
        tab.traffic.assert_clean()


@pytest.mark.e2e
@pytest.mark.feature(SLUG, "group-chats")
async def test_a_group_made_on_the_page_reaches_its_member_with_read_by_counts(
    live_server: LiveServer, browser: Browser, contexts: list[BrowserContext]
) -> None:
    base = live_server.url
    async with httpx.AsyncClient(base_url=base) as http:
        ada = await register(http, "ada@example.com", "Ada Lovelace")
        grace = await register(http, "grace@example.com", "Grace Hopper")
    one = await open_tab(browser, contexts)
    two = await open_tab(browser, contexts)
    await sign_in(one, base, ada)
    await sign_in(two, base, grace)

    await one.page.get_by_role("button", name="New group").click()
    dialog = one.page.get_by_role("dialog", name="New group")
    await dialog.get_by_label("Group name").fill("   ")
    await dialog.get_by_role("button", name="Create group").click()
    await expect(dialog.get_by_role("status")).to_have_text("Give the group a name first.")
    await expect(dialog.get_by_label("Group name")).to_be_focused()
    await dialog.get_by_label("Group name").fill("Analytical Engine")
    await dialog.get_by_label("Add people").fill("Grace")
    await dialog.get_by_role("button", name="Grace Hopper").click()
    await expect(dialog.get_by_role("list", name="Members")).to_have_text(
        re.compile("Grace Hopper")
    )
    await dialog.get_by_role("button", name="Create group").click()
    await expect(dialog).to_be_hidden()
    await expect(one.page.locator("#thread-title")).to_have_text("Analytical Engine")
    await expect(one.page.locator("#thread-status")).to_have_text("2 members")

    await one.page.get_by_label("Message", exact=True).fill("Welcome aboard")
    await one.page.get_by_label("Message", exact=True).press("Enter")
    receipt = one.page.get_by_test_id("receipt")
    await expect(receipt).to_have_text("Delivered to 1 of 1")

    group = two.page.locator("button.conversation").filter(has_text="Analytical Engine")
    await expect(group.get_by_test_id("unread")).to_have_text("1")
    await group.click()
    await expect(receipt).to_have_text("Read by 1 of 1")
    await two.page.get_by_label("Message", exact=True).fill("Glad to be here")
    await two.page.get_by_role("button", name="Send").click()
    answer = one.page.get_by_test_id("message").filter(has_text="Glad to be here")
    await expect(answer.locator(".message-sender")).to_have_text("Grace Hopper")
    for tab in (one, two):
        await expect(tab.page.get_by_role("alert")).to_be_hidden()
        tab.traffic.assert_clean()
