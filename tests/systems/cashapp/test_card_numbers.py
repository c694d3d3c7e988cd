"""Card numbers: Luhn check digits, tokens that do not reveal the number, derived CVVs."""

from __future__ import annotations

import pytest

from casebook.systems.cashapp.card_numbers import (
    BIN,
    cvv,
    luhn_check_digit,
    luhn_valid,
    new_pan,
    pan_token,
)

pytestmark = pytest.mark.feature("cashapp", "cash-card")


@pytest.mark.parametrize(
    "number", ["4111111111111111", "5555555555554444", "378282246310005", "79927398713"]
)
def test_known_valid_numbers_pass_luhn(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "79927398710", "1", "41111a1111111111"])
def test_corrupted_numbers_fail_luhn(number: str) -> None:
    assert not luhn_valid(number)


def test_check_digit_of_the_textbook_example() -> None:
    assert luhn_check_digit("7992739871") == "3"


def test_new_numbers_are_sixteen_digits_under_the_bin_and_valid() -> None:
    numbers = {new_pan() for _ in range(200)}
    assert len(numbers) == 200
    for pan in numbers:
        assert len(pan) == 16 and pan.startswith(BIN) and luhn_valid(pan)
        # Every single-digit error is caught by the check digit.
        wrong = pan[:7] + str((int(pan[7]) + 1) % 10) + pan[8:]
        assert not luhn_valid(wrong)


def test_tokens_and_cvvs_depend_on_the_key() -> None:
    pan = new_pan()
    token = pan_token(b"k1", pan)
    assert len(token) == 64 and pan not in token
    assert token == pan_token(b"k1", pan) != pan_token(b"k2", pan)
    code = cvv(b"k1", pan, 5, 2030)
    assert len(code) == 3 and code.isdigit()
    assert code == cvv(b"k1", pan, 5, 2030)
    assert {cvv(b"k1", pan, m, 2030) for m in range(1, 13)} != {code}
