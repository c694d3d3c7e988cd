"""Stickers and GIFs at /api/viber: demo packs drawn with Pillow, packs of one's own uploads,
sticker messages naming existing stickers, GIFs as image/gif attachments, and the demo data."""

from __future__ import annotations

import io
import secrets

import httpx
import pytest
from PIL import Image

from casebook.platform.context import Platform
from casebook.systems.viber import demo
from tests.systems.viber.conftest import API, ViberUser


def gif_bytes() -> bytes:
    """A two-frame animated GIF."""
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient, user: ViberUser, data: bytes, name: str
) -> dict[str, str]:
    answer = await client.post(
        f"{API}/attachments",
        params={"kind": "image"},
        files={"file": (name, data)},
        headers=user.headers,
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, str] = answer.json()
    return result


async def group_of(client: httpx.AsyncClient, owner: ViberUser, *members: ViberUser) -> str:
    created = await client.post(
        f"{API}/create_group_chat",
        json={"name": "Fun", "participants": [m.id for m in members]},
        headers=owner.headers,
    )
    group_id: str = created.json()["group_chat"]["group_id"]
    return group_id


@pytest.mark.feature("viber", "stickers-gifs")
async def test_demo_packs_are_drawn_and_stickers_are_sent_by_name(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ViberUser,
    bob: ViberUser,
    carol: ViberUser,
) -> None:
    await demo.load_demo(platform)
    await demo.load_demo(platform)  # idempotent
    packs = (await client.get(f"{API}/sticker-packs", headers=bob.headers)).json()["items"]
    assert [p["name"] for p in packs] == ["purple-faces", "weather"]
    smile = packs[0]["stickers"][0]
    assert (smile["name"], smile["emoji"]) == ("smile", "🙂")
    image = await client.get(smile["image_url"], headers=carol.headers)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as drawn:
        assert drawn.size == (256, 256) and drawn.mode == "RGBA"

    group = await group_of(client, alice, bob)
    sent = await client.post(
        f"{API}/conversations/{group}/stickers",
        json={"client_id": "s1", "pack": "purple-faces", "sticker": "smile"},
        headers=alice.headers,
    )
    assert sent.status_code == 201, sent.text
    assert (sent.json()["kind"], sent.json()["data"]) == (
        "sticker",
        {"pack": "purple-faces", "sticker": "smile"},
    )
    history = await client.get(f"{API}/conversations/{group}/messages", headers=bob.headers)
    assert [m["kind"] for m in history.json()["items"]] == ["sticker"]

    unknown = await client.post(
        f"{API}/conversations/{group}/stickers",
        json={"client_id": "s2", "pack": "purple-faces", "sticker": "nope"},
        headers=alice.headers,
    )
    assert unknown.status_code == 404
    outsider = await client.post(
        f"{API}/conversations/{group}/stickers",
        json={"client_id": "s3", "pack": "weather", "sticker": "sun"},
        headers=carol.headers,
    )
    assert outsider.status_code == 404
    # A 1:1 chat is end-to-end encrypted: a clear sticker is refused (it goes inside the envelope).
    direct = await client.post(
        f"{API}/conversations", json={"kind": "direct", "user_id": bob.id}, headers=alice.headers
    )
    clear = await client.post(
        f"{API}/conversations/{direct.json()['id']}/stickers",
        json={"client_id": "s4", "pack": "weather", "sticker": "sun"},
        headers=alice.headers,
    )
    assert clear.status_code == 422

    # The demo public account exists with its welcome post.
    news = (
        await client.get(f"{API}/public-accounts", params={"category": "news"}, headers=bob.headers)
    ).json()
    assert [a["handle"] for a in news["items"]] == ["casebook_news"]
    posts = await client.get(
        f"{API}/public-accounts/{news['items'][0]['id']}/posts", headers=bob.headers
    )
    assert len(posts.json()["items"]) == 1


@pytest.mark.feature("viber", "stickers-gifs")
async def test_a_user_builds_a_pack_from_their_own_uploads(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser
) -> None:
    png = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 200, 0, 255)).save(png, "PNG")
    mine = await upload(client, alice, png.getvalue(), "frog.png")
    pack = await client.post(
        f"{API}/sticker-packs", json={"name": "frogs", "title": "Frogs"}, headers=alice.headers
    )
    assert pack.status_code == 201
    added = await client.post(
        f"{API}/sticker-packs/frogs/stickers",
        json={"name": "green", "emoji": "🐸", "attachment_id": mine["id"]},
        headers=alice.headers,
    )
    assert added.status_code == 201, added.text
    fetched = await client.get(added.json()["image_url"], headers=bob.headers)
    assert fetched.content == png.getvalue()

    # Only the owner adds to a pack; nobody makes a sticker of someone else's upload.
    theirs = await client.post(
        f"{API}/sticker-packs/frogs/stickers",
        json={"name": "red", "attachment_id": mine["id"]},
        headers=bob.headers,
    )
    assert theirs.status_code == 403
    await client.post(
        f"{API}/sticker-packs", json={"name": "bobs", "title": "Bob's"}, headers=bob.headers
    )
    stolen = await client.post(
        f"{API}/sticker-packs/bobs/stickers",
        json={"name": "frog", "attachment_id": mine["id"]},
        headers=bob.headers,
    )
    assert stolen.status_code == 404
    again = await client.post(
        f"{API}/sticker-packs", json={"name": "frogs", "title": "x"}, headers=bob.headers
    )
    assert again.status_code == 409
    bad = await client.post(
        f"{API}/sticker-packs", json={"name": "Bad Name", "title": "x"}, headers=bob.headers
    )
    assert bad.status_code == 422


@pytest.mark.feature("viber", "stickers-gifs")
@pytest.mark.feature("viber", "media-sharing")
async def test_a_gif_is_shared_as_an_image_attachment_that_keeps_its_animation(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, carol: ViberUser
) -> None:
    data = gif_bytes()
    gif = await upload(client, alice, data, "party.gif")
    assert gif["content_type"] == "image/gif"
    group = await group_of(client, alice, bob)
    sent = await client.post(
        f"{API}/conversations/{group}/messages",
        json={
            "client_id": secrets.token_hex(4),
            "kind": "media",
            "body": "party!",
            "data": {"attachments": [gif["id"]]},
        },
        headers=alice.headers,
    )
    assert sent.status_code == 201, sent.text
    got = await client.get(f"{API}/attachments/{gif['id']}/original", headers=bob.headers)
    assert got.status_code == 200 and got.content == data
    with Image.open(io.BytesIO(got.content)) as image:
        assert image.format == "GIF" and getattr(image, "n_frames", 1) == 2
    assert (
        await client.get(f"{API}/attachments/{gif['id']}/original", headers=carol.headers)
    ).status_code == 404
