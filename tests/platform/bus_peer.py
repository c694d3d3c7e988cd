"""Another process on the bus, for tests/platform/test_bus.py.

    python -m tests.platform.bus_peer publish REDIS_URL CHANNEL MESSAGE
    python -m tests.platform.bus_peer listen REDIS_URL CHANNEL

`publish` sends one message and exits. `listen` subscribes, prints `ready`, then prints the first
message it receives (as text) and exits; it gives up after 10 s.
"""

from __future__ import annotations

import asyncio
import sys

from casebook.platform.bus import RedisBus


async def main(mode: str, url: str, channel: str, message: str = "") -> None:
    bus = RedisBus.from_url(url)
    try:
        if mode == "publish":
            await bus.publish(channel, message.encode())
            return
        async with bus.subscribe(channel) as messages:
            print("ready", flush=True)
            async with asyncio.timeout(10):
                received = await anext(messages)
            print(received.decode(), flush=True)
    finally:
        await bus.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
