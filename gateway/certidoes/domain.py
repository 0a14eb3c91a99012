"""What a certificate states, and its verification code — pure, no I/O.

A certidão is **negativa** when the gateway holds no communication of kind I (condenação por improbidade
administrativa transitada em julgado) in force — not withdrawn by its sender — about the CPF asked, **positiva**
otherwise; a positiva lists, for each conviction, what Res. Conjunta 6/2020 lets it show: the sending organ, the
process number, the date of the final judgment and the communication's protocol. Both state their coverage: since
when the gateway holds communications and which imported histories it includes, so that a negativa never claims
more than the data behind it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

#: the code's alphabet: digits and capitals without 0/O, 1/I/L, 5/S, 2/Z, 8/B, U/V (easy to read aloud and type)
ALPHABET = "34679ACDEFGHJKMNPQRTWXY"
#: characters of a code (23^12 ≈ 2^54 codes: guessing one is hopeless at any rate the API admits)
CODE_LENGTH = 12


def new_code() -> str:
    """A random verification code of :data:`CODE_LENGTH` characters of :data:`ALPHABET` (``secrets``)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str | None:
    """*raw* as typed (spaces, hyphens, lower case tolerated) → the code, or None when it cannot be one."""
    code = "".join(ch for ch in raw.upper() if ch not in " -.")
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def display_code(code: str) -> str:
    """The code in groups of four (``XXXX-XXXX-XXXX``), as printed."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def mask_cpf(cpf: str) -> str:
    """The CPF as printed on the verification page: ``***.456.789-**`` (the middle digits only)."""
    return f"***.{cpf[3:6]}.{cpf[6:9]}-**"


def format_cpf(cpf: str) -> str:
    """``123.456.789-09``."""
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


@dataclass(frozen=True)
class Conviction:
    """One kind I communication in force, as a positiva shows it."""

    protocol: str
    sender: str
    process_number: str | None
    final_judgment: date
    received_at: datetime


@dataclass(frozen=True)
class ImportedSource:
    """An imported history the data includes."""

    origin: str
    batch: str
    communications: int


@dataclass(frozen=True)
class Content:
    """Everything a certificate states."""

    code: str
    number: str
    cpf: str
    name: str
    issued_at: datetime
    coverage_since: datetime | None
    imported: tuple[ImportedSource, ...] = field(default=())
    convictions: tuple[Conviction, ...] = field(default=())

    @property
    def kind(self) -> str:
        """``positiva`` or ``negativa``."""
        return "positiva" if self.convictions else "negativa"
