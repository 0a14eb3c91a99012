"""The intimations' rules, pure (no I/O): when an aviso not opened is deemed notified, what state it shows, what the
listing filters accept, and what a newly stored intimation offers as evidence about a filing.

Legal source (DOMAIN.md §2b): Lei 11.419/2006, art. 5º — an electronic intimation is made on the day the addressee
consults it (§1º); "a consulta referida nos §§ 1º e 2º deste artigo deverá ser feita em até 10 (dez) dias corridos
contados da data do envio da intimação, sob pena de considerar-se a intimação automaticamente realizada na data do
término desse prazo" (§3º). The Domicílio Judicial Eletrônico (Res. CNJ 455/2022, amended by Res. 569/2024) applies
the same rule; opening a communication (ciência) cannot be undone and names the natural person acting.

Counting (CPC art. 224, applied to the 10 calendar days): the day of sending is excluded and the count starts on the
next day, so an aviso sent (``dataDisponibilizacao``) on day D is deemed notified on D + 10, in the court's civil
time (America/Sao_Paulo: ``GATEWAY_TIMEZONE``). On D + 10 itself it may still be opened expressly; from D + 11 on it
shows as ``ciencia_tacita`` with ``cienciaPresumidaEm`` = D + 10 — also when it is opened later (the deadline ran
from the deemed day).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from gateway.errors import ValidationFailed
from gateway.identifiers import is_valid_processo_cnj

#: Lei 11.419/2006 art. 5º §3º: days (calendar) an aviso may stay unopened before ciência is deemed made.
TACIT_NOTICE_DAYS = 10
#: The listing's largest page (a larger ``limite`` is refused: INTIM-E003).
MAX_PAGE = 100


class Situacao(StrEnum):
    """What an intimation shows (the listing's ``situacao`` filter)."""

    PENDENTE = "pendente"  # not opened, within the 10 days
    CIENTE = "ciente"  # opened (ciência expressa) within the 10 days
    CIENCIA_TACITA = "ciencia_tacita"  # not opened within the 10 days: deemed notified on the 10th day


class CienciaTipo(StrEnum):
    """How ciência was taken when the procuradoria opened the intimation."""

    EXPRESSA = "expressa"  # opened on or before the deemed day
    TACITA = "tacita"  # opened after it: the deemed day stands


def tacit_notice_date(disponibilizada_em: datetime, tz: ZoneInfo) -> date:
    """The day an intimation sent at *disponibilizada_em* (aware) is deemed made if not opened before: its civil date
    in *tz* plus :data:`TACIT_NOTICE_DAYS` calendar days.

    Lei 11.419/2006, art. 5º §3º ("10 (dez) dias corridos contados da data do envio … considerar-se a intimação
    automaticamente realizada na data do término desse prazo"); the day of sending excluded (CPC art. 224)."""
    return disponibilizada_em.astimezone(tz).date() + timedelta(days=TACIT_NOTICE_DAYS)


def situacao(prazo_tacito: date, ciencia_tipo: str | None, today: date) -> Situacao:
    """The state an intimation shows *today* (its civil date): opened → ``ciente`` (or ``ciencia_tacita`` when it was
    opened after *prazo_tacito*); not opened → ``pendente`` until *prazo_tacito* inclusive, then ``ciencia_tacita``."""
    if ciencia_tipo == CienciaTipo.EXPRESSA:
        return Situacao.CIENTE
    if ciencia_tipo == CienciaTipo.TACITA or today > prazo_tacito:
        return Situacao.CIENCIA_TACITA
    return Situacao.PENDENTE


def ciencia_tipo(prazo_tacito: date, opened_on: date) -> CienciaTipo:
    """How an intimation opened on *opened_on* (civil date) counts: ``expressa`` on or before *prazo_tacito*, else
    ``tacita`` (the deemed day stands: Lei 11.419/2006 art. 5º §3º)."""
    return CienciaTipo.EXPRESSA if opened_on <= prazo_tacito else CienciaTipo.TACITA


def ciencia_efetiva(prazo_tacito: date, ciencia_tipo_: str | None, opened_on: date | None, today: date) -> date | None:
    """The day ciência counts from (what starts the deadline): the day it was opened (expressa), *prazo_tacito* when
    deemed made, or None while pending."""
    state = situacao(prazo_tacito, ciencia_tipo_, today)
    if state is Situacao.CIENTE:
        return opened_on
    if state is Situacao.CIENCIA_TACITA:
        return prazo_tacito
    return None


def parse_tribunais(raw: str) -> dict[str, list[str]]:
    """``GATEWAY_INTIMACOES_TRIBUNAIS``'s value: JSON object organ → list of ``J.TR`` or ``J.TR/instance`` (empty:
    {}). Raises ValueError with a Portuguese message for anything else."""
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) and x for x in v)
            for k, v in data.items()):
        raise ValueError('esperado {"ORGAO": ["J.TR" ou "J.TR/instancia", …]}')
    return {k: list(v) for k, v in data.items()}


# -- the listing's filters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filtro:
    """The listing's filters, checked: process number (20 digits), court (``J.TR``), instance, state, period of
    ``dataDisponibilizacao`` (civil dates, inclusive), the position after which to read, and the page size."""

    numero_processo: str | None = None
    tribunal: str | None = None
    instancia: str | None = None
    situacao: Situacao | None = None
    desde: date | None = None
    ate: date | None = None
    depois_de: int = 0
    limite: int = 50


def filtro(numero_processo: str | None, tribunal: str | None, instancia: str | None, situacao_: str | None,
           desde: str | None, ate: str | None, cursor: str | None, limite: int) -> Filtro:
    """Check the listing's query. Errors (:class:`~gateway.errors.ValidationFailed`, 422): ``INTIM-E001`` field
    ``numeroProcesso`` (not a valid CNJ number), ``INTIM-E002`` field ``situacao``/``tribunal``/``desde``/``ate``
    (unknown state, court not ``J.TR``, a date not ISO or a period that ends before it starts), ``INTIM-E003`` field
    ``limite`` (outside 1…:data:`MAX_PAGE`), ``INTIM-E004`` field ``cursor``."""
    numero = None
    if numero_processo:
        numero = "".join(c for c in numero_processo if c.isdigit())
        if len(numero) != 20 or not is_valid_processo_cnj(numero):
            raise ValidationFailed("INTIM-E001", field="numeroProcesso")
    state = None
    if situacao_:
        try:
            state = Situacao(situacao_)
        except ValueError:
            raise ValidationFailed("INTIM-E002", f"situacao deve ser uma de {', '.join(s.value for s in Situacao)}.",
                                   field="situacao") from None
    if tribunal and not (len(tribunal) == 4 and tribunal[0].isdigit() and tribunal[1] == "."
                         and tribunal[2:].isdigit()):
        raise ValidationFailed("INTIM-E002", "tribunal deve ser J.TR (ex.: 4.04).", field="tribunal")
    first, last = _date(desde, "desde"), _date(ate, "ate")
    if first and last and last < first:
        raise ValidationFailed("INTIM-E002", "O período termina antes de começar.", field="ate")
    if not 1 <= limite <= MAX_PAGE:
        raise ValidationFailed("INTIM-E003", f"limite deve estar entre 1 e {MAX_PAGE}.", field="limite")
    return Filtro(numero, tribunal or None, instancia or None, state, first, last, decode_cursor(cursor), limite)


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("INTIM-E002", f"{name} deve ser uma data AAAA-MM-DD.", field=name) from None


def encode_cursor(seq: int) -> str:
    """The opaque cursor resuming after position *seq*."""
    raw = json.dumps({"v": 1, "s": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, code: str = "INTIM-E004", message: str | None = None) -> int:
    """The position a cursor resumes after (0: from the start). Errors: ValidationFailed *code* (``INTIM-E004``
    here; the execuções fiscais' listing passes ``EXEC-E040``), with *message* when given."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        seq = data["s"]
        if data.get("v") != 1 or not isinstance(seq, int) or seq < 0:
            raise ValueError(cursor)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValidationFailed(code, message, field="cursor") from None
    return seq


# -- evidence for the filings (issue 12 point 4) ------------------------------------------------------------------


@dataclass(frozen=True)
class Parte:
    """A party of the process as the aviso's header names it: its pole (``AT``, ``PA``…), name and CPF/CNPJ."""

    polo: str | None
    nome: str
    documento: str | None


@dataclass(frozen=True)
class Evidencia:
    """What a newly stored intimation says about its process — what h12a's ``resolve_from_evidence`` needs to prove
    an ``indeterminada`` filing protocolled (class, parties, value): the procuradoria (organ code), the court
    (``J.TR``), the process number, its class, its parties and the value of the claim (decimal string), as the
    court's aviso carried them (None when it did not)."""

    organ_code: str
    jtr: str
    numero_processo: str | None
    classe: int | None
    partes: tuple[Parte, ...]
    valor_causa: str | None
    intimacao_id: str
