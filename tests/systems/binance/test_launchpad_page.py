"""The Launchpad page: sales with their countdown data for everyone, the commit form only on a
sale that is committing and only for a signed-in user, and its own script."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.settings import Settings
from tests.systems.binance.launchpad_support import new_sale
from tests.systems.binance.spot_support import binance_app, new_user

pytestmark = pytest.mark.feature("binance", "launchpad")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def test_the_page_lists_sales_and_offers_commits_only_where_they_are_taken(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    open_sale = await new_sale(platform)
    later = await new_sale(platform, now=utcnow() + timedelta(days=1))  # upcoming

    anonymous = await client.get("/binance/launchpad")
    assert anonymous.status_code == 200
    html = anonymous.text
    for sale in (open_sale, later):
        assert f'data-project="{sale.id}"' in html and f"({sale.symbol})" in html
    assert f'data-ends="{open_sale.ends_at.isoformat()}"' in html
    assert 'class="lp-commit"' not in html
    assert "/login?next=/binance/launchpad" in html

    user = await new_user(client, platform, key=False)
    signed_in = (await client.get("/binance/launchpad", headers=user.headers)).text
    forms = re.findall(r'<form class="lp-commit" data-project="(\d+)"', signed_in)
    assert forms == [str(open_sale.id)]
    assert ">committing<" in signed_in and ">upcoming<" in signed_in

    home = (await client.get("/binance/")).text
    assert 'href="/binance/launchpad"' in home
    script = await client.get("/binance/launchpad/launchpad.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/api/binance/launchpad/projects" in script.text
