"""The journal codec: every command round-trips exactly, records are compact, and bytes that are
not a record of this version are refused."""

from __future__ import annotations

from typing import Any

import pytest

from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.codec import VERSION, decode, encode
from casebook.engines.matching.types import CANCEL, EXPIRE_DAY, PLACE, REPLACE

from .test_book_random import random_commands, run

BIG = 2**63 - 1
COMMANDS = [
    (PLACE, 7_300_000_000_000_000_001, 42, 0, 10_050, 3, 0, 0, 1, 1_763_800_000_123_456_789),
    (PLACE, 1, 2, 1, 0, 5, 1, 2, 3, 0),  # a market order: price 0
    (PLACE, BIG, BIG, 255, BIG, BIG, 255, 255, 255, BIG),
    (PLACE, -1, -2, 0, -3, -4, 0, 0, 0, -(2**63)),  # invalid for the book, still journaled
    (CANCEL, 9, 8, 7),
    (REPLACE, 9, 8, 101, 2, 7),
    (EXPIRE_DAY, 1_763_800_000_000_000_000),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_round_trip_exactly(command: tuple[Any, ...]) -> None:
    data = encode(command)
    assert data[0] == VERSION and data[1] == command[0]
    assert decode(data) == command


def test_records_are_compact() -> None:
    assert [len(encode(c)) for c in COMMANDS[:1] + COMMANDS[4:]] == [46, 26, 42, 10]


def test_a_decoded_journal_replays_to_the_same_events() -> None:
    commands = random_commands(21, 1500)
    decoded = [decode(encode(c)) for c in commands]
    assert decoded == commands
    assert run(OrderBook(1), decoded) == run(OrderBook(1), commands)


@pytest.mark.parametrize(
    "command",
    [
        (),
        (99, 1, 2),
        ("1", 1),
        (PLACE, 1, 2, 0, 100, 1, 0, 0, 0),  # a field short
        (CANCEL, 1, 2, 3, 4),
        (PLACE, 1, 2, 256, 100, 1, 0, 0, 0, 5),  # an enum over a byte
        (PLACE, 1, 2, 0, 2**63, 1, 0, 0, 0, 5),
        (CANCEL, "x", 2, 3),
        (REPLACE, 1, 2, 1.5, 1, 3),
    ],
)
def test_commands_that_cannot_be_encoded_raise_value_error(command: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        encode(command)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",
        bytes([2, CANCEL]) + bytes(24),  # a future version
        bytes([VERSION, 99]) + bytes(24),  # unknown kind
        bytes([VERSION, CANCEL]) + bytes(23),  # truncated
        bytes([VERSION, EXPIRE_DAY]) + bytes(9),  # too long
    ],
)
def test_bytes_that_are_not_a_record_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)
