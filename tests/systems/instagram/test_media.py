"""The photo pipeline: upload → blob store → processing job → stripped, oriented variants."""

from __future__ import annotations

import io

import blurhash
import httpx
import pytest
from PIL import Image

from casebook.platform.context import Platform
from tests.systems.instagram.conftest import API, NewUser, Upload, jpeg_with_gps, small_png

pytestmark = pytest.mark.feature("instagram", "image-processing")


async def test_upload_is_oriented_stripped_resized_and_blurhashed(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice = await ig_user()
    original = jpeg_with_gps(1200, 800, orientation=6)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the input has GPS
    view = await upload(alice, original)
    assert view["status"] == "ready"
    # Orientation 6 (rotate 90° clockwise) turns 1200x800 pixels into a 800x1200 portrait.
    assert (view["width"], view["height"]) == (800, 1200)
    assert sorted(view["variants"]) == ["320", "640"]  # no upscaling to 1080
    assert len(blurhash.components(view["blurhash"])) == 2
    for width in (640, 320):
        got = await client.get(view["variants"][str(width)], headers=alice.headers)
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/jpeg"
        image = Image.open(io.BytesIO(got.content))
        assert image.width == width
        assert image.height == width * 1200 // 800
        exif = image.getexif()
        assert len(exif) == 0, dict(exif)  # no EXIF at all: no GPS, no camera, no orientation
        assert "exif" not in image.info and "xmp" not in image.info
        assert b"CasebookCam" not in got.content
        # The original's blue left half is now on top (rotated clockwise), red below.
        top = image.getpixel((width // 2, image.height // 4))
        bottom = image.getpixel((width // 2, 3 * image.height // 4))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[2] > 150 and top[0] < 100, top
        assert bottom[0] > 150 and bottom[2] < 100, bottom
    # The original with its GPS is gone from the blob store.
    assert not await platform.blobs.exists(f"instagram/originals/{view['id']}")


async def test_a_range_request_gets_part_of_a_rendition(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user()
    view = await upload(alice, small_png(), "image/png")
    assert view["variants"] == {"320": f"{API}/media/{view['id']}/320.jpg"}
    got = await client.get(view["variants"]["320"], headers={**alice.headers, "Range": "bytes=0-9"})
    assert got.status_code == 206 and len(got.content) == 10
    assert got.content[:2] == b"\xff\xd8"


async def test_not_an_image_is_refused_and_nothing_is_kept(
    client: httpx.AsyncClient, ig_user: NewUser, platform: Platform
) -> None:
    alice = await ig_user()
    response = await client.post(
        f"{API}/media",
        content=b"#!/bin/sh\necho not a photo\n" * 20,
        headers={**alice.headers, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("instagram/unsupported-media")
    listed = await client.get(f"{API}/media", headers=alice.headers)
    assert listed.json()["items"] == []


async def test_a_truncated_jpeg_fails_processing_and_cannot_be_posted(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user()
    view = await upload(alice, jpeg_with_gps()[:200])
    assert view["status"] == "failed" and view["error"]
    posted = await client.post(
        f"{API}/photos", json={"media_ids": [view["id"]]}, headers=alice.headers
    )
    assert posted.status_code == 409
    assert posted.json()["type"].endswith("instagram/media-unusable")


async def test_uploads_need_a_session_and_are_private_until_posted(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice, bob = await ig_user(), await ig_user()
    anonymous = await client.post(f"{API}/media", content=small_png())
    assert anonymous.status_code == 401
    view = await upload(alice, small_png(), "image/png")
    for headers in (bob.headers, {}):
        assert (await client.get(f"{API}/media/{view['id']}", headers=headers)).status_code == 404
        rendition = await client.get(view["variants"]["320"], headers=headers)
        assert rendition.status_code == 404
    assert (await client.get(f"{API}/media", headers=bob.headers)).json()["items"] == []
