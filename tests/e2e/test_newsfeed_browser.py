"""Facebook Newsfeed in a real browser: Alice writes a friends-only post in the composer; her
friend Bob, whose feed is open, sees it appear on top without a reload (and go when she deletes
it), while Carol, who only follows Alice, does not — and sees Alice's next, public post arrive
live, and one published while her connection was down arrive when it comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocketRoute, expect

from tests.e2e.conftest import LiveServer, Traffic

pytestmark = pytest.mark.e2e

SLUG = "facebook-newsfeed"
HOME = f"/{SLUG}/"
API = f"/api/{SLUG}"
PASSWORD = "a long enough passphrase"
LIVE = "Live: new posts appear here as they are published."


async def register(http: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str]]:
    """A user; their email and API headers (bearer token)."""
    email = f"{name.lower()}@example.com"
    created = await http.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": name}
    )
    assert created.status_code == 201, created.text
    login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return email, {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    try:
        yield opened
    finally:
        for context in opened:
            await context.close()


class SocketSwitch:
    """Routes a page's feed socket through the test: while `down`, every connection attempt is
    closed at once (as a dropped network would); `drop()` closes the open one."""

    def __init__(self) -> None:
        self.down = False
        self.routes: list[WebSocketRoute] = []

    async def handle(self, route: WebSocketRoute) -> None:
        if self.down:
            await route.close(code=4000, reason="network down")
            return
        route.connect_to_server()
        self.routes.append(route)

    async def drop(self) -> None:
        self.down = True
        for route in self.routes:
            await route.close(code=4000, reason="network down")


async def open_feed(
    browser: Browser,
    contexts: list[BrowserContext],
    base: str,
    email: str,
    switch: SocketSwitch | None = None,
) -> tuple[Page, Traffic]:
    """A browser of its own: log in on /login, land on the feed, wait for the live socket."""
    context = await browser.new_context()
    contexts.append(context)
    page = await context.new_page()
    if switch is not None:
        await page.route_web_socket(f"**/ws/{SLUG}", switch.handle)
    page.set_default_timeout(20_000)  # generous: CI runs this beside other tests
    traffic = Traffic()
    page.on("request", traffic.on_request)
    page.on("requestfailed", traffic.on_request_failed)
    page.on("response", traffic.on_response)
    page.on("console", traffic.on_console)
    page.on("pageerror", traffic.on_page_error)
    await page.goto(f"{base}/login?next={HOME}")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(base + HOME)
    await expect(page.get_by_role("status")).to_have_text(LIVE)
    await page.evaluate("window.stillTheSamePage = true")  # a reload would wipe it
    return page, traffic


async def wait_in_feed(http: httpx.AsyncClient, headers: dict[str, str], post_id: str) -> None:
    """Until the post's fan-out put it in the reader's feed (the API's chronological read)."""
    for _ in range(200):
        feed = await http.get(f"{API}/feed", params={"rank": "chronological"}, headers=headers)
        if post_id in {item["id"] for item in feed.json()["items"]}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"post {post_id} never reached the feed")


@pytest.mark.feature(SLUG, "real-time-updates")
@pytest.mark.feature(SLUG, "privacy")
async def test_a_post_appears_in_a_friends_open_feed_without_reload(
    live_server: LiveServer, browser: Browser, contexts: list[BrowserContext]
) -> None:
    base = live_server.url
    async with httpx.AsyncClient(base_url=base) as http:
        alice_email, alice = await register(http, "Alice")
        bob_email, bob = await register(http, "Bob")
        carol_email, carol = await register(http, "Carol")
        me = await http.get(f"{API}/me", headers=alice)
        assert me.status_code == 200, me.text
        alice_id = me.json()["id"]
        asked = await http.post(f"{API}/users/{alice_id}/friend-request", headers=bob)
        assert asked.status_code == 200, asked.text
        bob_id = (await http.get(f"{API}/me", headers=bob)).json()["id"]
        accepted = await http.post(f"{API}/friend-requests/{bob_id}/accept", headers=alice)
        assert accepted.status_code == 204, accepted.text
        followed = await http.post(f"{API}/users/{alice_id}/follow", headers=carol)
        assert followed.status_code == 200, followed.text

    bob_page, bob_traffic = await open_feed(browser, contexts, base, bob_email)
    carol_socket = SocketSwitch()
    carol_page, carol_traffic = await open_feed(browser, contexts, base, carol_email, carol_socket)
    alice_page, alice_traffic = await open_feed(browser, contexts, base, alice_email)

    await alice_page.get_by_label("What's on your mind?").fill("Friends only: dinner at 8")
    await alice_page.get_by_label("Audience").select_option("friends")
    await alice_page.get_by_role("button", name="Post", exact=True).click()
    await expect(alice_page).to_have_url(base + HOME)

    arrived = bob_page.get_by_test_id("post").filter(has_text="Friends only: dinner at 8")
    await expect(arrived).to_have_count(1)
    await expect(arrived.get_by_test_id("post-author")).to_have_text("Alice")
    await expect(arrived.get_by_test_id("post-audience")).to_have_text("· friends")
    assert await bob_page.evaluate("window.stillTheSamePage") is True

    # The live card is a working post: Bob comments from it (a plain form post).
    await arrived.get_by_label("Write a comment").fill("Count me in")
    await arrived.get_by_role("button", name="Comment").click()
    await expect(bob_page.get_by_test_id("comment").filter(has_text="Count me in")).to_have_count(1)
    await expect(bob_page.get_by_role("status")).to_have_text(LIVE)
    await bob_page.evaluate("window.stillTheSamePage = true")

    # Alice deletes it: it leaves Bob's open page.
    post_id = await arrived.get_attribute("data-id")
    async with httpx.AsyncClient(base_url=base) as http:
        deleted = await http.delete(f"{API}/posts/{post_id}", headers=alice)
        assert deleted.status_code == 204, deleted.text
    await expect(arrived).to_have_count(0)
    assert await bob_page.evaluate("window.stillTheSamePage") is True

    # Carol follows Alice but is no friend: the friends-only post never reaches her page, and
    # Alice's next, public post does, live.
    await alice_page.get_by_label("What's on your mind?").fill("Public: the blog is up")
    await alice_page.get_by_label("Audience").select_option("public")
    await alice_page.get_by_role("button", name="Post", exact=True).click()
    public = carol_page.get_by_test_id("post").filter(has_text="Public: the blog is up")
    await expect(public).to_have_count(1)
    assert await carol_page.evaluate("window.stillTheSamePage") is True
    await expect(carol_page.get_by_test_id("post").filter(has_text="dinner at 8")).to_have_count(0)

    # Carol's connection drops; Alice posts meanwhile; when it is back, the page catches up.
    await carol_socket.drop()
    await expect(carol_page.get_by_role("status")).to_have_text("Reconnecting for live updates…")
    async with httpx.AsyncClient(base_url=base) as http:
        missed = await http.post(
            f"{API}/posts", json={"body": "Posted while you were away"}, headers=alice
        )
        assert missed.status_code == 201, missed.text
        await wait_in_feed(http, carol, missed.json()["id"])
    carol_socket.down = False
    caught_up = carol_page.get_by_test_id("post").filter(has_text="Posted while you were away")
    await expect(caught_up).to_have_count(1)
    await expect(carol_page.get_by_role("status")).to_have_text(LIVE)
    assert await carol_page.evaluate("window.stillTheSamePage") is True

    await carol_page.reload()
    await expect(
        carol_page.get_by_test_id("post").filter(has_text="Public: the blog")
    ).to_have_count(1)
    await expect(carol_page.get_by_test_id("post").filter(has_text="dinner at 8")).to_have_count(0)

    for traffic in (alice_traffic, bob_traffic, carol_traffic):
        hosts = {urlsplit(u).hostname for u in traffic.requests if not u.startswith("data:")}
        assert hosts == {"127.0.0.1"}
        traffic.assert_clean()
