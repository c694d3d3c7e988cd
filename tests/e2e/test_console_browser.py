"""The console, sign-in and API docs in a real browser against a real server."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer, Traffic

pytestmark = pytest.mark.e2e

SCREENSHOTS = os.environ.get("CASEBOOK_SCREENSHOTS", "")


def _all_local(urls: list[str]) -> list[str]:
    """The URLs that leave 127.0.0.1 (data: URLs carry no request to anyone)."""
    return [u for u in urls if not u.startswith("data:") and urlsplit(u).hostname != "127.0.0.1"]


async def test_console_lists_43_systems_without_errors(
    live_server: LiveServer, page: Page, traffic: Traffic
) -> None:
    response = await page.goto(live_server.url + "/")
    assert response is not None and response.status == 200
    await expect(page).to_have_title("Systems · Casebook")
    await expect(page.locator("tr.system-row")).to_have_count(43)
    await expect(page.locator('tr[data-slug="url-shortener"] .badge')).to_have_text("built")
    await expect(page.locator('tr[data-slug="zoom"] .badge')).to_have_text("not yet")
    # The stylesheet applied: the header bar has the surface colour, not the default transparent.
    background = await page.locator(".site-header").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    await page.wait_for_load_state("networkidle")
    traffic.assert_clean()
    assert _all_local(traffic.requests) == []

    if SCREENSHOTS:
        # For a person checking the layout: CASEBOOK_SCREENSHOTS=<dir> keeps a picture.
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.screenshot(path=str(Path(SCREENSHOTS) / "console.png"))


async def test_system_detail_page_from_the_console(
    live_server: LiveServer, page: Page, traffic: Traffic
) -> None:
    await page.goto(live_server.url + "/")
    await page.locator('tr[data-slug="url-shortener"] a.system-title').click()
    await expect(page).to_have_url(live_server.url + "/systems/url-shortener")
    await expect(page.locator("h1")).to_have_text("1. URL Shortener")
    await expect(page.locator("table.features tbody tr")).to_have_count(11)
    traffic.assert_clean()


async def test_register_then_log_out_then_log_in_again(
    live_server: LiveServer, page: Page, traffic: Traffic
) -> None:
    await page.goto(live_server.url + "/systems/zoom")
    await page.get_by_role("link", name="Register").click()
    await page.get_by_label("Name").fill("Grace Hopper")
    await page.get_by_label("Email").fill("grace@example.com")
    await page.get_by_label("Password").fill("a long enough passphrase")
    await page.get_by_role("button", name="Register").click()

    # Back where she started, signed in.
    await expect(page).to_have_url(live_server.url + "/systems/zoom")
    await expect(page.get_by_test_id("viewer")).to_have_text("Signed in as Grace Hopper")

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(live_server.url + "/")
    await expect(page.get_by_test_id("viewer")).to_have_count(0)
    await expect(page.get_by_role("link", name="Log in")).to_be_visible()

    await page.get_by_role("link", name="Log in").click()
    await page.get_by_label("Email").fill("grace@example.com")
    await page.get_by_label("Password").fill("not her password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Check the e-mail address and password")

    await page.get_by_label("Password").fill("a long enough passphrase")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(live_server.url + "/")
    await expect(page.get_by_test_id("viewer")).to_have_text("Signed in as Grace Hopper")

    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["casebook_access"]["httpOnly"] is True
    assert cookies["casebook_access"]["sameSite"] == "Lax"
    assert _all_local(traffic.requests) == []
    # The wrong password was the only error response: the form's 401.
    assert traffic.failed == []
    assert traffic.error_responses == [f"401 {live_server.url}/login"]
    assert all("401" in message for message in traffic.console_errors)


async def test_api_docs_render_offline(
    live_server: LiveServer, page: Page, traffic: Traffic
) -> None:
    # The console's "API" link: a deep link that opens one system's endpoints.
    await page.goto(live_server.url + "/docs#/url-shortener")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Casebook")
    await expect(page.locator("#operations-tag-url-shortener")).to_be_visible()
    operations = page.locator("#operations-tag-url-shortener + div .opblock")
    await expect(operations.first).to_be_visible()
    await page.wait_for_load_state("networkidle")

    assert traffic.requests, "the page made requests"
    assert _all_local(traffic.requests) == []
    assert f"{live_server.url}/openapi.json" in traffic.requests
    traffic.assert_clean()
