"""Tests for gateway.identifiers against the rules of DOMAIN.md section 3.

The references below are written independently of the module (different
formulations of the same published rules) and compared with it by hypothesis.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from gateway.identifiers import (
    IdentifierKind,
    NumeroProcessoCNJ,
    cnpj_check_digits,
    cpf_check_digits,
    is_valid_cnpj,
    is_valid_cpf,
    is_valid_inscricao_pgfn,
    is_valid_matricula_certidao,
    is_valid_processo_cnj,
    is_valid_titulo_eleitor,
    only_digits,
    parse_processo_cnj,
    processo_cnj_check_digits,
    titulo_eleitor_check_digits,
    validate,
)

DIGITS = string.digits
CNPJ_ALNUM = string.digits + string.ascii_uppercase
MASK_CHARS = ".-/ \t\r\n"

ALL_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "cpf": is_valid_cpf,
    "cnpj": is_valid_cnpj,
    "processo_cnj": is_valid_processo_cnj,
    "titulo_eleitor": is_valid_titulo_eleitor,
    "matricula_certidao": is_valid_matricula_certidao,
    "inscricao_pgfn": is_valid_inscricao_pgfn,
}


def digit_strings(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=n, max_size=n)


def single_digit_mutations(value: str) -> Iterator[tuple[int, str]]:
    """(position, string) for every way of replacing one digit of ``value`` by another digit."""
    for i in range(len(value)):
        if value[i] not in DIGITS:
            continue
        for d in DIGITS:
            if d != value[i]:
                yield i, value[:i] + d + value[i + 1 :]


# ----------------------------------------------------------------- references


def ref_cpf_remainders(cpf: str) -> tuple[int, int]:
    r1 = sum(int(c) * w for c, w in zip(cpf[:9], range(10, 1, -1), strict=True)) % 11
    r2 = sum(int(c) * w for c, w in zip(cpf[:10], range(11, 1, -1), strict=True)) % 11
    return r1, r2


def ref_cpf_valid(cpf: str) -> bool:
    """The '(sum * 10) % 11, 10 -> 0' formulation of the CPF rule."""
    if len(cpf) != 11 or not cpf.isascii() or not cpf.isdigit() or len(set(cpf)) == 1:
        return False
    s1 = sum(int(c) * w for c, w in zip(cpf[:9], range(10, 1, -1), strict=True))
    s2 = sum(int(c) * w for c, w in zip(cpf[:10], range(11, 1, -1), strict=True))
    return (s1 * 10 % 11) % 10 == int(cpf[9]) and (s2 * 10 % 11) % 10 == int(cpf[10])


CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
CNPJ_W2 = [6, *CNPJ_W1]


def ref_cnpj_remainders(cnpj: str) -> tuple[int, int]:
    values = [ord(c) - ord("0") for c in cnpj]
    return (
        sum(v * w for v, w in zip(values[:12], CNPJ_W1, strict=True)) % 11,
        sum(v * w for v, w in zip(values[:13], CNPJ_W2, strict=True)) % 11,
    )


def ref_cnpj_valid(cnpj: str) -> bool:
    if (
        len(cnpj) != 14
        or any(c not in CNPJ_ALNUM for c in cnpj[:12])
        or any(c not in DIGITS for c in cnpj[12:])
    ):
        return False
    if len(set(cnpj)) == 1:
        return False
    r1, r2 = ref_cnpj_remainders(cnpj)
    return cnpj[12:] == f"{0 if r1 < 2 else 11 - r1}{0 if r2 < 2 else 11 - r2}"


def ref_cnj_valid(digits20: str) -> bool:
    """DOMAIN.md: valid iff int(NNNNNNN AAAA J TR OOOO DD) % 97 == 1."""
    if len(digits20) != 20 or not digits20.isascii() or not digits20.isdigit():
        return False
    n, dd, rest = digits20[:7], digits20[7:9], digits20[9:]
    return int(n + rest + dd) % 97 == 1


def ref_titulo_remainders(titulo: str) -> tuple[int, int]:
    r1 = sum(int(titulo[i]) * (i + 2) for i in range(8)) % 11
    r2 = (int(titulo[8]) * 7 + int(titulo[9]) * 8 + int(titulo[10]) * 9) % 11
    return r1, r2


def ref_titulo_valid(titulo: str) -> bool:
    """Título rule with the SP/MG remainder 0 -> 1 variant, computed digit by digit."""
    if len(titulo) != 12 or not titulo.isascii() or not titulo.isdigit():
        return False
    uf = int(titulo[8:10])
    if not 1 <= uf <= 28:
        return False
    accepted = set()
    for variant in (False, True) if uf in (1, 2) else (False,):
        r1 = sum(int(titulo[i]) * (i + 2) for i in range(8)) % 11
        dv1 = 0 if r1 == 10 else (1 if r1 == 0 and variant else r1)
        r2 = (int(titulo[8]) * 7 + int(titulo[9]) * 8 + dv1 * 9) % 11
        dv2 = 0 if r2 == 10 else (1 if r2 == 0 and variant else r2)
        accepted.add(f"{dv1}{dv2}")
    return titulo[10:] in accepted


def ref_certidao_check_digits(base30: str) -> str:
    """Cyclic weights 2..10, 0, 1, 2... (DV1 over 30 digits, DV2 over 31), remainder 10 -> 1."""

    def dv(digits: str) -> int:
        weights = [(32 - len(digits) + i) % 11 for i in range(len(digits))]
        r = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
        return 1 if r == 10 else r

    dv1 = dv(base30)
    return f"{dv1}{dv(base30 + str(dv1))}"


PGFN_W1 = [4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
PGFN_W2 = [5, *PGFN_W1]


def ref_pgfn_remainders(insc: str) -> tuple[int, int]:
    return (
        sum(int(c) * w for c, w in zip(insc[:11], PGFN_W1, strict=True)) % 11,
        sum(int(c) * w for c, w in zip(insc[:12], PGFN_W2, strict=True)) % 11,
    )


def ref_pgfn_check_digits(base11: str) -> str:
    r1 = sum(int(c) * w for c, w in zip(base11, PGFN_W1, strict=True)) % 11
    dv1 = 0 if r1 < 2 else 11 - r1
    r2 = sum(int(c) * w for c, w in zip(base11 + str(dv1), PGFN_W2, strict=True)) % 11
    return f"{dv1}{0 if r2 < 2 else 11 - r2}"


def mask_cpf(d: str) -> str:
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def mask_cnpj(c: str) -> str:
    return f"{c[:2]}.{c[2:5]}.{c[5:8]}/{c[8:12]}-{c[12:]}"


# ------------------------------------------------------------------- strategies

cpf_bases = digit_strings(9)
cnpj_numeric_bases = digit_strings(12)
cnpj_alnum_bases = st.text(alphabet=CNPJ_ALNUM, min_size=12, max_size=12)
cnj_parts = st.tuples(
    digit_strings(7), digit_strings(4), digit_strings(1), digit_strings(2), digit_strings(4)
)
titulo_ufs = st.integers(min_value=1, max_value=28).map(lambda n: f"{n:02d}")


@st.composite
def valid_cpfs(draw: st.DrawFn) -> str:
    base = draw(cpf_bases)
    cpf = base + cpf_check_digits(base)
    assume(len(set(cpf)) > 1)
    return cpf


@st.composite
def valid_cnpjs(draw: st.DrawFn) -> str:
    base = draw(st.one_of(cnpj_numeric_bases, cnpj_alnum_bases))
    cnpj = base + cnpj_check_digits(base)
    assume(len(set(cnpj)) > 1)
    return cnpj


@st.composite
def valid_cnjs(draw: st.DrawFn) -> str:
    n, a, j, tr, o = draw(cnj_parts)
    return n + processo_cnj_check_digits(n, a, j, tr, o) + a + j + tr + o


@st.composite
def valid_titulos(draw: st.DrawFn) -> str:
    seq, uf = draw(digit_strings(8)), draw(titulo_ufs)
    return seq + uf + titulo_eleitor_check_digits(seq, uf)


@st.composite
def valid_pgfns(draw: st.DrawFn) -> str:
    base = draw(digit_strings(11))
    assume(base != "0" * 11)
    return base + ref_pgfn_check_digits(base)


# ---------------------------------------------------------------- only_digits


def test_only_digits_strips_mask_characters_only() -> None:
    """only_digits removes . - / and whitespace and keeps everything else, so validators can reject it."""
    assert only_digits("123.456.789-09") == "12345678909"
    assert only_digits("12.ABC.345/01DE-35") == "12ABC34501DE35"
    assert only_digits("0043 5687 0906") == "004356870906"
    assert only_digits("12a3") == "12a3"
    assert only_digits("") == ""


# ------------------------------------------------------------------------ CPF


def test_cpf_known_examples() -> None:
    """A hand-checked CPF validates masked and unmasked, and its check digits are reproduced."""
    assert cpf_check_digits("529982247") == "25"
    assert is_valid_cpf("52998224725")
    assert is_valid_cpf("529.982.247-25")
    assert not is_valid_cpf("52998224726")


@given(cpf_bases)
def test_cpf_generated_check_digits_validate(base: str) -> None:
    """For any 9-digit base, base + cpf_check_digits(base) is valid (unless all digits are equal)."""
    cpf = base + cpf_check_digits(base)
    assert is_valid_cpf(cpf) == (len(set(cpf)) > 1)
    assert ref_cpf_valid(cpf) == is_valid_cpf(cpf)


@given(digit_strings(11))
def test_cpf_matches_reference(cpf: str) -> None:
    """The module agrees with an independent '(sum*10) % 11' CPF implementation on any 11 digits."""
    assert is_valid_cpf(cpf) == ref_cpf_valid(cpf)


@given(valid_cpfs())
def test_cpf_single_digit_changes(cpf: str) -> None:
    """A single-digit change of a valid CPF is invalid, except the inherent mod-11 blind spot.

    Because remainders 0 and 1 both give check digit 0, a change can go undetected
    only if a remainder of the original or of the changed number is 0 or 1
    (see test_cpf_mod11_blind_spot_is_real). Check-digit positions are always caught.
    """
    for i, mutated in single_digit_mutations(cpf):
        valid = is_valid_cpf(mutated)
        assert valid == ref_cpf_valid(mutated)
        if valid:
            assert i < 9
            assert {*ref_cpf_remainders(cpf), *ref_cpf_remainders(mutated)} & {0, 1}


def test_cpf_mod11_blind_spot_is_real() -> None:
    """Pins the known CPF weakness: decrementing the first digit can keep both check digits."""
    assert is_valid_cpf("20004864603")
    assert is_valid_cpf("10004864603")


@given(valid_cpfs())
def test_cpf_masked_equals_unmasked(cpf: str) -> None:
    """The masked form NNN.NNN.NNN-DD validates exactly like the unmasked one."""
    assert is_valid_cpf(mask_cpf(cpf)) == is_valid_cpf(cpf) is True


@pytest.mark.parametrize("d", list(DIGITS))
def test_cpf_all_equal_digits_invalid(d: str) -> None:
    """CPFs with all digits equal pass the arithmetic but are invalid (masked or not)."""
    assert not is_valid_cpf(d * 11)
    assert not is_valid_cpf(mask_cpf(d * 11))


@given(st.text(alphabet=DIGITS, max_size=30).filter(lambda s: len(s) != 11))
def test_cpf_wrong_length_invalid(value: str) -> None:
    """Digit strings of any length other than 11 are invalid (no zero-padding of short input)."""
    assert not is_valid_cpf(value)


def test_cpf_short_input_not_zero_padded() -> None:
    """A valid CPF with a leading zero is invalid once that zero is dropped (validate-docbr would pad it)."""
    base = "012345678"
    cpf = base + cpf_check_digits(base)
    assert is_valid_cpf(cpf)
    assert not is_valid_cpf(cpf[1:])


@pytest.mark.parametrize(
    "bad", ["", "12345678", "1234567890", "12a4567890", "١٢٣٤٥٦٧٨٩", "１２３４５６７８９"]
)
def test_cpf_check_digits_rejects_bad_base(bad: str) -> None:
    """cpf_check_digits raises ValueError unless given exactly nine ASCII digits."""
    with pytest.raises(ValueError):
        cpf_check_digits(bad)


# ----------------------------------------------------------------------- CNPJ


def test_cnpj_official_alphanumeric_example() -> None:
    """The RFB example 12.ABC.345/01DE-35 is valid masked and unmasked; its check digits are reproduced."""
    assert is_valid_cnpj("12.ABC.345/01DE-35")
    assert is_valid_cnpj("12ABC34501DE35")
    assert cnpj_check_digits("12ABC34501DE") == "35"
    assert not is_valid_cnpj("12ABC34501DE36")


def test_cnpj_numeric_known_example() -> None:
    """A classic numeric CNPJ validates and its check digits are reproduced."""
    assert is_valid_cnpj("11.222.333/0001-81")
    assert cnpj_check_digits("112223330001") == "81"


def test_cnpj_lowercase_rejected() -> None:
    """Letters must be upper case (validate-docbr alone would upper-case them and accept)."""
    assert not is_valid_cnpj("12.abc.345/01de-35")
    assert not is_valid_cnpj("12ABC34501De35")


def test_cnpj_letters_in_check_digits_invalid() -> None:
    """The last two characters must be digits."""
    base = "12ABC34501DE"
    assert not is_valid_cnpj(base + "3A")
    assert not is_valid_cnpj(base + "A5")


@given(st.one_of(cnpj_numeric_bases, cnpj_alnum_bases))
def test_cnpj_generated_check_digits_validate(base: str) -> None:
    """For any numeric or alphanumeric base, base + cnpj_check_digits(base) is valid (unless all-equal)."""
    cnpj = base + cnpj_check_digits(base)
    assert is_valid_cnpj(cnpj) == (len(set(cnpj)) > 1)
    assert ref_cnpj_valid(cnpj) == is_valid_cnpj(cnpj)


@given(st.text(alphabet=CNPJ_ALNUM, min_size=12, max_size=12), digit_strings(2))
def test_cnpj_matches_reference(base: str, dvs: str) -> None:
    """The module agrees with an independent implementation of the DOMAIN.md CNPJ rule."""
    assert is_valid_cnpj(base + dvs) == ref_cnpj_valid(base + dvs)


@given(valid_cnpjs())
def test_cnpj_single_digit_changes(cnpj: str) -> None:
    """Replacing one digit of a valid CNPJ by another digit invalidates it, except the mod-11 blind spot.

    As for CPF, remainders 0 and 1 share check digit 0; an undetected change requires
    one of those remainders in the original or in the changed number.
    """
    for i, mutated in single_digit_mutations(cnpj):
        valid = is_valid_cnpj(mutated)
        assert valid == ref_cnpj_valid(mutated)
        if valid:
            assert i < 12
            assert {*ref_cnpj_remainders(cnpj), *ref_cnpj_remainders(mutated)} & {0, 1}


@given(cnpj_alnum_bases, st.integers(min_value=0, max_value=11))
def test_cnpj_alphanumeric_substitution_blind_spot(base: str, position: int) -> None:
    """Pins an inherent property of the alphanumeric CNPJ: swapping '7' and 'B' (values 7 and 18,
    which differ by 11) anywhere in the base never changes the check digits."""
    with_7 = base[:position] + "7" + base[position + 1 :]
    with_b = base[:position] + "B" + base[position + 1 :]
    assert cnpj_check_digits(with_7) == cnpj_check_digits(with_b)


@given(valid_cnpjs())
def test_cnpj_masked_equals_unmasked(cnpj: str) -> None:
    """The masked form NN.NNN.NNN/NNNN-DD validates exactly like the unmasked one."""
    assert is_valid_cnpj(mask_cnpj(cnpj)) == is_valid_cnpj(cnpj) is True


@pytest.mark.parametrize("c", list(CNPJ_ALNUM))
def test_cnpj_all_equal_invalid(c: str) -> None:
    """CNPJs made of a single repeated character are invalid."""
    assert not is_valid_cnpj(c * 14)
    assert not is_valid_cnpj(mask_cnpj(c * 14))


@given(st.text(alphabet=CNPJ_ALNUM, max_size=30).filter(lambda s: len(s) != 14))
def test_cnpj_wrong_length_invalid(value: str) -> None:
    """Anything that is not 14 characters after unmasking is invalid."""
    assert not is_valid_cnpj(value)


@pytest.mark.parametrize(
    "bad", ["", "12ABC34501D", "12abc34501de", "12ABC34501DE3", "12ABC-4501DE", "12ÁBC34501DE"]
)
def test_cnpj_check_digits_rejects_bad_base(bad: str) -> None:
    """cnpj_check_digits raises ValueError unless given twelve characters of 0-9/A-Z."""
    with pytest.raises(ValueError):
        cnpj_check_digits(bad)


# ------------------------------------------------------------- CNJ process number


@given(cnj_parts)
def test_cnj_generated_check_digits_validate(parts: tuple[str, str, str, str, str]) -> None:
    """For any fields, the generated DD makes a number valid for both the module and the reference."""
    n, a, j, tr, o = parts
    dd = processo_cnj_check_digits(n, a, j, tr, o)
    assert len(dd) == 2 and 2 <= int(dd) <= 98
    number = n + dd + a + j + tr + o
    assert is_valid_processo_cnj(number)
    assert ref_cnj_valid(number)


@given(st.one_of(digit_strings(20), valid_cnjs()))
@example("00000010020248190001")
def test_cnj_matches_mod97_reference(digits20: str) -> None:
    """The module agrees with the independent 'int(N A J TR O DD) % 97 == 1' rule of DOMAIN.md."""
    assert is_valid_processo_cnj(digits20) == ref_cnj_valid(digits20)


@given(valid_cnjs())
def test_cnj_every_single_digit_change_invalid(number: str) -> None:
    """Mod 97 catches every single-digit change, in any of the 20 positions, including DD."""
    for _, mutated in single_digit_mutations(number):
        assert not is_valid_processo_cnj(mutated)
        assert not ref_cnj_valid(mutated)


@given(valid_cnjs())
def test_cnj_parse_masked_and_unmasked(number: str) -> None:
    """parse_processo_cnj gives the same fields for masked and unmasked input; properties round-trip."""
    parsed = parse_processo_cnj(number)
    assert parsed.unmasked == number
    assert parse_processo_cnj(parsed.masked) == parsed
    assert is_valid_processo_cnj(parsed.masked)
    assert (
        parsed.masked
        == f"{number[:7]}-{number[7:9]}.{number[9:13]}.{number[13]}.{number[14:16]}.{number[16:]}"
    )
    assert parsed.jtr == f"{number[13]}.{number[14:16]}"
    assert str(parsed) == parsed.masked


def test_cnj_fields_and_jtr() -> None:
    """A TJRJ number parses into its fields and routes to J.TR 8.19."""
    dd = processo_cnj_check_digits("0012345", "2023", "8", "19", "0001")
    parsed = parse_processo_cnj(f"0012345-{dd}.2023.8.19.0001")
    assert parsed == NumeroProcessoCNJ("0012345", dd, "2023", "8", "19", "0001")
    assert parsed.jtr == "8.19"
    assert parsed.masked == f"0012345-{dd}.2023.8.19.0001"
    assert parsed.unmasked == f"0012345{dd}20238190001"


def test_cnj_dd_aliases_follow_domain_rule() -> None:
    """DOMAIN.md defines validity as '% 97 == 1', so DD 00/01/99 aliases of 97/98/02 are accepted.

    Pinned so a change of policy is a deliberate decision: the generator never produces them.
    """
    # find fields whose DD is 98; then DD 01 satisfies the same congruence.
    for seq in range(100):
        n = f"{seq:07d}"
        if processo_cnj_check_digits(n, "2020", "8", "19", "0001") == "98":
            break
    else:  # pragma: no cover
        pytest.fail("no base with DD 98 found")
    assert is_valid_processo_cnj(f"{n}9820208190001")
    assert is_valid_processo_cnj(f"{n}0120208190001")


@given(valid_cnjs(), st.integers(min_value=0, max_value=19))
def test_cnj_parse_rejects_wrong_check_digits(number: str, position: int) -> None:
    """parse_processo_cnj raises ValueError when any digit is wrong."""
    mutated = number[:position] + str((int(number[position]) + 1) % 10) + number[position + 1 :]
    with pytest.raises(ValueError):
        parse_processo_cnj(mutated)


@pytest.mark.parametrize(
    "bad",
    ["", "0012345", "0012345-67.2023.8.19.000", "0012345-67.2023.8.19.00011", "A012345-67.2023.8.19.0001"],
)
def test_cnj_parse_rejects_wrong_shape(bad: str) -> None:
    """parse_processo_cnj raises ValueError unless there are exactly 20 digits after unmasking."""
    with pytest.raises(ValueError):
        parse_processo_cnj(bad)


def test_cnj_dataclass_rejects_invalid_fields() -> None:
    """Building NumeroProcessoCNJ directly with a bad field or wrong DD raises ValueError."""
    dd = processo_cnj_check_digits("0012345", "2023", "8", "19", "0001")
    wrong = f"{(int(dd) + 1) % 100:02d}"
    with pytest.raises(ValueError):
        NumeroProcessoCNJ("0012345", wrong, "2023", "8", "19", "0001")
    with pytest.raises(ValueError):
        NumeroProcessoCNJ("12345", dd, "2023", "8", "19", "0001")


@given(st.text(alphabet=DIGITS, max_size=40).filter(lambda s: len(s) != 20))
def test_cnj_wrong_length_invalid(value: str) -> None:
    """Digit strings of any length other than 20 are invalid."""
    assert not is_valid_processo_cnj(value)


def test_cnj_check_digits_rejects_bad_fields() -> None:
    """processo_cnj_check_digits raises ValueError for fields of the wrong size or with non-digits."""
    with pytest.raises(ValueError):
        processo_cnj_check_digits("123456", "2023", "8", "19", "0001")
    with pytest.raises(ValueError):
        processo_cnj_check_digits("0012345", "2023", "X", "19", "0001")


# ---------------------------------------------------------- Título de eleitor


@given(digit_strings(8), titulo_ufs)
def test_titulo_generated_check_digits_validate(seq: str, uf: str) -> None:
    """For any sequence and UF 01..28, the generated check digits validate (module and reference)."""
    titulo = seq + uf + titulo_eleitor_check_digits(seq, uf)
    assert is_valid_titulo_eleitor(titulo)
    assert ref_titulo_valid(titulo)


@given(st.one_of(digit_strings(12), valid_titulos()))
def test_titulo_matches_reference(titulo: str) -> None:
    """The module agrees with an independent implementation including the SP/MG 0->1 variant."""
    assert is_valid_titulo_eleitor(titulo) == ref_titulo_valid(titulo)


@given(valid_titulos())
def test_titulo_single_digit_changes(titulo: str) -> None:
    """A single-digit change of a valid título is invalid unless a collapsed remainder explains it.

    Remainder 10 gives DV 0 (and, for SP/MG, remainder 0 may give 1), so the título
    code cannot catch every change: an undetected change requires a remainder of 0
    or 10 in the original or the changed number. All other changes are caught.
    """
    for _, mutated in single_digit_mutations(titulo):
        valid = is_valid_titulo_eleitor(mutated)
        assert valid == ref_titulo_valid(mutated)
        if valid:
            assert {*ref_titulo_remainders(titulo), *ref_titulo_remainders(mutated)} & {0, 10}


def test_titulo_sp_mg_zero_to_one_variant() -> None:
    """For UF 01/02 both the standard digits and the remainder-0->1 variant are valid; not for other UFs."""
    # r1 == 0: DV1 is 0 (standard) or 1 (variant, with DV2 recomputed from it).
    assert titulo_eleitor_check_digits("10001147", "01") == "08"
    assert is_valid_titulo_eleitor("100011470108")
    assert is_valid_titulo_eleitor("100011470116")
    assert not is_valid_titulo_eleitor("100011470118")  # mixed: variant DV1 with standard DV2
    # r2 == 0: DV2 is 0 or 1.
    assert is_valid_titulo_eleitor("100001850280")
    assert is_valid_titulo_eleitor("100001850281")


@given(digit_strings(8), st.integers(min_value=3, max_value=28).map(lambda n: f"{n:02d}"))
def test_titulo_variant_only_for_sp_mg(seq: str, uf: str) -> None:
    """Outside SP/MG, replacing a remainder-0 check digit 0 by 1 is invalid."""
    dvs = titulo_eleitor_check_digits(seq, uf)
    r1, r2 = ref_titulo_remainders(seq + uf + dvs)
    if r1 == 0:
        assert not is_valid_titulo_eleitor(seq + uf + "1" + dvs[1])
    if r2 == 0:
        assert not is_valid_titulo_eleitor(seq + uf + dvs[0] + "1")


@given(digit_strings(8), st.sampled_from(["00", *(f"{n}" for n in range(29, 100))]), digit_strings(2))
def test_titulo_uf_out_of_range_invalid(seq: str, uf: str, dvs: str) -> None:
    """UF codes outside 01..28 are invalid whatever the check digits."""
    assert not is_valid_titulo_eleitor(seq + uf + dvs)


@given(valid_titulos())
def test_titulo_masked_equals_unmasked(titulo: str) -> None:
    """The masked form 'NNNN NNNN NNNN' validates like the unmasked one."""
    masked = f"{titulo[:4]} {titulo[4:8]} {titulo[8:]}"
    assert is_valid_titulo_eleitor(masked) == is_valid_titulo_eleitor(titulo) is True


@given(st.text(alphabet=DIGITS, max_size=30).filter(lambda s: len(s) != 12))
def test_titulo_wrong_length_invalid(value: str) -> None:
    """Digit strings of any length other than 12 are invalid."""
    assert not is_valid_titulo_eleitor(value)


def test_titulo_check_digits_rejects_bad_input() -> None:
    """titulo_eleitor_check_digits raises ValueError for a bad sequence or a UF outside 01..28."""
    for seq, uf in (
        ("1234567", "01"),
        ("12345678", "00"),
        ("12345678", "29"),
        ("1234567a", "01"),
        ("12345678", "1"),
    ):
        with pytest.raises(ValueError):
            titulo_eleitor_check_digits(seq, uf)


# ------------------------------------------------------ Certificate matrícula


def test_certidao_known_example() -> None:
    """The example matrícula used in validate-docbr's test-suite validates, masked and not."""
    assert is_valid_matricula_certidao("10453901552013100012021000012321")
    assert is_valid_matricula_certidao("104539.01.55.2013.1.00012.021.0000123-21")
    assert not is_valid_matricula_certidao("10453901552013100012021000012322")


@given(digit_strings(30))
def test_certidao_matches_reference(base: str) -> None:
    """A base with check digits from an independent reference validates; other check digits don't."""
    dvs = ref_certidao_check_digits(base)
    assert is_valid_matricula_certidao(base + dvs)
    wrong = f"{(int(dvs) + 1) % 100:02d}"
    assert not is_valid_matricula_certidao(base + wrong)


@given(st.text(alphabet=DIGITS, max_size=40).filter(lambda s: len(s) != 32))
def test_certidao_wrong_length_invalid(value: str) -> None:
    """Digit strings of any length other than 32 are invalid."""
    assert not is_valid_matricula_certidao(value)


# -------------------------------------------------------------------- PGFN


def test_pgfn_known_example() -> None:
    """The real inscription 2261500060512 is valid, masked too; a changed DV is not."""
    assert is_valid_inscricao_pgfn("2261500060512")
    assert is_valid_inscricao_pgfn("22.6.15.000605-12")
    assert ref_pgfn_check_digits("22615000605") == "12"
    assert not is_valid_inscricao_pgfn("2261500060513")


@given(valid_pgfns())
def test_pgfn_generated_and_left_padding(insc: str) -> None:
    """Generated inscriptions validate, and so do their forms with leading zeros stripped."""
    assert is_valid_inscricao_pgfn(insc)
    stripped = insc.lstrip("0")
    assert is_valid_inscricao_pgfn(stripped)
    assert is_valid_inscricao_pgfn(stripped.zfill(13))


@given(valid_pgfns())
def test_pgfn_single_digit_changes(insc: str) -> None:
    """A single-digit change is invalid except the mod-11 blind spot (remainder 0 or 1 involved)."""
    for i, mutated in single_digit_mutations(insc):
        if is_valid_inscricao_pgfn(mutated):
            assert i < 11
            assert {*ref_pgfn_remainders(insc), *ref_pgfn_remainders(mutated)} & {0, 1}


@pytest.mark.parametrize("bad", ["", "0", "0000000000000", "22615000605120", "02261500060512"])
def test_pgfn_empty_zero_and_too_long_invalid(bad: str) -> None:
    """Empty, all-zero and longer-than-13-digit inputs are invalid."""
    assert not is_valid_inscricao_pgfn(bad)


# --------------------------------------------------- all validators: robustness


@pytest.mark.parametrize("name", list(ALL_VALIDATORS))
@given(value=st.text())
def test_no_validator_raises_on_arbitrary_text(name: str, value: str) -> None:
    """Every is_valid_* returns a bool for any text, never raising."""
    assert isinstance(ALL_VALIDATORS[name](value), bool)


@pytest.mark.parametrize("name", list(ALL_VALIDATORS))
def test_no_validator_raises_on_non_string(name: str) -> None:
    """Every is_valid_* returns False for None or a non-string instead of raising."""
    for value in (None, 12345678909, b"12345678909", ["1"]):
        assert ALL_VALIDATORS[name](value) is False  # type: ignore[arg-type]


VALID_EXAMPLES: dict[str, str] = {
    "cpf": "52998224725",
    "cnpj": "12ABC34501DE35",
    "processo_cnj": "0012345"
    + processo_cnj_check_digits("0012345", "2023", "8", "19", "0001")
    + "20238190001",
    "titulo_eleitor": "100011470108",
    "matricula_certidao": "10453901552013100012021000012321",
    "inscricao_pgfn": "2261500060512",
}

garbage_chars = st.characters(exclude_characters=MASK_CHARS, exclude_categories=["Cs"]).filter(
    lambda c: c not in DIGITS
)


@pytest.mark.parametrize("name", list(ALL_VALIDATORS))
@given(data=st.data())
def test_garbage_character_makes_valid_number_invalid(name: str, data: st.DataObject) -> None:
    """Inserting or substituting any non-mask, non-ASCII-digit character makes a valid number invalid."""
    valid = VALID_EXAMPLES[name]
    assert ALL_VALIDATORS[name](valid)
    char = data.draw(garbage_chars)
    pos = data.draw(st.integers(min_value=0, max_value=len(valid)))
    assert not ALL_VALIDATORS[name](valid[:pos] + char + valid[pos:])
    if name != "cnpj":  # letters are legitimate in a CNPJ base, tested separately
        sub = data.draw(st.integers(min_value=0, max_value=len(valid) - 1))
        assert not ALL_VALIDATORS[name](valid[:sub] + char + valid[sub + 1 :])


@pytest.mark.parametrize("name", list(ALL_VALIDATORS))
def test_non_ascii_digits_rejected(name: str) -> None:
    """Arabic-Indic or full-width digits are not accepted in place of ASCII digits."""
    valid = VALID_EXAMPLES[name]
    for zero in ("\u0660", "\uff10"):
        translated = "".join(chr(ord(zero) + int(c)) if c in DIGITS else c for c in valid)
        assert not ALL_VALIDATORS[name](translated)


# --------------------------------------------------------------------- dispatch


@pytest.mark.parametrize("kind", list(IdentifierKind))
def test_validate_dispatches_by_kind(kind: IdentifierKind) -> None:
    """validate(kind, value) gives the result of the matching is_valid_* function, also for a str kind."""
    valid = VALID_EXAMPLES[kind.value]
    assert validate(kind, valid)
    assert validate(kind.value, valid)  # type: ignore[arg-type]
    assert not validate(kind, valid + "9")
    for other, example_value in VALID_EXAMPLES.items():
        assert validate(kind, example_value) == ALL_VALIDATORS[kind.value](example_value), other


def test_validate_unknown_kind_raises() -> None:
    """An unknown kind is a programming error and raises ValueError."""
    with pytest.raises(ValueError):
        validate("rg", "123")  # type: ignore[arg-type]
