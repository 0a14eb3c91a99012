"""Inscription numbers per creditor (gateway/identifiers.py): PGF's 15 digits with an ISO 7064 MOD 11,10 check
digit (our own contract, mocks/README_pgf.md) and PGFN's SIDA (DOMAIN.md §3), checked against the documented worked
example, an independent implementation (the simulators' own, written from the same text) and the algorithms'
guarantees."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.identifiers import (
    inscricao_pgf_check_digit,
    is_valid_inscricao_pgf,
    is_valid_inscricao_pgfn,
    normalize_inscricao_pgf,
    normalize_inscricao_pgfn,
)
from mocks.divida_ids import is_valid_pgf, is_valid_sida, mod_11_10, sida_check_digits

digits = st.text(alphabet="0123456789", min_size=14, max_size=14)


@st.composite
def valid_pgf(draw: st.DrawFn) -> str:
    """A valid 15-digit PGF number (any creditor code: the arithmetic does not look at it)."""
    base = draw(digits)
    return base + inscricao_pgf_check_digit(base)


def test_pgf_worked_example_of_the_contract() -> None:
    """The worked example of mocks/README_pgf.md: IBAMA (201), 2023, sequence 12345 → check digit 7, masked or not;
    ``…-8`` is refused."""
    assert inscricao_pgf_check_digit("20120230012345") == "7"
    assert is_valid_inscricao_pgf("201202300123457")
    assert is_valid_inscricao_pgf("201.2023.0012345-7")
    assert not is_valid_inscricao_pgf("201.2023.0012345-8")
    assert normalize_inscricao_pgf("201.2023.0012345-7") == "201202300123457"


@given(digits)
def test_pgf_check_digit_agrees_with_an_independent_implementation(base: str) -> None:
    """The gateway's digit is the simulators' digit (two implementations of the README's rule) for any 14 digits."""
    assert inscricao_pgf_check_digit(base) == str(mod_11_10(base))


@given(st.text(alphabet="0123456789.-/ ", max_size=20))
def test_pgf_validity_agrees_with_the_simulator(text: str) -> None:
    """The gateway and the simulator accept exactly the same strings made of digits and mask characters (the
    simulator also strips blanks, so both see the same digits)."""
    assert is_valid_inscricao_pgf(text) == is_valid_pgf(text)


@given(valid_pgf(), st.integers(0, 14), st.integers(1, 9))
def test_pgf_every_single_digit_substitution_is_detected(number: str, position: int, delta: int) -> None:
    """ISO 7064 MOD 11,10 detects every single substituted digit, the check digit included: a number with exactly
    one digit changed is never valid."""
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert is_valid_inscricao_pgf(number)
    assert not is_valid_inscricao_pgf(changed)


@pytest.mark.parametrize("bad", ["", "20120230012345", "2012023001234570", "20120230O123457", "٢٠١٢٠٢٣٠٠١٢٣٤٥٧",
                                 "201 2023 0012345 7x"])
def test_pgf_wrong_length_or_characters_are_invalid(bad: str) -> None:
    """14 or 16 digits, a letter O for a zero, non-ASCII digits and stray letters are invalid (and never raise);
    normalising them raises ValueError."""
    assert not is_valid_inscricao_pgf(bad)
    with pytest.raises(ValueError):
        normalize_inscricao_pgf(bad)


def test_pgf_check_digit_needs_fourteen_ascii_digits() -> None:
    """The digit of anything but 14 ASCII digits is a ValueError, not a guess."""
    for bad in ("2012023001234", "201202300123456", "2012023001234x"):
        with pytest.raises(ValueError):
            inscricao_pgf_check_digit(bad)


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_sida_agrees_with_an_independent_implementation(base: str) -> None:
    """A SIDA base with the simulator's two mod-11 digits is valid for the gateway, and normalises to itself."""
    number = base + sida_check_digits(base)
    if set(number) == {"0"}:
        return  # all zeros: refused by the gateway on purpose (never issued)
    assert is_valid_inscricao_pgfn(number) and is_valid_sida(number)
    assert normalize_inscricao_pgfn(number) == number


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.integers(11, 12), st.integers(1, 9))
def test_sida_a_changed_check_digit_is_always_detected(base: str, position: int, delta: int) -> None:
    """Changing either of SIDA's check digits is always detected (the mod-11 blind spot only hides changes of the
    base digits whose remainders are 0 and 1: tests/unit/test_identifiers.py)."""
    number = base + sida_check_digits(base)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert not is_valid_inscricao_pgfn(changed)


def test_sida_normalises_masks_and_stripped_leading_zeros() -> None:
    """``22.6.15.000605-12`` and a number whose leading zeros open data stripped both normalise to 13 digits."""
    assert normalize_inscricao_pgfn("22.6.15.000605-12") == "2261500060512"
    number = "01" + "1" + "15" + "000605"
    full = number + sida_check_digits(number)
    assert normalize_inscricao_pgfn(full.lstrip("0")) == full
    with pytest.raises(ValueError):
        normalize_inscricao_pgfn("2261500060513")
