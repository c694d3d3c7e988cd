"""The simulated SMS carrier: numbers, segmentation, delivery status, the handset's inbox."""

from __future__ import annotations

import pytest

from casebook.platform.context import Platform
from casebook.platform.sms import InvalidPhoneNumber, SmsTooLong, segment_count


def test_segments_follow_gsm_rules() -> None:
    assert segment_count("a" * 160) == ("gsm7", 1)
    assert segment_count("a" * 161) == ("gsm7", 2)
    assert segment_count("a" * 306) == ("gsm7", 2)
    assert segment_count("a" * 307) == ("gsm7", 3)
    # Extended characters take two septets.
    assert segment_count("€" * 80) == ("gsm7", 1)
    assert segment_count("€" * 81) == ("gsm7", 2)
    # One character outside GSM-7 makes the whole message UCS-2.
    assert segment_count("a" * 69 + "ж") == ("ucs2", 1)
    assert segment_count("a" * 70 + "ж") == ("ucs2", 2)
    # Emoji beyond the BMP count two UTF-16 units.
    assert segment_count("🙂" * 35) == ("ucs2", 1)
    assert segment_count("🙂" * 36) == ("ucs2", 2)


async def test_carrier_delivers_to_the_handset_and_fails_dead_numbers(platform: Platform) -> None:
    carrier = platform.sms
    sent = await carrier.send("+447700900123", "Your code: 123456", sender="casebook")
    assert sent.status == "delivered" and sent.segments == 1 and sent.encoding == "gsm7"
    dead = await carrier.send("+15550100", "hello", sender="casebook")
    assert dead.status == "failed" and dead.error == "unreachable number"
    inbox = await carrier.inbox("+447700900123")  # type: ignore[attr-defined]
    assert [m.text for m in inbox] == ["Your code: 123456"]
    assert await carrier.inbox("+15550100") == []  # type: ignore[attr-defined]


async def test_carrier_refuses_bad_numbers_and_long_texts(platform: Platform) -> None:
    with pytest.raises(InvalidPhoneNumber):
        await platform.sms.send("07700900123", "hi", sender="casebook")
    with pytest.raises(SmsTooLong):
        await platform.sms.send("+447700900123", "a" * 1531, sender="casebook")
    with pytest.raises(SmsTooLong):
        await platform.sms.send("+447700900123", "", sender="casebook")
    assert await platform.sms.inbox("+447700900123") == []  # type: ignore[attr-defined]
