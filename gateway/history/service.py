"""History import (issue 14, point 6): communications exported from the systems the unified flow replaces, loaded
into the store as *imported* — each with its origin, its id there and its import batch — and never delivered (no
outbox row is ever written for them); and the coverage statement the consultation gives (since when the gateway
holds communications, and from which imported history).

Each record passes the checks of live intake (Res. Conjunta CNJ/TSE 6/2020 as ``gateway.infodip`` implements it):
the INFODIP 1.0 XSD (INFODIP-E011), the reading into the domain (E046), the sending organ's competence (E022), the
identifiers and legal rules (E030–E045, the fact date compared with the date the origin received it), and the
deadline of art. 7º is computed against that reception date (lateness is recorded, never refused). A refused
record is reported with its line and code and the import goes on.

Idempotent per (origin, id in the origin): a record already imported with the same content is skipped; with other
content it is refused (GATEWAY-E112). The records are written in transactions of :data:`CHUNK` records through the
operator's transaction runner (``gateway.admin.Transactions``: one audit chain for the command, one audit entry
per chunk), so an interrupted import keeps what it committed and is resumed by running it again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from gateway.admin import Transactions
from gateway.clock import Clock, new_message_id, new_protocol, utc
from gateway.consulta.facts import PersonKeys
from gateway.consulta.facts import encode as encode_facts
from gateway.consulta.store import record_people
from gateway.db.committer import WriteContext
from gateway.db.tables import communications, import_batches, imported_communications, messages, organs
from gateway.errors import ClientError, OperatorError, ValidationFailed
from gateway.estatisticas.store import count_new
from gateway.history.domain import Record, Refusal, check_origin, format_of, read_records
from gateway.infodip import contract
from gateway.infodip.deadlines import deadline_for, local_today
from gateway.infodip.domain import check_competence, check_rules, competent_kinds
from gateway.infodip.intake import PAYLOAD, rooted
from gateway.infodip.service import earlier_same_fact
from gateway.organs import OrganType
from gateway.settings import Settings

#: Records per transaction.
CHUNK = 500
#: Seconds between two progress reports.
PROGRESS_EVERY_S = 5.0


@dataclass
class BatchReport:
    """The counts of one import run: lines read, imported, skipped (already imported, same content), refused."""

    batch_id: int
    origin: str
    lines: int = 0
    accepted: int = 0
    skipped: int = 0
    refused: int = 0
    first_received_at: datetime | None = None
    last_received_at: datetime | None = None

    def summary(self) -> str:
        """One Portuguese line with the counts."""
        return (f"lote {self.batch_id} (origem {self.origin}): {self.lines} registro(s), {self.accepted} "
                f"importado(s), {self.skipped} já importado(s), {self.refused} recusado(s)")


@dataclass(frozen=True)
class _Organ:
    id: int
    type: OrganType
    kinds: frozenset[Any]


@dataclass(frozen=True)
class _Ready:
    record: Record
    organ: _Organ
    kind: str
    person_key: str
    process_number: str | None
    fact_date: Any
    reference: str
    payload: bytes
    digest: str
    due: Any
    late: bool
    days_late: int
    keys: PersonKeys  # the consultation's person index
    facts: str  # the consultation's timeline facts (messages.facts)


class HistoryImport:
    """``gateway import``: one file → one batch."""

    def __init__(self, settings: Settings, writer: Engine, reader: Engine, clock: Clock,
                 run: Transactions) -> None:
        self.settings = settings
        self.writer = writer
        self.reader = reader
        self.clock = clock
        self.run = run
        self.tz = ZoneInfo(settings.timezone)
        self._organs: dict[str, _Organ | None] = {}

    def import_file(self, path: Path, origin: str, file_format: str | None, operator: str, *,
                    on_refusal: Callable[[Refusal], None] = lambda r: None,
                    on_progress: Callable[[BatchReport], None] = lambda r: None,
                    progress_every_s: float = PROGRESS_EVERY_S) -> BatchReport:
        """Import *path* (layout *file_format*, else its extension) as a new batch of *origin*; each refusal goes
        to *on_refusal* as it happens, the counts to *on_progress* every *progress_every_s* seconds (at most once per
        chunk). Returns the
        batch's counts. Errors: OperatorError GATEWAY-E110 (an unreadable file: the batch is marked
        ``interrupted``, what was committed stays), GATEWAY-E002 (a bad origin name)."""
        check_origin(origin)
        fmt = format_of(path, file_format)
        if not path.is_file():
            raise OperatorError(f"arquivo não encontrado: {path}", code="GATEWAY-E110", field="arquivo")
        started = self.clock.now()

        def open_batch(ctx: WriteContext) -> int:
            batch_id = ctx.conn.execute(insert(import_batches).values(
                origin=origin, file_name=path.name[:300], file_format=fmt, operator=operator[:200], status="running",
                lines=0, accepted=0, skipped=0, refused=0, started_at=started)).inserted_primary_key
            assert batch_id is not None
            batch_id = batch_id[0]
            ctx.audit.append(ctx.conn, "importacao.inicio", started, detail={
                "lote": batch_id, "origem": origin, "arquivo": path.name, "formato": fmt, "operador": operator})
            return int(batch_id)

        report = BatchReport(self.run(open_batch), origin)
        last_progress = time.monotonic()
        status = "interrupted"
        try:
            for chunk in _chunks(read_records(path, fmt, self.tz), CHUNK):
                self._import_chunk(chunk, report, on_refusal)
                if time.monotonic() - last_progress >= progress_every_s:
                    last_progress = time.monotonic()
                    on_progress(report)
            status = "done"
        finally:
            self._close_batch(report, status)
        return report

    # -- one chunk ----------------------------------------------------------------------------------------------

    def _import_chunk(self, chunk: list[Record | Refusal], report: BatchReport,
                      on_refusal: Callable[[Refusal], None]) -> None:
        refusals: list[Refusal] = []
        ready: list[_Ready] = []
        for item in chunk:
            if isinstance(item, Refusal):
                refusals.append(item)
                continue
            try:
                ready.append(self._check(item))
            except ClientError as exc:
                refusals.append(Refusal(item.line, item.origin_id, exc))
        outcome: dict[str, int] = {}

        def job(ctx: WriteContext) -> list[Refusal]:
            late_refusals, accepted, skipped = _write(ctx, ready, report, self.tz)
            outcome.update(accepted=len(accepted), skipped=skipped)
            lines = len(chunk)
            received = [r.record.received_at for r in ready]
            values: dict[str, Any] = {
                "lines": import_batches.c.lines + lines,
                "accepted": import_batches.c.accepted + len(accepted),
                "skipped": import_batches.c.skipped + skipped,
                "refused": import_batches.c.refused + len(refusals) + len(late_refusals),
            }
            ctx.conn.execute(update(import_batches).where(import_batches.c.id == report.batch_id).values(**values))
            if accepted:
                first = min(received)
                last = max(received)
                _widen(ctx.conn, report.batch_id, first, last)
                ctx.audit.append(ctx.conn, "importacao.registros", self.clock.now(), detail={
                    "lote": report.batch_id, "origem": report.origin, "importados": len(accepted),
                    "primeiroProtocolo": accepted[0], "ultimoProtocolo": accepted[-1]})
            return late_refusals

        late = self.run(job) if chunk else []
        report.lines += len(chunk)
        report.accepted += outcome.get("accepted", 0)
        report.skipped += outcome.get("skipped", 0)
        for refusal in sorted([*refusals, *late], key=lambda r: r.line):
            report.refused += 1
            on_refusal(refusal)

    def _organ(self, code: str) -> _Organ | None:
        if code not in self._organs:
            with self.reader.connect() as conn:
                row = conn.execute(select(organs).where(organs.c.code == code)).mappings().first()
            self._organs[code] = None if row is None else _Organ(
                row["id"], OrganType(row["organ_type"]),
                competent_kinds(OrganType(row["organ_type"]), row["kinds"].split(",") if row["kinds"] else None))
        return self._organs[code]

    def _check(self, record: Record) -> _Ready:
        """The checks of live intake on *record*, against the date its origin received it."""
        organ = self._organ(record.organ)
        if organ is None:
            raise ValidationFailed("GATEWAY-E113", f"órgão remetente desconhecido: {record.organ!r}", field="orgao")
        now = self.clock.now()
        if record.received_at > now:
            raise ValidationFailed("GATEWAY-E114", f"data de recebimento no futuro: {record.received_at:%Y-%m-%d}",
                                   field="data_recebimento")
        operation = etree.Element(f"{{{contract.NS}}}{contract.ENVIAR}", nsmap={"inf": contract.NS})
        operation.append(record.element)
        contract.validate_operation(operation)
        request = contract.read_request(operation)
        comm = request.communication
        assert comm is not None  # an envio carries its communication
        try:
            check_competence(comm.kind, organ.type, organ.kinds)
            check_rules(comm, local_today(record.received_at, self.tz))
        except ClientError as exc:
            raise rooted(exc, PAYLOAD) from None
        deadline = deadline_for(comm.kind, comm.fact_date, record.received_at, self.tz, self.settings.deadline_days,
                                self.settings.death_deadline_day)
        return _Ready(record, organ, comm.kind.value, comm.person.key, comm.process_number, comm.fact_date,
                      request.reference, request.payload, hashlib.sha256(request.payload).hexdigest(), deadline.due,
                      deadline.late, deadline.days_late, PersonKeys.of(comm.person), encode_facts(comm))

    def _close_batch(self, report: BatchReport, status: str) -> None:
        at = self.clock.now()

        def job(ctx: WriteContext) -> None:
            ctx.conn.execute(update(import_batches).where(import_batches.c.id == report.batch_id).values(
                status=status, finished_at=at))
            ctx.audit.append(ctx.conn, "importacao.fim", at, detail={
                "lote": report.batch_id, "origem": report.origin, "situacao": status, "registros": report.lines,
                "importados": report.accepted, "jaImportados": report.skipped, "recusados": report.refused})

        self.run(job)


def _chunks(items: Iterable[Record | Refusal], size: int) -> Iterator[list[Record | Refusal]]:
    chunk: list[Record | Refusal] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_Q_IMPORTED = select(imported_communications.c.protocol, messages.c.payload_digest).join(
    messages, (messages.c.protocol == imported_communications.c.protocol) & (messages.c.version == 1)).where(
    imported_communications.c.origin == bindparam("origin"), imported_communications.c.origin_id == bindparam("oid"))
_Q_REFERENCE = select(messages.c.protocol).where(messages.c.organ_id == bindparam("organ_id"),
                                                 messages.c.sender_reference == bindparam("reference"))


def _write(ctx: WriteContext, ready: list[_Ready], report: BatchReport,
           tz: ZoneInfo) -> tuple[list[Refusal], list[str], int]:
    """Insert the communications of *ready* not imported yet: (refusals found against the store, protocols
    written, records skipped as already imported). No outbox row: an imported communication is never delivered."""
    conn = ctx.conn
    refusals: list[Refusal] = []
    accepted: list[str] = []
    skipped = 0
    seen: dict[str, str] = {}  # origin id → digest, within this chunk
    references: set[tuple[int, str]] = set()
    comm_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    import_rows: list[dict[str, Any]] = []
    people: list[tuple[str, PersonKeys]] = []
    for r in ready:
        rec = r.record
        earlier = seen.get(rec.origin_id)
        if earlier is None:
            row = conn.execute(_Q_IMPORTED, {"origin": report.origin, "oid": rec.origin_id}).first()
            earlier = row.payload_digest if row else None
        if earlier is not None:
            if earlier == r.digest:
                skipped += 1
            else:
                refusals.append(Refusal(rec.line, rec.origin_id, ValidationFailed(
                    "GATEWAY-E112", f"id de origem {rec.origin_id} já importado da origem {report.origin} com outro "
                    "conteúdo", field="id_origem")))
            continue
        key = (r.organ.id, r.reference)
        if key in references or conn.execute(_Q_REFERENCE, {"organ_id": r.organ.id,
                                                            "reference": r.reference}).first() is not None:
            refusals.append(Refusal(rec.line, rec.origin_id, ValidationFailed(
                "GATEWAY-E115", f"a referência {r.reference} já foi usada pelo órgão {rec.organ} em outra comunicação",
                field="comunicacao/cabecalho/referenciaRemetente")))
            continue
        seen[rec.origin_id] = r.digest
        references.add(key)
        same = earlier_same_fact(conn, r.person_key, r.kind, r.fact_date, r.process_number)
        protocol = new_protocol(local_today(rec.received_at, tz))
        comm_rows.append({
            "protocol": protocol, "kind": r.kind, "organ_id": r.organ.id, "person_key": r.person_key,
            "process_number": r.process_number, "fact_date": r.fact_date, "status": "ativa", "current_version": 1,
            "duplicate_of": same, "created_at": rec.received_at,
            "updated_at": rec.received_at})
        message_rows.append({
            "message_id": new_message_id(), "protocol": protocol, "version": 1, "operation": "envio",
            "organ_id": r.organ.id, "sender_reference": r.reference, "payload_digest": r.digest, "payload": r.payload,
            "received_at": rec.received_at, "due_date": r.due, "late": r.late, "days_late": r.days_late,
            "cancel_reason": None, "facts": r.facts})
        people.append((protocol, r.keys))
        import_rows.append({"protocol": protocol, "origin": report.origin, "origin_id": rec.origin_id,
                            "batch_id": report.batch_id})
        accepted.append(protocol)
        if report.first_received_at is None or rec.received_at < report.first_received_at:
            report.first_received_at = rec.received_at
        if report.last_received_at is None or rec.received_at > report.last_received_at:
            report.last_received_at = rec.received_at
    if comm_rows:
        conn.execute(insert(communications), comm_rows)
        conn.execute(insert(messages), message_rows)
        conn.execute(insert(imported_communications), import_rows)
        # imported history is what consultations by the whole Judiciary look up (issue 14 point 6)
        record_people(conn, people)
        count_new(conn, comm_rows)  # and the public statistics count it (issue 15)
    return refusals, accepted, skipped


def _widen(conn: Connection, batch_id: int, first: datetime, last: datetime) -> None:
    row = conn.execute(select(import_batches.c.first_received_at, import_batches.c.last_received_at).where(
        import_batches.c.id == batch_id)).one()
    lo = first if row.first_received_at is None else min(utc(row.first_received_at), first)
    hi = last if row.last_received_at is None else max(utc(row.last_received_at), last)
    conn.execute(update(import_batches).where(import_batches.c.id == batch_id).values(
        first_received_at=lo, last_received_at=hi))


# -- coverage ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchCoverage:
    """One import batch as the coverage statement names it: id, origin, file, situation (``running``, ``done``,
    ``interrupted``), communications imported, and the range of their reception dates in the origin (UTC)."""

    batch_id: int
    origin: str
    file_name: str
    status: str
    accepted: int
    first_received_at: datetime | None
    last_received_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Coverage:
    """What the gateway's data covers (issue 14 point 2: every consultation states it).

    ``since``: the earliest reception (UTC) of any communication held, imported or live (None: none held);
    ``live_since``: the earliest one received live by the gateway; ``imported``: the batches that brought history,
    oldest first; ``imported_count``: communications imported in all; ``origins``: the origins, sorted."""

    since: datetime | None
    live_since: datetime | None
    imported: tuple[BatchCoverage, ...]
    imported_count: int
    origins: tuple[str, ...]


def coverage(conn: Connection) -> Coverage:
    """The coverage statement, read on *conn*. Cost: the batches (a few rows) plus one scan for the earliest live
    reception (cache the result: it changes only with imports — :class:`CoverageCache`)."""
    batches = tuple(
        BatchCoverage(r.id, r.origin, r.file_name, r.status, r.accepted,
                      utc(r.first_received_at) if r.first_received_at else None,
                      utc(r.last_received_at) if r.last_received_at else None,
                      utc(r.finished_at) if r.finished_at else None)
        for r in conn.execute(select(import_batches).order_by(import_batches.c.id)))
    live = conn.execute(select(func.min(messages.c.received_at)).where(
        messages.c.version == 1,
        ~select(imported_communications.c.protocol).where(
            imported_communications.c.protocol == messages.c.protocol).exists())).scalar()
    live_since = utc(live) if live is not None else None
    firsts = [b.first_received_at for b in batches if b.first_received_at is not None and b.accepted]
    if live_since is not None:
        firsts.append(live_since)
    return Coverage(since=min(firsts) if firsts else None, live_since=live_since,
                    imported=tuple(b for b in batches if b.accepted), imported_count=sum(b.accepted for b in batches),
                    origins=tuple(sorted({b.origin for b in batches if b.accepted})))


class CoverageCache:
    """:func:`coverage` read at most every *ttl_s* seconds (monotonic clock of *clock*) — for the consultation,
    which states it in every answer."""

    def __init__(self, engine: Engine, clock: Clock, ttl_s: float = 60.0) -> None:
        self.engine = engine
        self.clock = clock
        self.ttl_s = ttl_s
        self._value: Coverage | None = None
        self._at = 0.0

    def get(self) -> Coverage:
        """The coverage statement, at most *ttl_s* old. Errors: the database's (SQLAlchemyError)."""
        now = self.clock.monotonic()
        if self._value is None or now - self._at >= self.ttl_s:
            with self.engine.connect() as conn:
                self._value = coverage(conn)
            self._at = now
        return self._value


