"""Project images: stored in the platform blob store, served back with Range, only by the
creator, only real images of the declared type, at most 5 MB."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.context import Platform
from casebook.systems.kickstarter.images import MAX_IMAGE_BYTES, sniff
from casebook.systems.kickstarter.models import Project
from tests.systems.kickstarter.conftest import API, Account, create_project, launched_project

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x42" * 500


async def upload(
    client: httpx.AsyncClient, account: Account | None, project_id: str, body: bytes, media: str
) -> httpx.Response:
    headers = {"Content-Type": media, **(account.headers if account else {})}
    return await client.put(f"{API}/projects/{project_id}/image", content=body, headers=headers)


async def stored_key(platform: Platform, project_id: str) -> str | None:
    async with platform.db.session() as session:
        return await session.scalar(select(Project.image_key).where(Project.id == int(project_id)))


@pytest.mark.feature("kickstarter", "project-creation")
async def test_the_creator_uploads_an_image_that_is_served_back_and_replaced(
    client: httpx.AsyncClient, creator: Account, platform: Platform
) -> None:
    project = await launched_project(client, creator)
    assert project["image_url"] is None
    stored = await upload(client, creator, project["id"], PNG, "image/png")
    assert stored.status_code == 200, stored.text
    url = f"{API}/projects/{project['id']}/image"
    assert stored.json() == {"image_url": url, "size": len(PNG), "media_type": "image/png"}
    assert (await client.get(f"{API}/projects/{project['id']}")).json()["image_url"] == url
    served = await client.get(url)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    part = await client.get(url, headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == PNG[:8]
    page = await client.get(f"/kickstarter/projects/{project['id']}")
    assert f'<img src="{url}"' in page.text

    first_key = await stored_key(platform, project["id"])
    assert first_key is not None and await platform.blobs.exists(first_key)
    replaced = await upload(client, creator, project["id"], JPEG, "image/jpeg")
    assert replaced.status_code == 200
    served = await client.get(url)
    assert served.content == JPEG and served.headers["content-type"] == "image/jpeg"
    assert not await platform.blobs.exists(first_key)


@pytest.mark.feature("kickstarter", "project-creation")
async def test_only_images_of_the_declared_type_within_5_mb_are_accepted(
    client: httpx.AsyncClient, creator: Account, platform: Platform
) -> None:
    project = await launched_project(client, creator)
    await upload(client, creator, project["id"], PNG, "image/png")
    key = await stored_key(platform, project["id"])
    script = await upload(client, creator, project["id"], b"<script>alert(1)</script>", "image/png")
    assert script.status_code == 415
    assert script.json()["type"].endswith("kickstarter/unsupported-image")
    mislabelled = await upload(client, creator, project["id"], JPEG, "image/png")
    assert mislabelled.status_code == 415 and "image/jpeg" in mislabelled.json()["detail"]
    html = await upload(client, creator, project["id"], PNG, "text/html")
    assert html.status_code == 415
    huge = await upload(
        client, creator, project["id"], PNG + b"\x00" * MAX_IMAGE_BYTES, "image/png"
    )
    assert huge.status_code == 413
    assert await stored_key(platform, project["id"]) == key
    assert (await client.get(f"{API}/projects/{project['id']}/image")).content == PNG


@pytest.mark.feature("kickstarter", "project-creation")
async def test_nobody_but_the_creator_sets_the_image_and_drafts_stay_private(
    client: httpx.AsyncClient, creator: Account, backer: Account
) -> None:
    project = await launched_project(client, creator)
    assert (await upload(client, backer, project["id"], PNG, "image/png")).status_code == 403
    assert (await upload(client, None, project["id"], PNG, "image/png")).status_code == 401
    missing = await client.get(f"{API}/projects/{project['id']}/image")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("kickstarter/no-project-image")
    draft = await create_project(client, creator)
    assert (await upload(client, creator, draft["id"], PNG, "image/png")).status_code == 200
    url = f"{API}/projects/{draft['id']}/image"
    assert (await client.get(url, headers=backer.headers)).status_code == 404
    assert (await client.get(url, headers=creator.headers)).status_code == 200


def test_signatures_are_recognised_and_nothing_else_is() -> None:
    assert sniff(PNG) == "image/png" and sniff(JPEG) == "image/jpeg"
    assert sniff(b"GIF89a\x01\x00") == "image/gif"
    assert sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"RIFF\x10\x00\x00\x00AVI LIST") is None
    assert sniff(b"") is None and sniff(b"%PDF-1.7") is None
