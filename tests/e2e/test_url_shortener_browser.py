"""The URL Shortener's page in a real browser: sign in, shorten, follow the link, see the click."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer, Traffic

pytestmark = pytest.mark.e2e

CLICK_WAIT_SECONDS = 15.0
"""Clicks reach the database off the redirect path, flushed about once a second."""


async def test_shorten_a_url_follow_it_and_see_the_click_on_the_chart(
    live_server: LiveServer, page: Page, traffic: Traffic
) -> None:
    base = live_server.url
    # Anonymous visitors are sent to sign in, and come back once registered.
    await page.goto(base + "/url-shortener/")
    await expect(page).to_have_url(base + "/login?next=/url-shortener/")
    await page.locator(".form-card").get_by_role("link", name="Register").click()
    await page.get_by_label("Name").fill("Linus")
    await page.get_by_label("Email").fill("linus@example.com")
    await page.get_by_label("Password").fill("a long enough passphrase")
    await page.get_by_role("button", name="Register").click()
    await expect(page).to_have_url(base + "/url-shortener/")
    await expect(page.get_by_test_id("viewer")).to_have_text("Signed in as Linus")

    # The target is this same server at another loopback address: a real page on another host,
    # never the internet, and not the short host itself (which the shortener refuses as a loop).
    target = live_server.alias_url + "/systems/zoom"
    await page.get_by_label("Long URL").fill(target)
    await page.get_by_role("button", name="Shorten").click()
    await expect(page).to_have_url(re.compile(re.escape(base) + r"/url-shortener/links/\w+$"))
    short_url = (await page.locator("h1 code").inner_text()).strip()
    assert short_url.startswith(base + "/")
    link_page = page.url
    await expect(page.get_by_test_id("click-count")).to_have_text("0")
    await expect(page.locator("[data-testid=clicks-chart] rect.bar")).to_have_count(0)

    await page.goto(short_url)
    await expect(page).to_have_url(target)
    await expect(page.locator("h1")).to_have_text("43. Zoom")

    deadline = time.monotonic() + CLICK_WAIT_SECONDS
    while True:
        await page.goto(link_page)
        if await page.get_by_test_id("click-count").inner_text() == "1":
            break
        assert time.monotonic() < deadline, "the click never reached the link's page"
        await asyncio.sleep(0.2)
    bars = page.locator("[data-testid=clicks-chart] rect.bar")
    await expect(bars).to_have_count(1)
    await expect(bars.locator("title")).to_have_text(re.compile(r": 1$"))

    hosts = {urlsplit(u).hostname for u in traffic.requests if not u.startswith("data:")}
    assert hosts == {"127.0.0.1", "127.0.0.2"}
    traffic.assert_clean()
