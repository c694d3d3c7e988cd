"""64-bit time-ordered ids (Snowflake layout).

    | 1 bit unused | 41 bits ms since 2024-01-01 UTC | 10 bits worker | 12 bits sequence |

Ids sort by creation time, are unique across up to 1,024 processes that have distinct worker ids,
and fit a signed BIGINT. 4,096 ids per millisecond per worker; past that, `next_id` waits for the
next millisecond. JSON renders them as strings (`IdStr`) because JavaScript numbers lose
precision above 2**53.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


class IdGenerator:
    """Thread-safe generator of Snowflake ids for one worker. `next_id` is O(1)."""

    def __init__(self, worker_id: int) -> None:
        if not 0 <= worker_id <= MAX_WORKER:
            raise ValueError(f"worker_id must be in 0..{MAX_WORKER}")
        self._worker = worker_id
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        with self._lock:
            now = _now_ms()
            if now < self._last_ms:
                # The clock stepped back: keep issuing from the last timestamp seen, so ids stay
                # monotonic rather than repeating.
                now = self._last_ms
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    while now <= self._last_ms:
                        now = _now_ms()
            else:
                self._sequence = 0
            self._last_ms = now
            return (
                ((now - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS))
                | (self._worker << SEQUENCE_BITS)
                | self._sequence
            )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def id_timestamp(id_: int) -> datetime:
    """The creation time encoded in an id."""
    ms = (id_ >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


_generator: IdGenerator | None = None


def configure(worker_id: int) -> None:
    """Set this process's worker id; -1 picks one from the process id."""
    global _generator
    _generator = IdGenerator(worker_id if worker_id >= 0 else os.getpid() & MAX_WORKER)


def new_id() -> int:
    """A fresh id from this process's generator."""
    global _generator
    if _generator is None:
        configure(-1)
    assert _generator is not None
    return _generator.next_id()


def _parse_id(value: Any) -> Any:
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 19:
            raise ValueError("id must be a string of up to 19 digits")
        return int(value)
    return value


IdStr = Annotated[
    int,
    BeforeValidator(_parse_id),
    PlainSerializer(lambda v: str(v), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": "^[0-9]{1,19}$", "examples": ["81985529216486895"]}
    ),
]
"""An id field: accepts a digit string (or int) and renders as a string in JSON."""
