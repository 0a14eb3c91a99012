"""The consultation context's SQL (SQLAlchemy Core; SQLite and PostgreSQL alike).

Writes (:func:`record_person`) run inside the INFODIP acceptance's transaction; reads run on the reader engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, tuple_, union
from sqlalchemy.engine import Connection

from gateway.clock import utc
from gateway.consulta.facts import PersonKeys, decode, fact_of
from gateway.consulta.timeline import Fact
from gateway.db.bulk import insert_many
from gateway.db.tables import (
    communications,
    consulta_pessoas,
    import_batches,
    messages,
    organs,
    outbox,
    store_outcomes,
)

_INSERT_PERSON = insert(consulta_pessoas)
_DELETE_PERSON = delete(consulta_pessoas).where(consulta_pessoas.c.protocol == bindparam("p"))


def record_person(conn: Connection, protocol: str, keys: PersonKeys, *, new: bool = False) -> None:
    """Index (or re-index, after a retificação) the person keys of *protocol*, inside the caller's transaction;
    *new*: the protocol was created in this transaction, so it has nothing indexed to replace."""
    if not new:
        conn.execute(_DELETE_PERSON, {"p": protocol})
    conn.execute(_INSERT_PERSON, {"protocol": protocol, "cpf": keys.cpf, "titulo": keys.titulo,
                                  "nome": keys.nome[:200], "data_nascimento": keys.data_nascimento,
                                  "nome_mae": keys.nome_mae[:200]})


def record_people(conn: Connection, rows: Iterable[tuple[str, PersonKeys]]) -> None:
    """Index many new protocols at once (one bulk insert, :func:`gateway.db.bulk.insert_many`): for writers that
    store communications straight into the database (a history import, a benchmark's generator, the death
    batches) — each must index what it writes."""
    batch = [{"protocol": protocol, "cpf": keys.cpf, "titulo": keys.titulo, "nome": keys.nome[:200],
              "data_nascimento": keys.data_nascimento, "nome_mae": keys.nome_mae[:200]} for protocol, keys in rows]
    insert_many(conn, consulta_pessoas, batch)


# -- finding a person ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    """The protocols about the person a key names; ``ambiguous`` when the key matched several people (more than one
    CPF, or more than one título and no CPF): then ``protocols`` is empty — the answer lists no one."""

    protocols: frozenset[str]
    ambiguous: bool = False


_P = consulta_pessoas.c


# The consultation's statements are built once (constant statements reuse SQLAlchemy's compiled form; building them
# per call was a tenth of a consultation's CPU — issue 17's profile); lists go in expanding parameters.
_PERSON = select(_P.protocol, _P.cpf, _P.titulo)
_BY_CPF = _PERSON.where(_P.cpf == bindparam("cpf"))
_BY_TITULO = _PERSON.where(_P.titulo == bindparam("titulo"))
_BY_NAME = _PERSON.where(_P.nome == bindparam("nome"), _P.data_nascimento == bindparam("nascimento"),
                         _P.nome_mae == bindparam("mae"))
_BY_TITULOS_NO_CPF = _PERSON.where(_P.titulo.in_(bindparam("titulos", expanding=True)), _P.cpf.is_(None))


def find_person(conn: Connection, *, cpf: str | None = None, titulo: str | None = None,
                name: tuple[str, date, str] | None = None) -> Found:
    """The communications about the person named by exactly one key: a CPF, a título, or (folded name, birth date,
    folded mother's name). A communication that names the same person by another key is included (the títulos seen
    with the CPF; the CPF seen with the título or the name)."""
    if cpf:
        rows = conn.execute(_BY_CPF, {"cpf": cpf}).all()
    elif titulo:
        rows = conn.execute(_BY_TITULO, {"titulo": titulo}).all()
    else:
        assert name is not None
        rows = conn.execute(_BY_NAME, {"nome": name[0], "nascimento": name[1], "mae": name[2]}).all()
    cpfs = {r.cpf for r in rows if r.cpf}
    titulos = {r.titulo for r in rows if r.titulo}
    if len(cpfs) > 1 or (not cpfs and len(titulos) > 1 and not titulo):
        return Found(frozenset(), ambiguous=True)
    protocols = {r.protocol for r in rows}
    if cpfs and not cpf:
        protocols |= {r.protocol for r in conn.execute(_BY_CPF, {"cpf": next(iter(cpfs))})}
    if titulos:
        more = conn.execute(_BY_TITULOS_NO_CPF, {"titulos": sorted(titulos)})
        protocols |= {r.protocol for r in more}
    return Found(frozenset(protocols))


# -- the communications of a consultation ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredVersion:
    """One stored version (``payload``: the exact bytes stored; empty meaning for a cancelamento)."""

    version: int
    operation: str
    message_id: str
    received_at: datetime
    late: bool
    days_late: int
    cancel_reason: str | None
    payload: bytes
    #: the timeline's facts stored with the version (``messages.facts``, :func:`gateway.consulta.facts.encode`);
    #: None for a cancelamento and for versions stored before migration 0016
    facts: str | None = None


@dataclass(frozen=True)
class StoredCommunication:
    """A communication about the person, from any sender, with every version."""

    protocol: str
    kind: str
    status: str
    sender: str
    process_number: str | None
    fact_date: date
    current_version: int
    duplicate_of: str | None
    created_at: datetime
    versions: tuple[StoredVersion, ...]

    @property
    def current_payload(self) -> bytes:
        """The payload of the latest version that is not a cancelamento (what the communication says)."""
        return self.current_version_stored.payload

    @property
    def current_version_stored(self) -> StoredVersion:
        """The latest version that is not a cancelamento (what the communication says)."""
        return next(v for v in reversed(self.versions) if v.operation != "cancelamento")

    def fact(self) -> Fact:
        """The timeline's fact of the communication: from the facts stored with its current version, or — stored
        before migration 0016 — from its payload, parsed (the same fact either way)."""
        current = self.current_version_stored
        if current.facts is not None:
            return decode(self.protocol, self.status, current.facts)
        return fact_of(self.protocol, self.status, current.payload)


_COMMUNICATIONS_IN = (select(communications, organs.c.code).join(organs, organs.c.id == communications.c.organ_id)
                      .where(communications.c.protocol.in_(bindparam("p", expanding=True))))
_VERSIONS_IN = (select(messages.c.protocol, messages.c.version, messages.c.operation, messages.c.message_id,
                       messages.c.received_at, messages.c.late, messages.c.days_late, messages.c.cancel_reason,
                       messages.c.payload, messages.c.facts)
                .where(messages.c.protocol.in_(bindparam("p", expanding=True)))
                .order_by(messages.c.protocol, messages.c.version))


def load_communications(conn: Connection, protocols: Iterable[str]) -> list[StoredCommunication]:
    """The communications *protocols* with their versions, ordered by fact date then protocol."""
    wanted = sorted(protocols)
    if not wanted:
        return []
    comms = conn.execute(_COMMUNICATIONS_IN, {"p": wanted}).mappings().all()
    versions: dict[str, list[StoredVersion]] = {}
    for r in conn.execute(_VERSIONS_IN, {"p": wanted}):
        versions.setdefault(r.protocol, []).append(StoredVersion(r.version, r.operation, r.message_id,
                                                                 utc(r.received_at), r.late, r.days_late,
                                                                 r.cancel_reason, bytes(r.payload), r.facts))
    out = [StoredCommunication(c["protocol"], c["kind"], c["status"], c["code"], c["process_number"],
                               c["fact_date"], c["current_version"], c["duplicate_of"], utc(c["created_at"]),
                               tuple(versions.get(c["protocol"], ()))) for c in comms]
    out.sort(key=lambda c: (c.fact_date, c.protocol))
    return out


# One statement for a consultation by CPF: the protocols find_person(cpf=…) gives (those indexed under the CPF, and
# those indexed under a título seen with it and no CPF) with their communication, sender and versions: one statement
# instead of three or four (issue 14's CPU work). A CPF lookup is never ambiguous: every row found by it has
# that CPF, and the título rows joined have none.
# The título rows are reached by a join from the CPF's *distinct* títulos, so that the título index finds them (a
# "titulo IN (…) AND cpf IS NULL" lets SQLite walk every row without a CPF through the CPF index instead). Joined
# from the CPF's rows themselves, each of a person's N rows would walk the título's N rows again: N² steps, which
# kept a gateway holding 28,000 communications about one person from starting (its warm-up consultation).
_WITH_CPF, _NO_CPF = consulta_pessoas.alias("with_cpf"), consulta_pessoas.alias("no_cpf")
_TITULOS_OF_CPF = (select(_WITH_CPF.c.titulo).where(_WITH_CPF.c.cpf == bindparam("cpf"),
                                                     _WITH_CPF.c.titulo.is_not(None))
                   .distinct().subquery("titulos"))
_PROTOCOLS_OF_CPF = union(
    select(_P.protocol).where(_P.cpf == bindparam("cpf")),
    select(_NO_CPF.c.protocol).select_from(_TITULOS_OF_CPF.join(_NO_CPF, _NO_CPF.c.titulo == _TITULOS_OF_CPF.c.titulo))
    .where(_NO_CPF.c.cpf.is_(None)))
_M = messages.c
_WHOLE_BY_CPF = (
    select(communications.c.protocol, communications.c.kind, communications.c.status, organs.c.code,
           communications.c.process_number, communications.c.fact_date, communications.c.current_version,
           communications.c.duplicate_of, communications.c.created_at, _M.version, _M.operation, _M.message_id,
           _M.received_at, _M.late, _M.days_late, _M.cancel_reason, _M.payload, _M.facts)
    .select_from(communications.join(organs, organs.c.id == communications.c.organ_id)
                 .outerjoin(messages, _M.protocol == communications.c.protocol))
    .where(communications.c.protocol.in_(_PROTOCOLS_OF_CPF))
    .order_by(communications.c.protocol, _M.version))


def communications_by_cpf(conn: Connection, cpf: str) -> list[StoredCommunication]:
    """What :func:`find_person` (``cpf=``) then :func:`load_communications` give — the communications about the
    person with CPF *cpf* (digits), every version, ordered by fact date then protocol — in one statement."""
    out: list[StoredCommunication] = []
    versions: list[StoredVersion] = []
    head: Any = None
    for r in conn.execute(_WHOLE_BY_CPF, {"cpf": cpf}):
        if head is None or r[0] != head[0]:
            if head is not None:
                out.append(_communication(head, versions))
            head, versions = r, []
        if r[9] is not None:
            versions.append(StoredVersion(r[9], r[10], r[11], utc(r[12]), r[13], r[14], r[15], bytes(r[16]), r[17]))
    if head is not None:
        out.append(_communication(head, versions))
    out.sort(key=lambda c: (c.fact_date, c.protocol))
    return out


def _communication(r: Any, versions: list[StoredVersion]) -> StoredCommunication:
    return StoredCommunication(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], utc(r[8]), tuple(versions))


# -- coverage --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportedHistory:
    """One imported history the data comes from (point 6 of issue 14: an import batch)."""

    origin: str
    batch: str
    imported_at: datetime | None
    communications: int


@dataclass(frozen=True)
class Coverage:
    """Since when the gateway holds communications (None: none yet) and from which imported histories."""

    since: datetime | None
    imported: tuple[ImportedHistory, ...] = field(default=())


def coverage(conn: Connection) -> Coverage:
    """What the data covers: the first communication received (live or imported) and every imported history that
    brought communications (``gateway import``, :mod:`gateway.history`: one entry per import batch, its origin, when
    it ended and how many communications it added)."""
    # protocols begin with the day of reception (AAAAMMDD-…): the primary key finds the first day at once, then
    # only that day's rows are read (a min over every row's created_at would scan the table)
    first_protocol = conn.execute(select(func.min(communications.c.protocol))).scalar()
    first = None
    if first_protocol is not None:
        day = first_protocol.split("-", 1)[0]
        first = conn.execute(select(func.min(communications.c.created_at)).where(
            communications.c.protocol >= day, communications.c.protocol < day + "~")).scalar()
    imported = tuple(
        ImportedHistory(r.origin, str(r.id), utc(r.finished_at) if r.finished_at else None, r.accepted)
        for r in conn.execute(select(import_batches.c.id, import_batches.c.origin, import_batches.c.finished_at,
                                     import_batches.c.accepted).where(import_batches.c.accepted > 0)
                              .order_by(import_batches.c.id)))
    earliest = conn.execute(select(func.min(import_batches.c.first_received_at)).where(
        import_batches.c.accepted > 0)).scalar()
    since = min((utc(t) for t in (first, earliest) if t is not None), default=None)
    return Coverage(since, imported)


# -- a sender's listing ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListFilter:
    """Filters of a sender's listing (each None: not filtered). ``since``/``until`` bound the reception of the first
    version (UTC, ``until`` exclusive); ``delivery`` is a set of outbox states of the current version."""

    organ_id: int
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    status: str | None = None
    delivery: tuple[str, ...] | None = None
    reference: str | None = None
    process_number: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a destination did with a version after receiving it (issue 14 point 7): ``processada``,
    ``eleitorNaoEncontrado`` or ``revisaoManual``, when it said so, with its detail."""

    situation: str
    reported_at: datetime | None = None
    detail: str | None = None


#: The stores' words (``store_outcomes.outcome``, :mod:`gateway.infodip.outcomes`) in the contract's vocabulary
#: (``tipoSituacaoProcessamento`` of INFODIP 1.1).
_OUTCOME_WORDS = {"processado": "processada", "eleitor-nao-encontrado": "eleitorNaoEncontrado",
                  "revisao-manual": "revisaoManual"}


def recorded_outcomes(conn: Connection, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int, str], Outcome]:
    """The processing outcomes the stores reported for the versions *keys* ((protocol, version) pairs), by
    (protocol, version, destination); a version not reported on yet is absent. One query per 500 keys."""
    out: dict[tuple[str, int, str], Outcome] = {}
    for i in range(0, len(keys), 500):
        rows = conn.execute(
            select(messages.c.protocol, messages.c.version, store_outcomes.c.destination, store_outcomes.c.outcome,
                   store_outcomes.c.detail, store_outcomes.c.processed_at)
            .join(messages, messages.c.message_id == store_outcomes.c.message_id)
            .where(messages.c.protocol.in_([k[0] for k in keys[i:i + 500]]),  # SQLite: the index (see below)
                   tuple_(messages.c.protocol, messages.c.version).in_(keys[i:i + 500])))
        for r in rows:
            out[(r.protocol, r.version, r.destination)] = Outcome(
                _OUTCOME_WORDS.get(r.outcome, r.outcome), utc(r.processed_at) if r.processed_at else None, r.detail)
    return out


@dataclass(frozen=True)
class ListedDelivery:
    """The delivery state of the current version towards one destination, and the destination's outcome if known."""

    destination: str
    status: str
    outcome: Outcome | None = None


@dataclass(frozen=True)
class Listed:
    """One communication of a sender's listing (its current version's reference, lateness and deliveries)."""

    protocol: str
    kind: str
    status: str
    current_version: int
    process_number: str | None
    fact_date: date
    created_at: datetime
    updated_at: datetime
    reference: str
    late: bool
    days_late: int
    deliveries: tuple[ListedDelivery, ...]


_C = communications.c


def list_communications(conn: Connection, flt: ListFilter, after: tuple[datetime, str] | None,
                        limit: int) -> list[Listed]:
    """Up to *limit* communications of the sender matching *flt*, ordered by (reception, protocol), after the
    cursor position *after*."""
    q = select(_C.protocol, _C.kind, _C.status, _C.current_version, _C.process_number, _C.fact_date, _C.created_at,
               _C.updated_at).where(_C.organ_id == flt.organ_id)
    if flt.since is not None:
        q = q.where(_C.created_at >= flt.since)
    if flt.until is not None:
        q = q.where(_C.created_at < flt.until)
    if flt.kind:
        q = q.where(_C.kind == flt.kind)
    if flt.status:
        q = q.where(_C.status == flt.status)
    if flt.process_number:
        q = q.where(_C.process_number == flt.process_number)
    if flt.reference:
        q = q.where(exists().where(messages.c.protocol == _C.protocol, messages.c.organ_id == flt.organ_id,
                                   messages.c.sender_reference == flt.reference))
    if flt.delivery:
        q = q.where(exists().where(outbox.c.protocol == _C.protocol, outbox.c.version == _C.current_version,
                                   outbox.c.status.in_(flt.delivery)))
    if after is not None:
        q = q.where(or_(_C.created_at > after[0], and_(_C.created_at == after[0], _C.protocol > after[1])))
    rows = conn.execute(q.order_by(_C.created_at, _C.protocol).limit(limit)).all()
    if not rows:
        return []
    keys = [(r.protocol, r.current_version) for r in rows]
    # the plain ``protocol IN`` beside each row-value IN is for SQLite, which does not search an index with a
    # row-value IN list and scanned all of messages and outbox for every page (0.7 s a page at 1,000,000)
    protocols = [k[0] for k in keys]
    current = {(m.protocol, m.version): m for m in conn.execute(
        select(messages.c.protocol, messages.c.version, messages.c.sender_reference, messages.c.late,
               messages.c.days_late).where(messages.c.protocol.in_(protocols),
                                           tuple_(messages.c.protocol, messages.c.version).in_(keys)))}
    outcomes = recorded_outcomes(conn, keys)
    versions = dict(keys)
    deliveries: dict[str, list[ListedDelivery]] = {}
    for d in conn.execute(select(outbox.c.protocol, outbox.c.destination, outbox.c.status)
                          .where(outbox.c.protocol.in_(protocols),
                                 tuple_(outbox.c.protocol, outbox.c.version).in_(keys))
                          .order_by(outbox.c.protocol, outbox.c.destination)):
        deliveries.setdefault(d.protocol, []).append(ListedDelivery(
            d.destination, d.status, outcomes.get((d.protocol, versions[d.protocol], d.destination))))
    out = []
    for r in rows:
        m = current.get((r.protocol, r.current_version))
        out.append(Listed(r.protocol, r.kind, r.status, r.current_version, r.process_number, r.fact_date,
                          utc(r.created_at), utc(r.updated_at), m.sender_reference if m else "",
                          bool(m.late) if m else False, m.days_late if m else 0,
                          tuple(deliveries.get(r.protocol, ()))))
    return out


# -- lateness --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeadlineRow:
    """One version with a deadline (envio or retificação): its sender, kind, reception and lateness."""

    sender: str
    kind: str
    received_at: datetime
    late: bool
    days_late: int


def deadline_rows(conn: Connection, since: datetime, until: datetime, organ_id: int | None) -> list[DeadlineRow]:
    """Every version received in [*since*, *until*) that had a deadline, of one sender (*organ_id*) or all."""
    q = (select(organs.c.code, _C.kind, messages.c.received_at, messages.c.late, messages.c.days_late)
         .select_from(messages.join(communications, communications.c.protocol == messages.c.protocol)
                      .join(organs, organs.c.id == messages.c.organ_id))
         .where(messages.c.received_at >= since, messages.c.received_at < until, messages.c.due_date.is_not(None)))
    if organ_id is not None:
        q = q.where(messages.c.organ_id == organ_id)
    return [DeadlineRow(r.code, r.kind, utc(r.received_at), bool(r.late), r.days_late) for r in conn.execute(q)]


def organ_id_of(conn: Connection, code: str) -> int | None:
    """The id of the organ *code*, or None."""
    return conn.execute(select(organs.c.id).where(organs.c.code == code)).scalar()
