"""Viber's chat page at /viber/: the engine's chat page, configured for Viber's API and socket."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.systems.viber.conftest import ViberUser


@pytest.mark.feature("viber", "messaging")
async def test_the_viber_chat_page_answers_for_a_signed_in_user_and_sends_visitors_to_log_in(
    client: httpx.AsyncClient, alice: ViberUser
) -> None:
    anonymous = await client.get("/viber/")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=/viber/")

    client.cookies.set("casebook_access", alice.token)
    page = await client.get("/viber/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    found = re.search(r'<script type="application/json" id="chat-config">(.*?)</script>', page.text)
    assert found is not None
    config = json.loads(found.group(1))
    assert config["api"] == "/api/viber" and config["ws"] == "/ws/viber"
    assert config["title"] == "Viber" and config["me"]["id"] == alice.id
    script = await client.get("/viber/static/chat.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
