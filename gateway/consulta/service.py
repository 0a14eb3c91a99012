"""Consultation use cases (issue 14): a person's political-rights situation, a sender's listing, the lateness report.

Who may ask a person's situation (Res. Conjunta 6/2020 art. 4º and 10; LGPD art. 6º and 37): an organ granted
``direitos-politicos:consultar`` (INFODIP-E083 otherwise), naming the natural person acting (their CPF: REST
``On-Behalf-Of``, SOAP ``cpfSolicitante``; INFODIP-E085) and the purpose — the number of the process that motivates
it (``finalidade``, a valid CNJ number; INFODIP-E080) —, at most ``GATEWAY_CONSULTA_RATE_PER_MINUTE`` times a minute
per client (INFODIP-E084, 429 with ``Retry-After``). Every consultation is one audit entry ``consulta.situacao``
(organ, credential, acting person, purpose, the key used, the protocols answered and a keyed digest of the person —
never the person's CPF or name in clear: the audit log holds no one's personal data about whom, ARCHITECTURE.md),
durable before the answer.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import statistics
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway import identifiers as ids
from gateway.auth import Caller
from gateway.clock import Clock
from gateway.consulta import store
from gateway.consulta.facts import name_key
from gateway.consulta.rules import RuleBook, RuleVersion
from gateway.consulta.timeline import Timeline, compute
from gateway.db.committer import GroupCommitter, Queued, WriteContext
from gateway.db.tables import consulta_pessoas
from gateway.errors import NotAllowed, TooManyRequests, ValidationFailed
from gateway.infodip.deadlines import local_today
from gateway.throttle import ClientRateLimit

log = logging.getLogger("gateway.consulta")
SCOPE = "direitos-politicos:consultar"
REPORTS_SCOPE = "relatorios:ler"
#: the contract's words for delivery states (``tipoSituacaoEntrega``) → outbox states
DELIVERY_STATES = {"pendente": ("pending", "sending"), "bloqueada": ("blocked",), "entregue": ("delivered",),
                   "falha": ("failed",), "morta": ("dead",)}
KINDS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX")


@dataclass(frozen=True)
class PersonQuery:
    """The key of a consultation: a CPF, a título, or name + birth date + mother's name (exactly one of them)."""

    cpf: str | None = None
    titulo: str | None = None
    nome: str | None = None
    data_nascimento: date | None = None
    nome_mae: str | None = None

    def checked(self) -> PersonQuery:
        """The query with digits only, checked. Errors: INFODIP-E082 (no key, several, or an incomplete name key),
        INFODIP-E030 (CPF), INFODIP-E033 (título)."""
        by_name = any((self.nome, self.data_nascimento, self.nome_mae))
        given = [bool(self.cpf), bool(self.titulo), by_name]
        if sum(given) != 1:
            raise ValidationFailed("INFODIP-E082", field="pessoa")
        if by_name and not (self.nome and self.data_nascimento and self.nome_mae):
            raise ValidationFailed("INFODIP-E082", "Consulta por nome exige nome, data de nascimento e nome da mãe.",
                                   field="pessoa")
        cpf = ids.only_digits(self.cpf) if self.cpf else None
        if cpf is not None and not ids.is_valid_cpf(cpf):
            raise ValidationFailed("INFODIP-E030", field="cpf")
        titulo = ids.only_digits(self.titulo) if self.titulo else None
        if titulo is not None and not ids.validate(ids.IdentifierKind.TITULO_ELEITOR, titulo):
            raise ValidationFailed("INFODIP-E033", field="tituloEleitor")
        return PersonQuery(cpf, titulo, self.nome, self.data_nascimento, self.nome_mae)

    @property
    def key_kind(self) -> str:
        """``cpf``, ``titulo`` or ``nome``."""
        return "cpf" if self.cpf else "titulo" if self.titulo else "nome"

    @property
    def key(self) -> str:
        """The lookup key as one string (what the audit's keyed digest covers)."""
        if self.cpf:
            return "cpf:" + self.cpf
        if self.titulo:
            return "titulo:" + self.titulo
        return f"nome:{name_key(self.nome)}|{self.data_nascimento}|{name_key(self.nome_mae)}"


@dataclass(frozen=True)
class Situation:
    """The answer of a consultation: the date asked about, the rule version applied, the timeline, every
    communication about the person (current version and history) and the coverage of the data."""

    on: date
    key_kind: str
    rules: RuleVersion
    timeline: Timeline
    communications: tuple[store.StoredCommunication, ...]
    coverage: store.Coverage


@dataclass(frozen=True)
class Answer:
    """A consultation answered but not yet durable (:meth:`ConsultaService.consult`): render :attr:`situation`,
    then await :meth:`durable` before sending it."""

    situation: Situation
    ambiguous: bool
    queued: Queued[None]

    async def durable(self) -> Situation:
        """The situation once its audit entry is committed. Errors: StorageUnavailable INFODIP-E091 (nothing may be
        answered), ValidationFailed INFODIP-E081 (the key matched several people: audited, no one listed)."""
        await self.queued.durable()
        if self.ambiguous:
            raise ValidationFailed("INFODIP-E081", field="pessoa")
        return self.situation


@dataclass(frozen=True)
class Page:
    """A page of a sender's listing; ``next_cursor`` None on the last page."""

    items: tuple[store.Listed, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class LatenessLine:
    """On time / late per sender, kind and month (``AAAA-MM``, America/Sao_Paulo); delays in days, over the late
    ones (0 when none was late)."""

    sender: str
    kind: str
    month: str
    on_time: int
    late: int
    median_delay_days: float
    worst_delay_days: int


def person_digest(secret: bytes, key: str) -> str:
    """The keyed digest (HMAC-SHA256, hex) the audit records for the person looked up by *key*
    (:attr:`PersonQuery.key`): who was consulted can be found by computing it, not read by whoever reads the log."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def check_purpose(finalidade: str | None) -> str:
    """The purpose (a CNJ process number, masked or not) as 20 digits. Errors: INFODIP-E080."""
    digits = ids.only_digits(finalidade or "")
    if len(digits) != 20 or not ids.validate(ids.IdentifierKind.PROCESSO_CNJ, digits):
        raise ValidationFailed("INFODIP-E080", field="finalidade")
    return digits


def check_acting(cpf: str | None) -> str:
    """The CPF of the natural person acting. Errors: INFODIP-E085."""
    digits = ids.only_digits(cpf or "")
    if not ids.is_valid_cpf(digits):
        raise ValidationFailed("INFODIP-E085", field="cpfSolicitante")
    return digits


class ConsultaService:
    """The consultation use cases (module docstring)."""

    def __init__(self, committer: GroupCommitter, reader: Engine, clock: Clock, rules: RuleBook, tz: ZoneInfo,
                 secret: bytes, rate: ClientRateLimit, page_max: int = 200) -> None:
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.rules = rules
        self.tz = tz
        self.secret = secret
        self.rate = rate
        self.page_max = page_max
        #: PostgreSQL: a consultation's read runs in autocommit — no BEGIN before it, no ROLLBACK when its
        #: connection goes back to the pool (which restores the engine's isolation then): two of the four round
        #: trips a pooled read cost with the pool's ping. Its statements need no common snapshot (a CPF is one
        #: statement; a person found then their communications may only see a newer one). SQLite's reads keep
        #: their transaction: its BEGIN is no round trip.
        self._autocommit = reader.dialect.name != "sqlite"
        #: the coverage changes only when the first communication or an import arrives: read at most every
        #: ``coverage_ttl_s`` (a full read of it on every consultation would cost more than the lookup)
        self.coverage_ttl_s = 30.0
        self._coverage: tuple[float, store.Coverage] | None = None

    # -- a person's situation ------------------------------------------------------------------------------------

    async def situation(self, caller: Caller, scopes: frozenset[str], acting: str | None, finalidade: str | None,
                        query: PersonQuery, on: date | None, *, channel: str) -> Situation:
        """The situation of the person *query* names on *on* (default: today in America/Sao_Paulo) under the rules in
        force on that date, its audit entry durable. Errors: INFODIP-E083 (no grant), E085 (acting person), E080
        (purpose), E082/E030/E033 (key), E084 (rate, TooManyRequests), E081 (the key matched several people: the
        answer lists no one — still audited); StorageUnavailable (INFODIP-E091) when the audit entry cannot be
        written (nothing is answered)."""
        answer = await self.consult(caller, scopes, acting, finalidade, query, on, channel=channel)
        return await answer.durable()

    async def consult(self, caller: Caller, scopes: frozenset[str], acting: str | None, finalidade: str | None,
                      query: PersonQuery, on: date | None, *, channel: str) -> Answer:
        """:meth:`situation` with the audit entry's commit overlapping the rest of the work: the entry is queued to
        the group committer as soon as the read is done, the timeline is computed meanwhile, and the caller renders
        its answer before awaiting :meth:`Answer.durable` — which it must do before sending anything (the entry is
        then durable; E091 or E081 are raised there). Errors before the read: as :meth:`situation`."""
        if SCOPE not in scopes:
            raise NotAllowed("INFODIP-E083", field="Authorization")
        acting_cpf = check_acting(acting)
        purpose = check_purpose(finalidade)
        query = query.checked()
        wait = self.rate.retry_after(caller.username)
        if wait is not None:
            raise TooManyRequests("INFODIP-E084", retry_after=wait)
        day = on or local_today(self.clock.now(), self.tz)
        rules = self.rules.in_force(day)
        found, comms, cover = await anyio.to_thread.run_sync(self._read, query)
        at = self.clock.now()
        detail = {"usuario": caller.username, "solicitante": acting_cpf, "finalidade": purpose,
                  "chave": query.key_kind, "pessoa": person_digest(self.secret, query.key), "canal": channel,
                  "data": day.isoformat(), "versaoRegras": rules.id,
                  "resultado": "ambigua" if found.ambiguous else "encontrada" if comms else "nenhuma",
                  "protocolos": [c.protocol for c in comms]}

        def job(ctx: WriteContext) -> None:
            ctx.audit.append(ctx.conn, "consulta.situacao", at, organ_id=caller.organ_id, detail=detail)

        queued = self.committer.queue(job)
        try:
            timeline = compute([c.fact() for c in comms], rules, day)
        except BaseException:
            await queued.durable()  # audited even when the timeline fails (as before: the entry came first)
            raise
        return Answer(Situation(day, query.key_kind, rules, timeline, tuple(comms), cover), found.ambiguous, queued)

    def warm_up(self, budget_s: float, connections: int) -> int:
        """Make the first consultations after a start as fast as the later ones (issue 14): on each of
        *connections* pooled read connections, run one whole consultation read of a stored person and its timeline
        (statements prepared, the schema read, the code paths run once; nothing audited: nobody asked); then, in
        what is left of *budget_s* seconds (at most 5), read the pages of the indexes its lookup walks and the
        stored payloads, so they are in the page cache. Stops at the budget, whatever the size of the database
        (SQLite: a progress handler interrupts the statement; PostgreSQL: ``statement_timeout``). Returns
        how many of the warming statements ran to completion. Errors: none — a failure only ends the warm-up."""
        deadline = _time.monotonic() + min(max(budget_s, 0.0), 5.0)
        if budget_s <= 0:
            return 0
        done = 0
        conns: list[Connection] = []
        try:
            for _ in range(max(1, connections)):
                conns.append(self.reader.connect())
            sample = conns[0].execute(select(consulta_pessoas.c.cpf).where(
                consulta_pessoas.c.cpf.is_not(None)).limit(1)).scalar() or "00000000000"
            day = local_today(self.clock.now(), self.tz)
            for conn in conns:
                # a real person's whole read and timeline: statements prepared, rows turned into objects once —
                # within the budget too (a person with tens of thousands of communications must not hold the start)
                if _time.monotonic() >= deadline:
                    break
                with _until(conn, deadline):
                    found = store.find_person(conn, cpf=sample)
                    comms = store.load_communications(conn, found.protocols)
                    store.communications_by_cpf(conn, sample)
                compute([c.fact() for c in comms],
                        self.rules.in_force(day), day)
                conn.rollback()
            self._coverage = (self.clock.monotonic(), store.coverage(conns[0]))
            conns[0].rollback()
            for sql in WARM_PAGES:
                if not _bounded(conns[0], sql, deadline):
                    break
                done += 1
        except Exception:  # a warm-up never stops a start: the first consultations are only slower
            if _time.monotonic() >= deadline:  # stopped at its budget, as designed
                log.info("aquecimento da consulta parou no limite de tempo", extra={"leituras": done})
            else:
                log.warning("aquecimento da consulta interrompido", exc_info=True)
        finally:
            for conn in conns:
                conn.close()
        return done

    def _read(self, query: PersonQuery) -> tuple[store.Found, list[store.StoredCommunication], store.Coverage]:
        with self.reader.connect() as conn:
            if self._autocommit:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            if query.cpf:  # the common key: one statement (a CPF lookup is never ambiguous)
                comms = store.communications_by_cpf(conn, query.cpf)
                found = store.Found(frozenset(c.protocol for c in comms))
            else:
                if query.titulo:
                    found = store.find_person(conn, titulo=query.titulo)
                else:
                    assert query.data_nascimento is not None
                    found = store.find_person(conn, name=(name_key(query.nome), query.data_nascimento,
                                                          name_key(query.nome_mae)))
                comms = store.load_communications(conn, found.protocols)
            cached = self._coverage
            if cached is None or self.clock.monotonic() - cached[0] > self.coverage_ttl_s or cached[1].since is None:
                cached = self._coverage = (self.clock.monotonic(), store.coverage(conn))
            return found, comms, cached[1]

    # -- a sender's listing --------------------------------------------------------------------------------------

    async def listing(self, caller: Caller, *, desde: date | None = None, ate: date | None = None,
                      tipo: str | None = None, situacao: str | None = None, entrega: str | None = None,
                      referencia: str | None = None, processo: str | None = None, cursor: str | None = None,
                      limite: int = 50) -> Page:
        """The sender's own communications received in [*desde*, *ate*] (local dates), filtered, ordered by reception,
        *limite* a page from *cursor*. Errors: INFODIP-E087 (a filter or ``limite``), INFODIP-E086 (cursor)."""
        if limite < 1 or limite > self.page_max:
            raise ValidationFailed("INFODIP-E087", f"limite deve estar entre 1 e {self.page_max}.", field="limite")
        if tipo is not None and tipo not in KINDS:
            raise ValidationFailed("INFODIP-E087", f"tipo {tipo!r} desconhecido (use I a IX).", field="tipo")
        if situacao is not None and situacao not in ("ativa", "cancelada"):
            raise ValidationFailed("INFODIP-E087", "situacao: ativa ou cancelada.", field="situacao")
        if entrega is not None and entrega not in DELIVERY_STATES:
            raise ValidationFailed("INFODIP-E087", f"entrega: {', '.join(DELIVERY_STATES)}.", field="entrega")
        if desde and ate and ate < desde:
            raise ValidationFailed("INFODIP-E087", "ate anterior a desde.", field="ate")
        flt = store.ListFilter(
            caller.organ_id, self._start(desde) if desde else None, self._start(_next_day(ate))
            if ate else None, tipo, situacao, DELIVERY_STATES[entrega] if entrega else None, referencia,
            ids.only_digits(processo) if processo else None)
        after = decode_cursor(cursor) if cursor else None

        def read() -> list[store.Listed]:
            with self.reader.connect() as conn:
                return store.list_communications(conn, flt, after, limite + 1)

        rows = await anyio.to_thread.run_sync(read)
        more = len(rows) > limite
        rows = rows[:limite]
        return Page(tuple(rows), encode_cursor(rows[-1].created_at, rows[-1].protocol) if more else None)

    def _start(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.tz).astimezone(UTC)

    # -- lateness ------------------------------------------------------------------------------------------------

    async def lateness(self, caller: Caller | None, scopes: frozenset[str], *, desde: date | None = None,
                       ate: date | None = None, remetente: str | None = None) -> list[LatenessLine]:
        """On time / late per sender, kind and month of reception (art. 7º's deadlines; art. 14–15): the caller's own
        organ, or — with ``relatorios:ler`` (CNJ and TSE operators) — every sender or the one *remetente* names.
        Default period: the last 12 months. Errors: INFODIP-E088 (another sender without the grant), E087."""
        all_senders = REPORTS_SCOPE in scopes
        if caller is None and not all_senders:
            raise NotAllowed("INFODIP-E088", field="Authorization")
        if remetente and not all_senders and (caller is None or remetente != caller.organ_code):
            raise NotAllowed("INFODIP-E088", field="remetente")
        today = local_today(self.clock.now(), self.tz)
        until_day = _next_day(ate or today)
        since_day = desde or date(today.year - 1, today.month, 1)
        if since_day >= until_day:
            raise ValidationFailed("INFODIP-E087", "ate anterior a desde.", field="ate")

        def read() -> list[store.DeadlineRow]:
            with self.reader.connect() as conn:
                organ_id: int | None
                if remetente:
                    organ_id = store.organ_id_of(conn, remetente)
                    if organ_id is None:
                        return []
                elif all_senders:
                    organ_id = None
                else:
                    assert caller is not None
                    organ_id = caller.organ_id
                return store.deadline_rows(conn, self._start(since_day), self._start(until_day), organ_id)

        return summarise(await anyio.to_thread.run_sync(read), self.tz)


def _next_day(day: date) -> date:
    """The day after *day*, the exclusive end of a period "up to *day*" (``date.max`` stays itself: there is no day
    after 9999-12-31, and nothing is received on it)."""
    return day + timedelta(days=1) if day < date.max else day


#: what the consultation reads, in the order it reads it: the person index by CPF, the communications and their
#: versions by protocol, then the versions' payloads (the largest, last: the budget usually ends there at scale)
WARM_PAGES = (
    "SELECT count(*) FROM consulta_pessoas WHERE cpf >= ''",
    "SELECT count(*) FROM communications WHERE protocol >= ''",
    "SELECT count(*) FROM messages WHERE protocol >= ''",
    "SELECT sum(length(payload)) FROM messages",
)


@contextlib.contextmanager
def _until(conn: Connection, deadline: float) -> Iterator[None]:
    """Statements run on *conn* inside the block are interrupted at *deadline* (monotonic seconds): on SQLite by a
    progress handler, on PostgreSQL by ``SET LOCAL statement_timeout`` (the transaction's; the caller rolls back).
    An interrupted statement raises SQLAlchemy's ``OperationalError``."""
    raw = conn.connection.driver_connection
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        raw.set_progress_handler(lambda: 1 if _time.monotonic() > deadline else 0, 20_000)  # type: ignore[union-attr]
    else:
        left = deadline - _time.monotonic()
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}")
    try:
        yield
    finally:
        if sqlite:
            raw.set_progress_handler(None, 0)  # type: ignore[union-attr]


def _bounded(conn: Connection, sql: str, deadline: float) -> bool:
    """Run *sql* on *conn* until *deadline* (monotonic); True when it completed."""
    if deadline - _time.monotonic() <= 0.01:
        return False
    try:
        with _until(conn, deadline):
            conn.exec_driver_sql(sql).all()
        return True
    except SQLAlchemyError:  # interrupted at the deadline (or the table is not there): the warm-up ends
        return False
    finally:
        conn.rollback()


def summarise(rows: list[store.DeadlineRow], tz: ZoneInfo) -> list[LatenessLine]:
    """Group deadline rows by sender, kind (in I…IX order) and local month."""
    groups: dict[tuple[str, str, str], list[store.DeadlineRow]] = {}
    for row in rows:
        month = row.received_at.astimezone(tz).strftime("%Y-%m")
        groups.setdefault((row.sender, row.kind, month), []).append(row)
    out = []
    for (sender, kind, month), items in groups.items():
        delays = [r.days_late for r in items if r.late]
        out.append(LatenessLine(sender, kind, month, len(items) - len(delays), len(delays),
                                float(statistics.median(delays)) if delays else 0.0, max(delays, default=0)))
    order = {k: i for i, k in enumerate(KINDS)}
    out.sort(key=lambda line: (line.sender, line.month, order.get(line.kind, 99)))
    return out


def encode_cursor(created_at: datetime, protocol: str) -> str:
    """The opaque cursor after (*created_at*, *protocol*)."""
    raw = json.dumps([created_at.isoformat(), protocol], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of :func:`encode_cursor` names. Errors: INFODIP-E086."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, protocol = json.loads(raw)
        when = datetime.fromisoformat(at)
        if not isinstance(protocol, str) or when.tzinfo is None:
            raise ValueError(cursor)
        return when, protocol
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("INFODIP-E086", field="cursor") from None
