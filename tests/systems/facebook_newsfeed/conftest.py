"""Fixtures for Facebook Newsfeed: the feed engine's user, publish and follow fixtures (through
the real app), plus `newsfeed(user, …)` reading the system's own feed and `tune(**changes)`
setting the system's knobs (cadence, frequency cap) for one test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.facebook_newsfeed import home
from casebook.systems.facebook_newsfeed.config import NewsfeedSettings
from tests.engines.feed.conftest import (  # noqa: F401 - fixtures shared with the engine's tests
    API,
    FeedUser,
    alice,
    bob,
    carol,
    follow,
    new_user,
    publish,
)

ReadFeed = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def newsfeed(client: httpx.AsyncClient) -> ReadFeed:
    """`await newsfeed(user, limit=…, rank=…, cursor=…)` → the page's JSON (asserts 200)."""

    async def read(user: FeedUser, **params: Any) -> dict[str, Any]:
        response = await client.get(f"{API}/newsfeed", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    return read


Tune = Callable[..., NewsfeedSettings]


@pytest.fixture
def tune(platform: Platform) -> Tune:
    """`tune(ad_cadence=2, frequency_cap=1)`: replace this process's Newsfeed settings."""

    def apply(**changes: Any) -> NewsfeedSettings:
        settings = replace_settings(home.settings_of(platform), **changes)
        platform.state[home.STATE_KEY] = settings
        return settings

    return apply


def replace_settings(settings: NewsfeedSettings, **changes: Any) -> NewsfeedSettings:
    return settings.model_copy(update=changes)


CreateAd = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def create_ad(client: httpx.AsyncClient) -> CreateAd:
    """`await create_ad(advertiser, title=…, interests=[…], budget_impressions=…)` → ad JSON."""

    async def create(advertiser: FeedUser, **fields: Any) -> dict[str, Any]:
        body = {"title": "Ad", "url": "https://shop.example/landing", "budget_impressions": 100}
        body.update(fields)
        response = await client.post(f"{API}/ads", json=body, headers=advertiser.headers)
        assert response.status_code == 201, response.text
        ad: dict[str, Any] = response.json()
        return ad

    return create


def ad_items(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in page["items"] if item["type"] == "ad"]


def kinds(page: dict[str, Any]) -> list[str]:
    return [item["type"] for item in page["items"]]
