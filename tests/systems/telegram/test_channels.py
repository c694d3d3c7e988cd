"""Channel post view counts: each subscriber counts once per post, exactly, even when many
requests race; only members see or count; only channels have them."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.systems.telegram.conftest import API, NewUser, Say, TgUser

pytestmark = pytest.mark.feature("telegram", "channels")


async def test_views_count_each_user_once_under_concurrency(
    client: httpx.AsyncClient, alice: TgUser, new_user: NewUser, say: Say
) -> None:
    readers = [await new_user() for _ in range(6)]
    channel = await client.post(
        f"{API}/conversations",
        json={"kind": "channel", "title": "News", "members": [r.id for r in readers]},
        headers=alice.headers,
    )
    channel_id = channel.json()["id"]
    first = await say(alice, channel_id, "post one")
    second = await say(alice, channel_id, "post two")
    url = f"{API}/conversations/{channel_id}/views"
    seqs = [first["seq"], second["seq"]]
    # Every reader opens the channel three times at once (several devices, retries).
    responses = await asyncio.gather(
        *(
            client.post(url, json={"seqs": seqs}, headers=reader.headers)
            for reader in readers
            for _ in range(3)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    counts = await client.get(url, params={"seqs": f"{seqs[0]},{seqs[1]}"}, headers=alice.headers)
    assert counts.json()["views"] == {str(seqs[0]): 6, str(seqs[1]): 6}
    again = await client.post(url, json={"seqs": [first["seq"]]}, headers=readers[0].headers)
    assert again.json()["views"] == {str(first["seq"]): 6}


async def test_views_are_for_members_and_channels_only(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, say: Say
) -> None:
    channel = await client.post(
        f"{API}/conversations", json={"kind": "channel", "title": "Mine"}, headers=alice.headers
    )
    channel_id = channel.json()["id"]
    post = await say(alice, channel_id, "hello")
    url = f"{API}/conversations/{channel_id}/views"
    outsider = await client.post(url, json={"seqs": [post["seq"]]}, headers=bob.headers)
    assert outsider.status_code == 404
    assert (await client.get(url, params={"seqs": "1"}, headers=bob.headers)).status_code == 404
    assert (await client.post(url, json={"seqs": []}, headers=alice.headers)).status_code == 422
    bad = await client.get(url, params={"seqs": "1,x"}, headers=alice.headers)
    assert bad.status_code == 422
    group = await client.post(
        f"{API}/conversations",
        json={"kind": "group", "title": "G", "members": [bob.id]},
        headers=alice.headers,
    )
    in_group = await client.post(
        f"{API}/conversations/{group.json()['id']}/views", json={"seqs": [1]}, headers=bob.headers
    )
    assert in_group.status_code == 409
    # Nothing counted by the refused requests; a missing post is not counted either.
    counted = await client.post(url, json={"seqs": [post["seq"], 99]}, headers=alice.headers)
    assert counted.json()["views"] == {str(post["seq"]): 1}
