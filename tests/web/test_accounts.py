"""Browser sign-in pages: register, log in, log out, the `next` redirect and the origin check."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from casebook.platform.auth import service
from casebook.platform.auth.cookies import ACCESS_COOKIE, REFRESH_COOKIE
from casebook.platform.context import Platform
from casebook.web.redirects import safe_next

SAME_SITE = {"Origin": "http://testserver"}
PASSWORD = "correct horse battery"


async def register(
    client: httpx.AsyncClient,
    *,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    name: str = "Ada Lovelace",
    next: str = "/",
) -> httpx.Response:
    form = {"display_name": name, "email": email, "password": password, "next": next}
    return await client.post("/register", data=form, headers=SAME_SITE)


async def login(
    client: httpx.AsyncClient,
    *,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    next: str = "/",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    form = {"email": email, "password": password, "next": next}
    return await client.post("/login", data=form, headers=SAME_SITE if headers is None else headers)


def alert(page: str) -> str:
    found = re.search(r'<p class="alert" role="alert">(.*?)</p>', page, re.S)
    assert found, "the page shows an error message"
    return html.unescape(found.group(1))


def signed_in_as(page: str) -> str | None:
    found = re.search(r"Signed in as <strong>(.*?)</strong>", page)
    return html.unescape(found.group(1)) if found else None


async def test_register_creates_the_account_signs_in_and_returns_to_next(
    client: httpx.AsyncClient,
) -> None:
    response = await register(client, next="/systems/zoom?tab=features")
    assert response.status_code == 303
    assert response.headers["location"] == "/systems/zoom?tab=features"
    cookies = response.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith(f"{ACCESS_COOKIE}="))
    assert "HttpOnly" in access and "SameSite=lax" in access
    assert any(c.startswith(f"{REFRESH_COOKIE}=") for c in cookies)

    page = (await client.get("/systems/zoom")).text
    assert signed_in_as(page) == "Ada Lovelace"


async def test_register_with_a_taken_email_shows_why_and_keeps_the_form(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    client.cookies.clear()
    response = await register(client, name="Someone Else")
    assert response.status_code == 409
    assert "ada@example.com already has an account" in alert(response.text)
    assert 'value="ada@example.com"' in response.text
    assert 'value="Someone Else"' in response.text
    assert PASSWORD not in response.text, "a password is never echoed back"
    assert ACCESS_COOKIE not in response.headers.get("set-cookie", "")


async def test_register_with_a_short_password_says_how_long_it_must_be(
    client: httpx.AsyncClient,
) -> None:
    response = await register(client, password="short")
    assert response.status_code == 422
    assert "at least 10 characters" in alert(response.text)
    assert signed_in_as((await client.get("/")).text) is None


async def test_login_with_a_wrong_password_says_what_to_do(client: httpx.AsyncClient) -> None:
    await register(client)
    client.cookies.clear()
    response = await login(client, password="not the password", next="/systems/zoom")
    assert response.status_code == 401
    assert "Check the e-mail address and password" in alert(response.text)
    assert 'name="next" value="/systems/zoom"' in response.text
    assert 'value="ada@example.com"' in response.text
    assert signed_in_as((await client.get("/")).text) is None


async def test_login_sets_the_session_and_goes_to_next(client: httpx.AsyncClient) -> None:
    await register(client)
    client.cookies.clear()
    response = await login(client, next="/systems/url-shortener")
    assert response.status_code == 303
    assert response.headers["location"] == "/systems/url-shortener"
    assert signed_in_as((await client.get("/")).text) == "Ada Lovelace"


async def test_too_many_login_attempts_are_refused_with_retry_after(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await register(client)
    client.cookies.clear()
    for _ in range(platform.settings.login_attempts_per_minute - 1):
        assert (await login(client, password="wrong password")).status_code == 401
    response = await login(client)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert "Too many login attempts" in alert(response.text)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "/\t/evil.example",
        "\n//evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        "/" + "a" * 3000,
    ],
)
async def test_login_never_redirects_off_site(client: httpx.AsyncClient, target: str) -> None:
    await register(client)
    client.cookies.clear()
    response = await login(client, next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_login_page_drops_an_off_site_next(client: httpx.AsyncClient) -> None:
    page = (await client.get("/login", params={"next": "//evil.example"})).text
    assert 'name="next" value="/"' in page
    assert "evil.example" not in page
    kept = (await client.get("/login", params={"next": '/systems/zoom?a="b"'})).text
    assert 'name="next" value="/systems/zoom?a=&#34;b&#34;"' in kept


async def test_sign_in_pages_link_to_each_other_keeping_next(client: httpx.AsyncClient) -> None:
    login_page = (await client.get("/login", params={"next": "/url-shortener/?x=1"})).text
    assert '<a href="/register?next=/url-shortener/%3Fx%3D1">Register</a>' in login_page
    assert 'class="button button-small" href="/register?next=/url-shortener/%3Fx%3D1"' in login_page
    register_page = (await client.get("/register", params={"next": "//evil.example"})).text
    assert '<a href="/login">Log in</a>' in register_page
    assert "evil.example" not in register_page


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", "/"),
        ("/url-shortener/?page=2#top", "/url-shortener/?page=2#top"),
        ("/a/b%2F%2Fc", "/a/b%2F%2Fc"),
        ("http://testserver/", "/"),
        ("/%09/evil", "/%09/evil"),
        ("/x\x7f", "/"),
        ("/ x", "/"),
        (None, "/"),
    ],
)
def test_safe_next_keeps_only_local_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


async def test_logout_clears_the_session_and_revokes_the_refresh_token(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await register(client)
    refresh_token = client.cookies[REFRESH_COOKIE]
    assert signed_in_as((await client.get("/logout")).text) == "Ada Lovelace"

    response = await client.post("/logout", headers=SAME_SITE)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cleared = response.headers.get_list("set-cookie")
    assert any(c.startswith(f'{ACCESS_COOKIE}=""') and "Max-Age=0" in c for c in cleared)
    assert any(c.startswith(f'{REFRESH_COOKIE}=""') and "Max-Age=0" in c for c in cleared)

    page = (await client.get("/")).text
    assert signed_in_as(page) is None
    assert '<a href="/login">Log in</a>' in page
    async with platform.db.session() as session:
        with pytest.raises(service.InvalidRefreshToken, match="revoked"):
            await service.refresh(session, platform.settings, refresh_token)


async def test_logout_page_offers_the_button_only_when_signed_in(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/logout")).text
    assert "You are not signed in" in page
    assert '<form method="post" action="/logout">' not in page


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Referer": "https://evil.example/login"},
        {"Origin": "https://evil.example", "Referer": "http://testserver/login"},
    ],
    ids=["no-headers", "foreign-origin", "null-origin", "lookalike", "foreign-referer", "both"],
)
async def test_forms_refuse_cross_site_posts(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await register(client)
    client.cookies.clear()
    response = await login(client, headers=headers)
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/cross-site-request"
    assert ACCESS_COOKIE not in response.headers.get("set-cookie", "")

    registered = await client.post(
        "/register",
        data={"display_name": "M", "email": "m@example.com", "password": PASSWORD},
        headers=headers,
    )
    assert registered.status_code == 403


async def test_a_cross_site_logout_leaves_the_user_signed_in(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post("/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert signed_in_as((await client.get("/")).text) == "Ada Lovelace"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver"},
        {"Referer": "http://testserver/login?next=/"},
        {"Origin": "HTTP://TestServer"},
    ],
    ids=["origin", "referer-only", "case-insensitive"],
)
async def test_forms_accept_posts_from_this_site(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await register(client)
    client.cookies.clear()
    assert (await login(client, headers=headers)).status_code == 303


async def test_forms_accept_posts_from_the_configured_base_url(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    """Behind a proxy that rewrites Host, the public origin is `Settings.base_url`."""
    await register(client)
    client.cookies.clear()
    base = platform.settings.base_url.rstrip("/")
    assert not base.startswith("http://testserver")
    assert (await login(client, headers={"Origin": base})).status_code == 303
