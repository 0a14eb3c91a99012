"""Identifiers of the PGFN and PGF simulators, with their check digits (the partners' own code: never ``gateway``).

- CPF (11 digits) and CNPJ (14 characters, the first 12 alphanumeric from July 2026 — IN RFB 2.229/2024): mod-11
  check digits, character value ``ord(c) - 48`` (DOMAIN.md §3);
- PGFN inscription (SIDA): 13 digits ``PP T AA NNNNNN DD``, DV1 over 11 digits with weights 4,3,2,9,8,7,6,5,4,3,2,
  DV2 over 12 with weights 5,4,3,2,9,8,7,6,5,4,3,2, ``dv = 0 if r < 2 else 11 - r``; open data strips leading zeros,
  so a number is left-padded to 13 before it is checked (DOMAIN.md §3);
- PGF inscription (our own design, documented in ``mocks/README_pgf.md``): 15 digits ``CCC AAAA NNNNNNN D``, creditor
  code, year, sequence and one ISO 7064 MOD 11,10 check digit;
- CNJ process numbers come from :func:`mocks.tribunal_data.cnj_number` (Res. CNJ 65/2008).
"""

from __future__ import annotations

import random
import re

_CPF_W1 = tuple(range(10, 1, -1))
_CPF_W2 = tuple(range(11, 1, -1))
_CNPJ_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_SIDA_W1 = (4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_SIDA_W2 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MASK = re.compile(r"[\s./-]")


def _mod11(values: list[int], weights: tuple[int, ...]) -> int:
    r = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if r < 2 else 11 - r


def unmask(text: str) -> str:
    """*text* without spaces, dots, slashes and hyphens, upper-cased (``12.abc.345/01de-35`` → ``12ABC34501DE35``)."""
    return _MASK.sub("", text).upper()


def cpf_check_digits(base: str) -> str:
    """The two check digits of the 9-digit CPF *base*."""
    values = [int(c) for c in base]
    d1 = _mod11(values, _CPF_W1)
    return f"{d1}{_mod11([*values, d1], _CPF_W2)}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of the 12-character CNPJ *base* (digits or upper-case letters: value ``ord(c) - 48``)."""
    values = [ord(c) - 48 for c in base]
    d1 = _mod11(values, _CNPJ_W1)
    return f"{d1}{_mod11([*values, d1], _CNPJ_W2)}"


def is_valid_cpf(text: str) -> bool:
    """True for 11 digits with valid check digits, not all equal (masks accepted)."""
    s = unmask(text)
    return len(s) == 11 and s.isdigit() and len(set(s)) > 1 and cpf_check_digits(s[:9]) == s[9:]


def is_valid_cnpj(text: str) -> bool:
    """True for a numeric or alphanumeric CNPJ with valid check digits, not all equal (masks accepted)."""
    s = unmask(text)
    return (len(s) == 14 and all(c in _ALNUM for c in s[:12]) and s[12:].isdigit() and len(set(s)) > 1
            and cnpj_check_digits(s[:12]) == s[12:])


def new_cpf(rng: random.Random) -> str:
    """A random valid CPF (11 digits)."""
    while True:
        base = "".join(rng.choice("0123456789") for _ in range(9))
        if len(set(base)) > 1:
            return base + cpf_check_digits(base)


def new_cnpj(rng: random.Random, alphanumeric: bool = False) -> str:
    """A random valid CNPJ of a head office (``/0001``); *alphanumeric*: letters in the root (from July 2026)."""
    while True:
        chars = _ALNUM if alphanumeric else "0123456789"
        root = "".join(rng.choice(chars) for _ in range(8))
        if alphanumeric and root.isdigit():
            continue
        if len(set(root)) > 1:
            return root + "0001" + cnpj_check_digits(root + "0001")


def sida_check_digits(base: str) -> str:
    """The two check digits of the 11-digit SIDA base ``PP T AA NNNNNN``."""
    values = [int(c) for c in base]
    d1 = _mod11(values, _SIDA_W1)
    return f"{d1}{_mod11([*values, d1], _SIDA_W2)}"


def sida_number(prefix: int, kind: int, year: int, sequence: int) -> str:
    """The 13-digit PGFN inscription ``PP T AA NNNNNN DD`` (e.g. ``22 6 15 000605`` → ``2261500060512``)."""
    base = f"{prefix:02d}{kind:d}{year % 100:02d}{sequence:06d}"
    return base + sida_check_digits(base)


def normalize_sida(text: str) -> str | None:
    """*text* as 13 digits (mask removed, left-padded: open data strips leading zeros), or None when not digits."""
    s = unmask(text)
    if not s.isdigit() or not 1 <= len(s) <= 13:
        return None
    return s.zfill(13)


def is_valid_sida(text: str) -> bool:
    """True when *text* (masked, or with its leading zeros stripped) is a SIDA number with valid check digits."""
    s = normalize_sida(text)
    return s is not None and sida_check_digits(s[:11]) == s[11:]


def format_sida(numero: str) -> str:
    """``8061900123456`` → ``80.6.19.001234-56`` (the form printed on CDAs)."""
    return f"{numero[:2]}.{numero[2]}.{numero[3:5]}.{numero[5:11]}-{numero[11:]}"


def mod_11_10(digits: str) -> int:
    """ISO 7064 MOD 11,10 check digit of *digits*: start with 10; for each digit ``s = (p + d) mod 10`` (0 → 10),
    ``p = 2·s mod 11``; the check digit ``c`` makes ``(p + c) mod 10 == 1``."""
    p = 10
    for c in digits:
        s = (p + int(c)) % 10 or 10
        p = 2 * s % 11
    return (11 - p) % 10


def pgf_number(creditor: int, year: int, sequence: int) -> str:
    """The 15-digit PGF inscription ``CCC AAAA NNNNNNN D`` (creditor code, year, sequence, ISO 7064 MOD 11,10)."""
    base = f"{creditor:03d}{year:04d}{sequence:07d}"
    return base + str(mod_11_10(base))


def normalize_pgf(text: str) -> str | None:
    """*text* without its mask (``201.2021.0004567-?``) when it has 15 digits, else None."""
    s = unmask(text)
    return s if len(s) == 15 and s.isdigit() else None


def is_valid_pgf(text: str) -> bool:
    """True when *text* is 15 digits whose last is the MOD 11,10 check digit of the first 14."""
    s = normalize_pgf(text)
    return s is not None and mod_11_10(s[:14]) == int(s[14])


def format_pgf(numero: str) -> str:
    """``201202100045673`` → ``201.2021.0004567-3``."""
    return f"{numero[:3]}.{numero[3:7]}.{numero[7:14]}-{numero[14]}"


def format_cnj(numero: str) -> str:
    """20 digits → ``NNNNNNN-DD.AAAA.J.TR.OOOO``."""
    return f"{numero[:7]}-{numero[7:9]}.{numero[9:13]}.{numero[13]}.{numero[14:16]}.{numero[16:]}"
