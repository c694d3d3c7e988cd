"""Video posts: ffmpeg takes a poster frame, processed like a photo."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.systems.instagram.conftest import API, NewUser, Upload

pytestmark = [
    pytest.mark.feature("instagram", "posts"),
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None, reason="needs ffmpeg (Debian package `ffmpeg`)"
    ),
]


def make_video(tmp_path: Path) -> bytes:
    """A 2-second 320x240 MP4 made by ffmpeg's test source."""
    out = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=10",
         "-pix_fmt", "yuv420p", str(out)],
        check=True, timeout=30,
    )  # fmt: skip
    return out.read_bytes()


async def test_a_video_gets_a_poster_frame_duration_and_blurhash(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, tmp_path: Path
) -> None:
    alice = await ig_user()
    view = await upload(alice, make_video(tmp_path), "video/mp4")
    assert view["kind"] == "video" and view["status"] == "ready", view
    assert (view["width"], view["height"]) == (320, 240)
    assert 1900 <= view["duration_ms"] <= 2100
    assert view["blurhash"] and list(view["variants"]) == ["320"]
    poster = await client.get(view["variants"]["320"], headers=alice.headers)
    assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"
    post = await client.post(
        f"{API}/photos", json={"media_ids": [view["id"]]}, headers=alice.headers
    )
    assert post.status_code == 201 and post.json()["data"]["kind"] == "video"


async def test_bytes_that_only_look_like_a_video_fail_processing(
    ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user()
    fake = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000  # an MP4 signature, no streams
    view = await upload(alice, fake, "video/mp4")
    assert view["status"] == "failed" and "video" in view["error"].lower()
