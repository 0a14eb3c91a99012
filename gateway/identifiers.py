"""Validation of the Brazilian identifiers the gateway exchanges.

Covers CPF, CNPJ (including the alphanumeric CNPJ of IN RFB 2.229/2024), the CNJ
unified process number (Res. CNJ 65/2008), título de eleitor, the matrícula of
civil-registry certificates (Prov. CNJ 149/2023 art. 473), the PGFN (SIDA)
inscription number and the PGF inscription number (our own partner contract,
``mocks/README_pgf.md``).  The algorithms are those of ``DOMAIN.md`` section 3.

Every ``is_valid_*`` function accepts the value masked or unmasked, never raises
for any string, and returns ``False`` for anything that is not a well-formed,
correctly check-digited identifier.  CPF, CNPJ and certificate matrícula check
digits are verified by ``validate-docbr`` (after strict input normalisation done
here); the other rules are implemented in this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from validate_docbr import CNPJ as _DocbrCNPJ
from validate_docbr import CPF as _DocbrCPF
from validate_docbr import Certidao as _DocbrCertidao

__all__ = [
    "IdentifierKind",
    "NumeroProcessoCNJ",
    "cnpj_check_digits",
    "cpf_check_digits",
    "inscricao_pgf_check_digit",
    "is_valid_cnpj",
    "is_valid_cpf",
    "is_valid_inscricao_pgf",
    "is_valid_inscricao_pgfn",
    "is_valid_matricula_certidao",
    "is_valid_processo_cnj",
    "is_valid_titulo_eleitor",
    "normalize_inscricao_pgf",
    "normalize_inscricao_pgfn",
    "only_digits",
    "parse_processo_cnj",
    "processo_cnj_check_digits",
    "processo_jtr",
    "titulo_eleitor_check_digits",
    "validate",
]


class IdentifierKind(StrEnum):
    """The kinds of identifier the gateway knows how to validate."""

    CPF = "cpf"
    CNPJ = "cnpj"
    PROCESSO_CNJ = "processo_cnj"
    TITULO_ELEITOR = "titulo_eleitor"
    MATRICULA_CERTIDAO = "matricula_certidao"
    INSCRICAO_PGFN = "inscricao_pgfn"


# Validators are stateless; constructing them does no work.
_CPF: Final = _DocbrCPF()
_CNPJ: Final = _DocbrCNPJ()
_CERTIDAO: Final = _DocbrCertidao()

_MASK_TABLE: Final = str.maketrans("", "", ".-/ \t\r\n")

# ASCII only: str.isdigit()/\d would also accept e.g. Arabic-Indic digits.
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_CNPJ_RE: Final = re.compile(r"[0-9A-Z]{12}[0-9]{2}")

_CNPJ_WEIGHTS_DV1: Final = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS_DV2: Final = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_PGFN_WEIGHTS_DV1: Final = (4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_PGFN_WEIGHTS_DV2: Final = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)

_TITULO_UF_MIN: Final = 1
_TITULO_UF_MAX: Final = 28  # 28 = exterior
_TITULO_UF_ZERO_TO_ONE: Final = frozenset({"01", "02"})  # SP, MG


def only_digits(value: str) -> str:
    """Return ``value`` without its mask characters (``.``, ``-``, ``/`` and whitespace).

    Any other character (letters of an alphanumeric CNPJ, garbage) is kept, so
    that the validators can reject it instead of silently ignoring it.
    """
    return value.translate(_MASK_TABLE)


def _unmask(value: object) -> str | None:
    """``only_digits`` for validators, which must not raise even for a non-string (e.g. ``None``)."""
    return only_digits(value) if isinstance(value, str) else None


def _is_ascii_digits(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and _DIGITS_RE.fullmatch(value) is not None


def _mod11_dv(total: int) -> int:
    """Mod-11 check digit of the CPF/CNPJ/PGFN family: ``0 if r < 2 else 11 - r``."""
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def _weighted_dv(chars: str, weights: tuple[int, ...]) -> int:
    return _mod11_dv(sum((ord(c) - 48) * w for c, w in zip(chars, weights, strict=True)))


# --------------------------------------------------------------------------- CPF


def cpf_check_digits(base9: str) -> str:
    """Return the two check digits of the CPF whose first nine digits are ``base9``.

    Raises ``ValueError`` if ``base9`` is not exactly nine ASCII digits.
    """
    if not _is_ascii_digits(base9, 9):
        raise ValueError("a CPF base must be exactly 9 digits")
    dv1 = _weighted_dv(base9, tuple(range(10, 1, -1)))
    dv2 = _weighted_dv(f"{base9}{dv1}", tuple(range(11, 1, -1)))
    return f"{dv1}{dv2}"


def is_valid_cpf(value: str) -> bool:
    """Tell whether ``value`` is a valid CPF (11 digits, masked or not; all-equal digits are invalid)."""
    digits = _unmask(value)
    if digits is None or not _is_ascii_digits(digits, 11):
        return False
    return _CPF.validate(digits)


# -------------------------------------------------------------------------- CNPJ


def cnpj_check_digits(base12: str) -> str:
    """Return the two check digits of the CNPJ whose first twelve characters are ``base12``.

    ``base12`` may mix digits and upper-case letters (alphanumeric CNPJ).
    Raises ``ValueError`` if it is not twelve characters of ``[0-9A-Z]``.
    """
    if len(base12) != 12 or _CNPJ_RE.fullmatch(f"{base12}00") is None:
        raise ValueError("a CNPJ base must be exactly 12 characters of 0-9 or A-Z")
    dv1 = _weighted_dv(base12, _CNPJ_WEIGHTS_DV1)
    dv2 = _weighted_dv(f"{base12}{dv1}", _CNPJ_WEIGHTS_DV2)
    return f"{dv1}{dv2}"


def is_valid_cnpj(value: str) -> bool:
    """Tell whether ``value`` is a valid CNPJ, numeric or alphanumeric, masked or not.

    The first twelve characters may be digits or upper-case letters A-Z, the last
    two are digits; a CNPJ whose characters are all equal is invalid.
    """
    chars = _unmask(value)
    if chars is None or _CNPJ_RE.fullmatch(chars) is None:
        return False
    return _CNPJ.validate(chars)


# ------------------------------------------------------------- CNJ process number


def processo_cnj_check_digits(sequencial: str, ano: str, segmento: str, tribunal: str, origem: str) -> str:
    """Return the two check digits (``DD``) of a CNJ process number from its other fields.

    Raises ``ValueError`` unless the fields have 7, 4, 1, 2 and 4 digits respectively.
    """
    for field, length in ((sequencial, 7), (ano, 4), (segmento, 1), (tribunal, 2), (origem, 4)):
        if not _is_ascii_digits(field, length):
            raise ValueError("CNJ number fields must have 7, 4, 1, 2 and 4 digits")
    base = int(f"{sequencial}{ano}{segmento}{tribunal}{origem}00")
    return f"{98 - base % 97:02d}"


@dataclass(frozen=True)
class NumeroProcessoCNJ:
    """A valid CNJ unified process number ``NNNNNNN-DD.AAAA.J.TR.OOOO``.

    Construction raises ``ValueError`` if a field has the wrong shape or the
    check digits are wrong.
    """

    sequencial: str
    digito: str
    ano: str
    segmento: str
    tribunal: str
    origem: str

    def __post_init__(self) -> None:
        """Reject malformed fields and wrong check digits."""
        fields = (self.sequencial, self.digito, self.ano, self.segmento, self.tribunal, self.origem)
        if not all(_is_ascii_digits(f, n) for f, n in zip(fields, (7, 2, 4, 1, 2, 4), strict=True)):
            raise ValueError("CNJ number fields must have 7, 2, 4, 1, 2 and 4 digits")
        if not _cnj_mod97_ok(self.unmasked):
            raise ValueError(f"wrong check digits in CNJ process number {self.masked}")

    @property
    def unmasked(self) -> str:
        """The 20 digits ``NNNNNNNDDAAAAJTROOOO``."""
        return f"{self.sequencial}{self.digito}{self.ano}{self.segmento}{self.tribunal}{self.origem}"

    @property
    def masked(self) -> str:
        """The canonical masked form ``NNNNNNN-DD.AAAA.J.TR.OOOO``."""
        return f"{self.sequencial}-{self.digito}.{self.ano}.{self.segmento}.{self.tribunal}.{self.origem}"

    @property
    def jtr(self) -> str:
        """Segment and tribunal, ``J.TR`` (e.g. ``8.19``): what routes the process to a tribunal."""
        return processo_jtr(self.unmasked)

    def __str__(self) -> str:
        """The masked form."""
        return self.masked


def _cnj_mod97_ok(digits20: str) -> bool:
    """Res. CNJ 65/2008 validation: ``NNNNNNN AAAA J TR OOOO DD`` taken as an integer is 1 mod 97."""
    rearranged = digits20[:7] + digits20[9:] + digits20[7:9]
    return int(rearranged) % 97 == 1


def parse_processo_cnj(value: str) -> NumeroProcessoCNJ:
    """Parse a CNJ process number, masked or not, into its fields.

    Raises ``ValueError`` if it is not 20 digits after unmasking or its check digits are wrong.
    """
    digits = _unmask(value)
    if digits is None or not _is_ascii_digits(digits, 20):
        raise ValueError("a CNJ process number has 20 digits")
    return NumeroProcessoCNJ(
        sequencial=digits[0:7],
        digito=digits[7:9],
        ano=digits[9:13],
        segmento=digits[13:14],
        tribunal=digits[14:16],
        origem=digits[16:20],
    )


def processo_jtr(value: str) -> str:
    """``J.TR`` (segment and tribunal, e.g. ``8.19``) of a CNJ process number, masked or not, whatever its check
    digits: real MNI clients send numbers with wrong ones and the hub still routes them by ``J.TR``.

    Raises ``ValueError`` if it is not 20 digits after unmasking (Res. CNJ 65/2008: ``NNNNNNN-DD.AAAA.J.TR.OOOO``).
    """
    digits = _unmask(value)
    if digits is None or not _is_ascii_digits(digits, 20):
        raise ValueError("a CNJ process number has 20 digits")
    return f"{digits[13]}.{digits[14:16]}"


def is_valid_processo_cnj(value: str) -> bool:
    """Tell whether ``value`` is a CNJ process number (masked or not) with correct check digits."""
    digits = _unmask(value)
    return digits is not None and _is_ascii_digits(digits, 20) and _cnj_mod97_ok(digits)


# ------------------------------------------------------------- Título de eleitor


def _titulo_dv(total: int, zero_to_one: bool) -> int:
    remainder = total % 11
    if remainder == 10:
        return 0
    if remainder == 0 and zero_to_one:
        return 1
    return remainder


def _titulo_dvs(sequencia8: str, uf2: str, zero_to_one: bool) -> str:
    dv1 = _titulo_dv(sum(int(d) * w for d, w in zip(sequencia8, range(2, 10), strict=True)), zero_to_one)
    dv2 = _titulo_dv(int(uf2[0]) * 7 + int(uf2[1]) * 8 + dv1 * 9, zero_to_one)
    return f"{dv1}{dv2}"


def _titulo_uf_ok(uf2: str) -> bool:
    return _TITULO_UF_MIN <= int(uf2) <= _TITULO_UF_MAX


def titulo_eleitor_check_digits(sequencia8: str, uf2: str) -> str:
    """Return the standard two check digits of a título de eleitor (remainder 10 gives 0).

    For UF 01 (SP) and 02 (MG) some real títulos use remainder 0 → 1 instead;
    :func:`is_valid_titulo_eleitor` accepts those too, this function returns
    the standard digits.  Raises ``ValueError`` unless ``sequencia8`` has 8 digits
    and ``uf2`` is a UF code 01..28.
    """
    if not _is_ascii_digits(sequencia8, 8) or not _is_ascii_digits(uf2, 2) or not _titulo_uf_ok(uf2):
        raise ValueError("a título needs an 8-digit sequence and a UF code 01..28")
    return _titulo_dvs(sequencia8, uf2, zero_to_one=False)


def is_valid_titulo_eleitor(value: str) -> bool:
    """Tell whether ``value`` is a valid 12-digit título de eleitor, masked or not.

    The UF code must be 01..28; for SP (01) and MG (02) both the standard check
    digits and the remainder-0→1 variant are accepted.
    """
    digits = _unmask(value)
    if digits is None or not _is_ascii_digits(digits, 12):
        return False
    sequencia, uf, dvs = digits[:8], digits[8:10], digits[10:]
    if not _titulo_uf_ok(uf):
        return False
    if dvs == _titulo_dvs(sequencia, uf, zero_to_one=False):
        return True
    return uf in _TITULO_UF_ZERO_TO_ONE and dvs == _titulo_dvs(sequencia, uf, zero_to_one=True)


# ------------------------------------------------------ Civil-registry matrícula


def is_valid_matricula_certidao(value: str) -> bool:
    """Tell whether ``value`` is a 32-digit civil-registry certificate matrícula with correct check digits."""
    digits = _unmask(value)
    if digits is None or not _is_ascii_digits(digits, 32):
        return False
    return _CERTIDAO.validate(digits)


# ---------------------------------------------------------------- PGFN (SIDA)


def _pgfn_check_digits(base11: str) -> str:
    dv1 = _weighted_dv(base11, _PGFN_WEIGHTS_DV1)
    dv2 = _weighted_dv(f"{base11}{dv1}", _PGFN_WEIGHTS_DV2)
    return f"{dv1}{dv2}"


def is_valid_inscricao_pgfn(value: str) -> bool:
    """Tell whether ``value`` is a valid PGFN (SIDA) inscription number ``PP T AA NNNNNN DD``.

    Shorter inputs are left-padded with zeros to 13 digits (open data strips
    leading zeros); empty and all-zero inputs are invalid.
    """
    digits = _unmask(value)
    if digits is None or len(digits) > 13 or _DIGITS_RE.fullmatch(digits) is None or set(digits) == {"0"}:
        return False
    digits = digits.zfill(13)
    return digits[11:] == _pgfn_check_digits(digits[:11])


def normalize_inscricao_pgfn(value: str) -> str:
    """The 13 digits of a valid PGFN (SIDA) inscription number, unmasked and left-padded with zeros.

    Raises ``ValueError`` unless :func:`is_valid_inscricao_pgfn` accepts ``value``.
    """
    if not is_valid_inscricao_pgfn(value):
        raise ValueError("not a valid PGFN (SIDA) inscription number")
    return only_digits(value).zfill(13)


# ------------------------------------------------------------------------- PGF
# 15 digits ``CCC AAAA NNNNNNN D`` (creditor code, year, sequence, check digit), printed ``CCC.AAAA.NNNNNNN-D``.
# No public PGF API exists: the format is the one of our own partner contract, ``mocks/README_pgf.md``
# ("Inscription number"), whose check digit is ISO 7064 MOD 11,10 (the hybrid system of ISO/IEC 7064:2003 §7,
# which detects every single substituted digit). Whether the creditor code ``CCC`` is known is a rule of the
# dívida context (``gateway.divida.domain``), not of the number's arithmetic.

_PGF_LENGTH: Final = 15


def inscricao_pgf_check_digit(base14: str) -> str:
    """Return the ISO 7064 MOD 11,10 check digit of the first 14 digits of a PGF inscription number.

    ``p = 10``; for each digit ``d``: ``s = (p + d) mod 10`` (0 → 10), ``p = 2·s mod 11``; the digit is
    ``(11 − p) mod 10`` (``mocks/README_pgf.md``: ``20120230012345`` → ``7``).  Raises ``ValueError`` unless
    ``base14`` is 14 ASCII digits.
    """
    if not _is_ascii_digits(base14, _PGF_LENGTH - 1):
        raise ValueError("a PGF inscription base must be exactly 14 digits")
    p = 10
    for c in base14:
        s = (p + ord(c) - 48) % 10 or 10
        p = 2 * s % 11
    return str((11 - p) % 10)


def is_valid_inscricao_pgf(value: str) -> bool:
    """Tell whether ``value`` is a PGF inscription number (15 digits, masked ``CCC.AAAA.NNNNNNN-D`` or not) whose
    last digit is the ISO 7064 MOD 11,10 check digit of the first 14."""
    digits = _unmask(value)
    if digits is None or not _is_ascii_digits(digits, _PGF_LENGTH):
        return False
    return inscricao_pgf_check_digit(digits[:-1]) == digits[-1]


def normalize_inscricao_pgf(value: str) -> str:
    """The 15 digits of a valid PGF inscription number, unmasked.

    Raises ``ValueError`` unless :func:`is_valid_inscricao_pgf` accepts ``value``.
    """
    if not is_valid_inscricao_pgf(value):
        raise ValueError("not a valid PGF inscription number")
    return only_digits(value)


# ---------------------------------------------------------------------- Dispatch

_VALIDATORS: Final = {
    IdentifierKind.CPF: is_valid_cpf,
    IdentifierKind.CNPJ: is_valid_cnpj,
    IdentifierKind.PROCESSO_CNJ: is_valid_processo_cnj,
    IdentifierKind.TITULO_ELEITOR: is_valid_titulo_eleitor,
    IdentifierKind.MATRICULA_CERTIDAO: is_valid_matricula_certidao,
    IdentifierKind.INSCRICAO_PGFN: is_valid_inscricao_pgfn,
}


def validate(kind: IdentifierKind, value: str) -> bool:
    """Tell whether ``value`` is a valid identifier of the given ``kind``.

    ``kind`` may also be the enum's string value (``"cpf"``); an unknown kind raises ``ValueError``.
    """
    return _VALIDATORS[IdentifierKind(kind)](value)
