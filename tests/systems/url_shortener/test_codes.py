"""Code generation: a keyed bijection of [0, 62**7) and fixed-width base62 (pure, no I/O)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casebook.systems.url_shortener.codes import (
    ALPHABET,
    CODE_LENGTH,
    CODE_SPACE,
    CodeGenerator,
    CodePermutation,
    base62_decode,
    base62_encode,
    derive_code_key,
)

pytestmark = pytest.mark.feature("url-shortener", "shorten")

KEY = derive_code_key("a signing key for the tests")


@given(value=st.integers(0, CODE_SPACE - 1), key=st.binary(min_size=16, max_size=64))
@settings(max_examples=300, deadline=None)
def test_the_permutation_is_a_bijection_on_62_to_the_7(value: int, key: bytes) -> None:
    permutation = CodePermutation(key)
    image = permutation.permute(value)
    assert 0 <= image < CODE_SPACE
    assert permutation.invert(image) == value


@given(domain=st.integers(2, 5000), key=st.binary(min_size=16, max_size=32))
@settings(max_examples=40, deadline=None)
def test_every_small_domain_is_permuted_exhaustively(domain: int, key: bytes) -> None:
    permutation = CodePermutation(key, domain)
    assert sorted(permutation.permute(v) for v in range(domain)) == list(range(domain))


def test_values_outside_the_domain_are_refused() -> None:
    permutation = CodePermutation(KEY, 100)
    with pytest.raises(ValueError):
        permutation.permute(100)
    with pytest.raises(ValueError):
        permutation.invert(-1)


@given(value=st.integers(0, CODE_SPACE - 1))
def test_base62_round_trips_at_fixed_width(value: int) -> None:
    code = base62_encode(value)
    assert len(code) == CODE_LENGTH
    assert set(code) <= set(ALPHABET)
    assert base62_decode(code) == value


def test_base62_rejects_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        base62_encode(CODE_SPACE)
    with pytest.raises(ValueError):
        base62_decode("abc-")


def test_consecutive_counter_values_give_unrelated_codes() -> None:
    generator = CodeGenerator(KEY)
    codes = [generator.code_for(n) for n in range(2000)]
    assert len(set(codes)) == len(codes)
    # A counter encoded directly would sort in counter order and share long prefixes.
    assert codes != sorted(codes)
    shared_prefix = sum(a[:3] == b[:3] for a, b in itertools.pairwise(codes))
    assert shared_prefix < 5
    # Every position uses most of the alphabet.
    for position in range(CODE_LENGTH):
        assert len({c[position] for c in codes}) > 50
    assert [generator.counter_value_of(c) for c in codes[:50]] == list(range(50))


def test_another_key_gives_other_codes() -> None:
    ours = CodeGenerator(KEY)
    theirs = CodeGenerator(derive_code_key("another deployment"))
    same = sum(ours.code_for(n) == theirs.code_for(n) for n in range(1000))
    assert same == 0
