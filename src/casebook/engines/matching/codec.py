"""The journal's encoding of a command tuple: compact, fixed-layout, versioned little-endian bytes.

Every record starts with two bytes, the format version (1) and the command kind; the rest is the
kind's fields in `types.py` order, ids, prices, quantities and ts as signed 64-bit ints and the
four enums of a PLACE as one byte each (so a command the book would reject still round-trips
exactly, and replays to the same REJECTED):

    PLACE       <B B q q B q q B B B q>   46 bytes
    CANCEL      <B B q q q>               26 bytes
    REPLACE     <B B q q q q q>           42 bytes
    EXPIRE_DAY  <B B q>                   10 bytes

`encode` and `decode` are O(1): one `struct` call each.
"""

from __future__ import annotations

from struct import Struct
from struct import error as StructError
from typing import Any

from casebook.engines.matching.types import CANCEL, EXPIRE_DAY, PLACE, REPLACE

__all__ = ["VERSION", "decode", "encode"]

VERSION = 1

_LAYOUTS: dict[int, Struct] = {
    PLACE: Struct("<BBqqBqqBBBq"),
    CANCEL: Struct("<BBqqq"),
    REPLACE: Struct("<BBqqqqq"),
    EXPIRE_DAY: Struct("<BBq"),
}
_FIELDS = {kind: len(layout.format) - 3 for kind, layout in _LAYOUTS.items()}
"""Fields after the kind: the format minus '<', version and kind."""


def encode(command: tuple[Any, ...]) -> bytes:
    """The bytes of a command tuple.

    Raises ValueError for an unknown kind, a wrong number of fields, or a field that is not an
    int in its range (64-bit signed; 0-255 for side, tif, flags, stp)."""
    kind = command[0] if command else None
    if type(kind) is not int or kind not in _LAYOUTS:
        raise ValueError(f"unknown command kind {kind!r}")
    layout = _LAYOUTS[kind]
    if len(command) != _FIELDS[kind] + 1:
        raise ValueError(
            f"a command of kind {kind} has {_FIELDS[kind]} fields, not {len(command) - 1}"
        )
    try:
        return layout.pack(VERSION, *command)
    except StructError as exc:
        raise ValueError(f"command {command!r} cannot be encoded: {exc}") from None


def decode(data: bytes) -> tuple[Any, ...]:
    """The command tuple of `encode`'s bytes.

    Raises ValueError for an unknown version or kind, or a length that does not match the kind."""
    if len(data) < 2:
        raise ValueError("too short for a command")
    version, kind = data[0], data[1]
    if version != VERSION:
        raise ValueError(f"command format version {version} is not supported")
    layout = _LAYOUTS.get(kind)
    if layout is None:
        raise ValueError(f"unknown command kind {kind}")
    if len(data) != layout.size:
        raise ValueError(f"a command of kind {kind} is {layout.size} bytes, not {len(data)}")
    return layout.unpack(data)[1:]
