"""Death batches from the civil registries: the pure rules (no I/O).

Legal sources: Res. Conjunta CNJ/TSE 6/2020 art. 5º and 7º–8º; Código Eleitoral art. 71 §3º (by the 15th of each
month, the deaths of the previous month); Lei 8.212/1991 art. 68 (the CPF, when known); Provimento CNJ 149/2023
art. 473 (the matrícula); Res. TSE 22.166/2006 (what the TSE matches a death on: name, filiação, birth date).

- :func:`matricula_check_digits` / :func:`parse_matricula`: the 32-digit matrícula and its two mod-11 check digits
  (algorithm and worked example: ``DOMAIN.md`` §3 — the same rule as validate-docbr's ``Certidao``, which
  :mod:`gateway.identifiers` uses; implemented here so the batch's hot path parses the parts once);
- :func:`check_record`: one record's rules → a :class:`Rejection` (code, field) or nothing;
- :func:`deadline_of`: the lateness rule — the 15th of the month after the later of the death and its registration;
- :func:`outcome_of`: ``aceito`` / ``duplicado`` / ``vinculado`` from what is already on record.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from operator import mul

from gateway import identifiers as ids

#: Book types of the matrícula (Prov. CNJ 149/2023 art. 473): the death books a batch may carry.
LIVRO_OBITO, LIVRO_NATIMORTO, LIVRO_TRASLADO = "4", "5", "7"
DEATH_BOOKS = frozenset({LIVRO_OBITO, LIVRO_NATIMORTO, LIVRO_TRASLADO})

_W1 = tuple((2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1)[i % 11] for i in range(30))
_W2 = tuple((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0)[i % 11] for i in range(31))
_COMPETENCIA = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits only: \d would take "٢٠٢٦-٠٨" too


class Outcome(StrEnum):
    """What became of one record of a batch (the wire values)."""

    ACEITO = "aceito"
    DUPLICADO = "duplicado"
    VINCULADO = "vinculado"
    REJEITADO = "rejeitado"


def _dv(digits: str, weights: tuple[int, ...]) -> int:
    r = sum(map(mul, digits.encode(), weights)) - 48 * sum(weights[:len(digits)])
    r %= 11
    return 1 if r == 10 else r


def matricula_check_digits(first30: str) -> str:
    """The two check digits of a matrícula's first 30 digits: DV1 = Σ dᵢ·(2,3,…,10,0,1 repeating) mod 11 over the
    30 digits, DV2 the same over the 31 digits (with DV1) with weights 1,2,…,10,0 repeating; a remainder of 10
    gives 1, any other remainder is the digit (DOMAIN.md §3; Prov. CNJ 3/2009, now 149/2023 art. 473). Example:
    ``104539015520131000120210000123`` → ``"21"``."""
    dv1 = _dv(first30, _W1)
    return f"{dv1}{_dv(first30 + str(dv1), _W2)}"


@dataclass(frozen=True)
class Matricula:
    """A matrícula's parts: CNS of the serventia (6), acervo (2), the civil-registry code 55, year of the
    registration (4), book type (1), book (5), folha (3), termo (7)."""

    value: str
    cns: str
    year: int
    book_type: str


def parse_matricula(value: str) -> Matricula | None:
    """*value* (32 digits, no mask) read into its parts, or None when it is not a matrícula: not 32 ASCII digits,
    not the civil registry of natural persons (``55``), or wrong check digits."""
    if len(value) != 32 or not value.isascii() or not value.isdigit() or value[8:10] != "55":
        return None
    if matricula_check_digits(value[:30]) != value[30:]:
        return None
    return Matricula(value, value[:6], int(value[10:14]), value[14])


def competencia_of(value: str) -> tuple[int, int] | None:
    """``AAAA-MM`` as (year, month), or None when it is not one."""
    m = _COMPETENCIA.fullmatch(value or "")
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        return None
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class Registro:
    """One death record of a batch, as read (strings stripped; dates already parsed where they were readable —
    an unreadable date is kept in ``bad_field``). Field names are the wire's."""

    matricula: str
    nome: str
    data_obito: date | None
    data_registro: date | None
    cns_cartorio: str
    municipio_obito: str
    cpf: str | None = None
    titulo_eleitor: str | None = None
    data_nascimento: date | None = None
    nome_mae: str | None = None
    nome_pai: str | None = None
    sexo: str | None = None
    #: the first field that could not be read at all (a malformed record), with the reason
    bad_field: tuple[str, str] | None = None

    @property
    def person_key(self) -> str:
        """The INFODIP person key (CPF, else título, else name|birth|mother: ``infodip.domain.Person.key``)."""
        if self.cpf:
            return "cpf:" + self.cpf
        if self.titulo_eleitor:
            return "titulo:" + self.titulo_eleitor
        return f"nome:{self.nome.casefold()}|{self.data_nascimento}|{(self.nome_mae or '').casefold()}"


@dataclass(frozen=True)
class Rejection:
    """Why a record was refused: its stable code (``INFODIP-E06x``), the field and a Portuguese message."""

    code: str
    field: str
    message: str


_IBGE = re.compile(r"[1-5][0-9]{6}")
#: IBGE's state codes (the first two digits of a municipality's code).
_UF_IBGE = frozenset({11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 35, 41, 42, 43,
                      50, 51, 52, 53})
MAX_NAME = 200


def check_record(r: Registro, covered: Collection[str] | None, today: date) -> Rejection | None:
    """The rules of one record (issue 13 §2), first failure only. *covered* is the CNS the sender may send for
    (a cartório its own, a CRC the cartórios configured under it; None: any). Codes:
    INFODIP-E069 unreadable or missing field; E062 matrícula (format, check digits); E063 natimorto (book 5:
    refused for electoral purposes); E064 a book that is not a death book; E065 a matrícula of a cartório the
    sender does not answer for; E074 ``cnsCartorio`` differs from the matrícula's; E066 CPF; E067 título; E068
    without a CPF, name, mother's name and birth date are all required (DOMAIN.md §2a); E070 dates (death in the
    future, registration before the death or in the future, birth after death); E072 the IBGE municipality."""
    if r.bad_field is not None:
        return Rejection("INFODIP-E069", r.bad_field[0], r.bad_field[1])
    for name, value in (("matricula", r.matricula), ("nome", r.nome), ("dataObito", r.data_obito),
                        ("dataRegistro", r.data_registro), ("cnsCartorio", r.cns_cartorio),
                        ("municipioObito", r.municipio_obito)):
        if not value:
            return Rejection("INFODIP-E069", name, f"Campo obrigatório ausente: {name}.")
    for name, value in (("nome", r.nome), ("nomeMae", r.nome_mae), ("nomePai", r.nome_pai)):
        if value is not None and len(value) > MAX_NAME:
            return Rejection("INFODIP-E069", name, f"{name} com mais de {MAX_NAME} caracteres.")
    m = parse_matricula(r.matricula)
    if m is None:
        return Rejection("INFODIP-E062", "matricula", "Matrícula inválida (32 dígitos, código 55, dígitos "
                                                      "verificadores do Provimento CNJ 149/2023, art. 473).")
    if m.book_type == LIVRO_NATIMORTO:
        return Rejection("INFODIP-E063", "matricula", "Natimorto (livro C-Auxiliar, tipo 5): sem inscrição "
                                                      "eleitoral a cancelar; não é comunicado ao INFODIP.")
    if m.book_type not in DEATH_BOOKS:
        return Rejection("INFODIP-E064", "matricula", f"Tipo de livro {m.book_type} não é de óbito (4 óbito, "
                                                      "5 natimorto, 7 traslado).")
    if r.cns_cartorio != m.cns:
        return Rejection("INFODIP-E074", "cnsCartorio", f"cnsCartorio {r.cns_cartorio} difere do CNS da matrícula "
                                                        f"({m.cns}).")
    if covered is not None and m.cns not in covered:
        return Rejection("INFODIP-E065", "matricula", f"A matrícula é do cartório {m.cns}, pelo qual o remetente "
                                                      "não responde.")
    if r.cpf and not ids.is_valid_cpf(r.cpf):
        return Rejection("INFODIP-E066", "cpf", "CPF inválido.")
    if r.titulo_eleitor and not ids.is_valid_titulo_eleitor(r.titulo_eleitor):
        return Rejection("INFODIP-E067", "tituloEleitor", "Título de eleitor inválido.")
    if not r.cpf:
        for name, value in (("nomeMae", r.nome_mae), ("dataNascimento", r.data_nascimento)):
            if not value:
                return Rejection("INFODIP-E068", name, "Sem CPF, nome, nome da mãe e data de nascimento são "
                                                       f"obrigatórios: falta {name}.")
    assert r.data_obito is not None and r.data_registro is not None
    if r.data_obito > today:
        return Rejection("INFODIP-E070", "dataObito", f"Data do óbito ({r.data_obito}) posterior a hoje.")
    if r.data_registro > today:
        return Rejection("INFODIP-E070", "dataRegistro", f"Data do registro ({r.data_registro}) posterior a hoje.")
    if r.data_registro < r.data_obito:
        return Rejection("INFODIP-E070", "dataRegistro", "Data do registro anterior à data do óbito.")
    if r.data_nascimento is not None and r.data_nascimento > r.data_obito:
        return Rejection("INFODIP-E070", "dataNascimento", "Data de nascimento posterior à data do óbito.")
    if m.year != r.data_registro.year:
        return Rejection("INFODIP-E070", "dataRegistro", f"O ano do registro ({r.data_registro.year}) difere do "
                                                         f"ano da matrícula ({m.year}).")
    if not _IBGE.fullmatch(r.municipio_obito) or int(r.municipio_obito[:2]) not in _UF_IBGE:
        return Rejection("INFODIP-E072", "municipioObito", "Código IBGE de município inválido (7 dígitos, UF "
                                                           "válida).")
    return None


@dataclass(frozen=True)
class Lateness:
    """A record's deadline: the day it was due and by how many days it was late (0: on time)."""

    due: date
    days_late: int

    @property
    def late(self) -> bool:
        """True when received after the due day."""
        return self.days_late > 0


def due_of(data_obito: date, data_registro: date, day: int = 15) -> date:
    """Day *day* (default 15, ``GATEWAY_DEATH_DEADLINE_DAY``) of the month after the later of the death and its
    registration (Código Eleitoral art. 71 §3º; a death registered late cannot be sent before it is registered —
    inferred, DOMAIN.md §2)."""
    base = max(data_obito, data_registro)
    year, month = (base.year + 1, 1) if base.month == 12 else (base.year, base.month + 1)
    return date(year, month, day)


def deadline_of(data_obito: date, data_registro: date, received_local: date, day: int = 15) -> Lateness:
    """The lateness of a record received on *received_local* (the local date, America/Sao_Paulo): flagged, never
    refused."""
    due = due_of(data_obito, data_registro, day)
    return Lateness(due, max(0, (received_local - due).days))


@dataclass(frozen=True)
class Earlier:
    """A death already on record that a new record may repeat: its protocol, the sender's organ and the CNS of its
    matrícula."""

    protocol: str
    organ_id: int
    cns: str


def outcome_of(same_matricula: Earlier | None, same_person_and_date: Earlier | None, sender_organ: int,
               covered: Collection[str] | None) -> tuple[Outcome, str | None]:
    """A valid record's outcome and the earlier protocol to show (issue 13 §4):

    - the same matrícula already on record (or earlier in the batch) → ``duplicado``, nothing stored; the earlier
      protocol is shown only when it belongs to the same sender or to a cartório the sender answers for (a CRC
      acting for it, or the cartório whose record a CRC sent) — else None (LGPD: another registry's protocol is not
      revealed);
    - the same person and date of death from another matrícula → ``vinculado``: stored and linked to the earlier
      protocol (as INFODIP's ``duplicidade`` for repeated facts);
    - otherwise ``aceito``."""
    if same_matricula is not None:
        visible = same_matricula.organ_id == sender_organ or covered is None or same_matricula.cns in covered
        return Outcome.DUPLICADO, same_matricula.protocol if visible else None
    if same_person_and_date is not None:
        return Outcome.VINCULADO, same_person_and_date.protocol
    return Outcome.ACEITO, None
