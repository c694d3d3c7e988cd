"""The ceiling for `casebook bench messaging`: a bare `websockets` group broadcast server.

No authentication, no persistence, no ordering guarantees beyond TCP's, no acknowledgements: a
client joins groups with its first frame and every message it sends is written to the other
members' sockets of the same process. It is the least work a Python WebSocket server can do per
message, so Casebook's rate divided by this one's says what the engine's guarantees cost.

Frames (JSON text), the same sizes as the engine's:
    → {"type": "hello", "groups": ["g1", …]}            ← {"type": "ready"}
    → {"type": "send", "conversation_id": "g1", "client_id": "…", "ref": "…", "kind": "text",
       "body": "…"}
    ← {"type": "sent", "ref": "…", "seq": n}           (to the sender)
    ← {"type": "message", "conversation_id": "g1", "seq": n,
       "message": {"sender_id": "…", "body": "…", …}}  (to every other member)

Run: `python -m bench.ws_ceiling --port N` (the benchmark starts it itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
from collections import defaultdict

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

_groups: dict[str, set[ServerConnection]] = defaultdict(set)
_seqs: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))


async def _handle(connection: ServerConnection) -> None:
    try:
        hello = orjson.loads(await connection.recv())
    except (ConnectionClosed, orjson.JSONDecodeError):
        return
    groups = [str(g) for g in hello.get("groups", [])]
    user = str(hello.get("user_id", ""))
    for group in groups:
        _groups[group].add(connection)
    try:
        await connection.send(orjson.dumps({"type": "ready"}).decode())
        async for raw in connection:
            frame = orjson.loads(raw)
            if frame.get("type") != "send":
                continue
            group = str(frame["conversation_id"])
            seq = next(_seqs[group])
            event = orjson.dumps(
                {
                    "type": "message",
                    "conversation_id": group,
                    "seq": seq,
                    "message": {
                        "sender_id": user,
                        "client_id": frame.get("client_id"),
                        "kind": frame.get("kind"),
                        "body": frame.get("body"),
                        "seq": seq,
                    },
                }
            ).decode()
            for member in _groups[group]:
                if member is not connection:
                    with contextlib.suppress(ConnectionClosed):
                        await member.send(event)
            await connection.send(
                orjson.dumps({"type": "sent", "ref": frame.get("ref"), "seq": seq}).decode()
            )
    except ConnectionClosed:
        pass
    finally:
        for group in groups:
            _groups[group].discard(connection)


async def _main(port: int) -> None:
    async with serve(_handle, "127.0.0.1", port, max_size=1 << 20, compression=None):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(_main(parser.parse_args().port))
