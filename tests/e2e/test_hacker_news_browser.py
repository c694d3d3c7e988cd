"""Hacker News in a real browser: two people on one story's page; a comment one of them posts
appears on the other's open page without a reload, nested under the comment it answers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer, Traffic

pytestmark = pytest.mark.e2e

SLUG = "hacker-news"
HOME = f"/{SLUG}/"
API = f"/api/{SLUG}"
PASSWORD = "a long enough passphrase"


async def register(http: httpx.AsyncClient, username: str) -> str:
    """A Hacker News account; its access token."""
    created = await http.post(
        f"{API}/register",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    login = await http.post(f"{API}/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    try:
        yield opened
    finally:
        for context in opened:
            await context.close()


async def open_tab(browser: Browser, contexts: list[BrowserContext]) -> tuple[Page, Traffic]:
    """A page in a browser context of its own (its own cookies)."""
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
    return page, traffic


async def log_in_and_open(page: Page, base: str, username: str, item_path: str) -> None:
    """Open the story, follow "Log in to comment", log in, and wait for the live connection."""
    await page.goto(base + item_path)
    await page.get_by_role("link", name="Log in").last.click()
    await page.locator("#login-username").fill(username)
    await page.locator("#login-password").fill(PASSWORD)
    await page.get_by_role("button", name="login").click()
    await expect(page).to_have_url(base + item_path)
    await expect(page.get_by_test_id("hn-me")).to_have_text(username)
    await expect(page.get_by_role("status")).to_have_text(
        "Live: new comments appear here as they are posted."
    )


@pytest.mark.feature(SLUG, "real-time-updates")
@pytest.mark.feature(SLUG, "comments")
async def test_a_comment_appears_on_another_users_open_item_page_without_reload(
    live_server: LiveServer, browser: Browser, contexts: list[BrowserContext]
) -> None:
    base = live_server.url
    async with httpx.AsyncClient(base_url=base) as http:
        token = await register(http, "ada")
        await register(http, "grace")
        submitted = await http.post(
            f"{API}/stories",
            json={"title": "Ask HN: What was your first compiler?", "text": "Mine was A-0."},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert submitted.status_code == 201, submitted.text
    story_id = submitted.json()["id"]
    item_path = f"{HOME}item?id={story_id}"

    ada, ada_traffic = await open_tab(browser, contexts)
    grace, grace_traffic = await open_tab(browser, contexts)
    await log_in_and_open(ada, base, "ada", item_path)
    await log_in_and_open(grace, base, "grace", item_path)
    # A marker that a reload would wipe: Ada's page must stay the same document throughout.
    await ada.evaluate("window.stillTheSamePage = true")

    await grace.get_by_role("textbox", name="Comment").fill("FORTRAN, on punched cards.")
    await grace.get_by_role("button", name="add comment").click()
    await expect(grace).to_have_url(re.compile(re.escape(base + item_path) + r"#\d+$"))
    grace_comment = ada.get_by_test_id("comment").filter(has_text="FORTRAN, on punched cards.")
    await expect(grace_comment).to_have_count(1)
    await expect(grace_comment).to_have_attribute("data-depth", "0")
    await expect(grace_comment.locator(".hn-user")).to_have_text("grace")
    assert await ada.evaluate("window.stillTheSamePage") is True
    await expect(grace.get_by_role("status")).to_have_text(
        "Live: new comments appear here as they are posted."
    )
    await grace.evaluate("window.stillTheSamePage = true")

    # Ada upvotes it from the live-added arrow (a plain form post), then replies on its page.
    comment_id = await grace_comment.get_attribute("data-id")
    assert comment_id is not None
    await grace_comment.get_by_role("button", name=f"Upvote item {comment_id}").click()
    await expect(ada).to_have_url(base + item_path)
    await ada.goto(f"{base}{HOME}reply?id={comment_id}")
    await ada.get_by_label("Reply").fill("Punched cards! Respect.")
    await ada.get_by_role("button", name="reply").click()

    # Grace's page, never reloaded, shows the reply nested under her comment.
    reply = grace.get_by_test_id("comment").filter(has_text="Punched cards! Respect.")
    await expect(reply).to_have_attribute("data-depth", "1")
    await expect(grace.get_by_test_id("comment-text")).to_have_text(
        ["FORTRAN, on punched cards.", "Punched cards! Respect."]
    )
    assert await grace.evaluate("window.stillTheSamePage") is True

    for traffic in (ada_traffic, grace_traffic):
        hosts = {urlsplit(u).hostname for u in traffic.requests if not u.startswith("data:")}
        assert hosts == {"127.0.0.1"}
        traffic.assert_clean()
