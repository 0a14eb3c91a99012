"""Death batches: receive, resume, report (issue 13).

Each accepted record becomes an ordinary INFODIP kind VI communication — the same ``communications`` /
``messages`` / ``outbox`` rows and audit entries as ``/soap/infodip`` writes (``gateway/infodip/service.py``), routed
to the TSE by the routing table, consulted, corrected (``retificarComunicacao``) and withdrawn
(``cancelarComunicacao``) on its protocol — with its batch outcome and the fields INFODIP 1.0 cannot carry in
``obito_registros``.

A batch is stored in chunks of ``GATEWAY_OBITOS_CHUNK_RECORDS`` records, each chunk **one job of the group
committer** (so tribunals' intake shares the writer between chunks: a 130k-record transaction would hold it for a
minute). The batch row records the digest chain after each committed chunk; a resend of the same batch id is
compared chunk by chunk (another content: INFODIP-E061, nothing written) and continues after the last committed
chunk — after a crash, or for a batch already concluded, whose earlier result is returned. Duplicates are looked
up by the writer inside the chunk's transaction, so earlier chunks (of this batch or another) are seen.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from gateway.auth import Caller
from gateway.clock import _CROCKFORD, Clock
from gateway.consulta.facts import PersonKeys, encode_death, name_key
from gateway.consulta.store import record_people
from gateway.db.bulk import insert_many
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import (
    communications,
    messages,
    obito_blocos,
    obito_crc_cartorios,
    obito_declaracoes,
    obito_lotes,
    obito_registros,
    organs,
    outbox,
)
from gateway.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from gateway.estatisticas.store import count_new
from gateway.infodip import feed
from gateway.infodip.deadlines import local_today
from gateway.infodip.domain import Kind
from gateway.infodip.routing import TSE
from gateway.obitos import contract, sidecar
from gateway.obitos.contract import BatchReader, Header
from gateway.obitos.domain import Earlier, Outcome, Registro, check_record, competencia_of, deadline_of, outcome_of
from gateway.organs import OrganType
from gateway.settings import Settings

log = logging.getLogger("gateway.obitos")
PROCESSANDO, CONCLUIDO = "processando", "concluido"
#: the longest a batch waits for tribunals' intake before each chunk (seconds)
YIELD_MAX_S = 0.05
#: how long a batch stored in the background waits for another run of the same batch in this process (seconds)
BACKGROUND_WAIT_S = 900.0
#: the most outcomes one page (and one synchronous answer) carries
PAGE_MAX = 1000
#: where a record's version goes: the routing table sends every kind VI to the TSE (routing.destinations_for)
DESTINATIONS = (TSE,)


@dataclass(frozen=True)
class RecordOutcome:
    """One record's outcome (``seq`` from 0, in the batch's order)."""

    seq: int
    outcome: str
    matricula: str | None
    protocol: str | None
    earlier: str | None
    code: str | None
    field: str | None
    message: str | None
    due_date: date | None
    days_late: int
    municipio_ibge: str | None
    data_registro: date | None


@dataclass(frozen=True)
class BatchView:
    """A batch's progress and, once concluded, a page of its outcomes (``next_cursor``: None on the last page)."""

    lote_id: str
    competencia: str
    status: str
    total: int
    processed: int
    counts: dict[str, int]
    late: int
    outcomes: tuple[RecordOutcome, ...] = ()
    next_cursor: str | None = None
    replay: bool = False


@dataclass(frozen=True)
class Pendencia:
    """One cartório in a competência: what it sent, declared, and what was late (``faltante``: neither records nor
    a declaration)."""

    cns: str
    cartorio: str | None
    registros: int
    declarou_sem_obitos: bool
    atrasados: int

    @property
    def faltante(self) -> bool:
        """Neither records nor a declaration of a month without deaths."""
        return self.registros == 0 and not self.declarou_sem_obitos


@dataclass
class _State:
    pk: int
    total: int
    chunks_done: int
    digests: list[str]
    status: str
    digest: str
    competencia: str
    replay: bool = False


@dataclass
class _Prepared:
    seq: int
    record: Registro
    rejection: tuple[str, str, str] | None
    digest: str = ""
    protocol: str | None = None
    message_id: str | None = None
    due: date | None = None
    days_late: int = 0
    #: the rows an accepted record adds whatever its outcome against earlier deaths, built off the writer:
    #: its ``messages`` row, its ``outbox`` rows and its keys for the consultation's person index
    message: dict[str, Any] | None = None
    deliveries: tuple[dict[str, Any], ...] = ()
    person: PersonKeys | None = None


@dataclass
class _Active:
    """The batches this process is storing now, by (organ, batch id)."""

    keys: set[tuple[int, str]] = field(default_factory=set)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def claim(self, key: tuple[int, str], wait_s: float) -> bool:
        """Take *key*, waiting up to *wait_s* seconds while another thread holds it; True when it had to wait.
        Errors: Conflict INFODIP-E078 when still held after the wait."""
        deadline = time.monotonic() + wait_s
        waited = False
        with self.cond:
            while key in self.keys:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Conflict("INFODIP-E078", field="idLote")
                waited = True
                self.cond.wait(timeout=min(left, 1.0))
            self.keys.add(key)
        return waited

    def release(self, key: tuple[int, str]) -> None:
        """Give *key* back and wake the waiting threads."""
        with self.cond:
            self.keys.discard(key)
            self.cond.notify_all()


def encode_cursor(seq: int) -> str:
    """The opaque cursor of the page starting at record *seq*."""
    return base64.urlsafe_b64encode(f"s:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The record a cursor starts at (0 for none). Errors: GATEWAY-E070 for a cursor not ours."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("s:"):
            raise ValueError
        return max(0, int(text[2:]))
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("GATEWAY-E070", "Cursor inválido.", field="cursor") from None


_Q_SAME_MATRICULA = (
    select(obito_registros.c.matricula, obito_registros.c.protocol, obito_registros.c.cns, obito_lotes.c.organ_id)
    .join(obito_lotes, obito_lotes.c.id == obito_registros.c.lote)
    .join(communications, communications.c.protocol == obito_registros.c.protocol)
    .where(obito_registros.c.matricula.in_(bindparam("m", expanding=True)), communications.c.status == "ativa"))
_Q_SAME_PERSON = select(communications.c.protocol, communications.c.person_key, communications.c.fact_date,
                        communications.c.organ_id).where(
    communications.c.person_key.in_(bindparam("k", expanding=True)), communications.c.kind == Kind.VI.value,
    communications.c.status == "ativa").order_by(communications.c.created_at)
_INS_BLOCO = insert(obito_blocos)


class ObitosService:
    """Use cases of the death batches (SOAP ``/soap/crc`` and REST ``/api/v1/obitos``)."""

    def __init__(self, settings: Settings, committer: GroupCommitter, reader: Engine, clock: Clock,
                 listeners: list[Callable[[], None]] | None = None,
                 intake_busy: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.committer = committer
        self.reader = reader
        self.clock = clock
        #: called after each committed chunk (the relay's wake-up: the INFODIP service's listeners)
        self.listeners = listeners if listeners is not None else []
        #: tribunals' intake near its bound (the admission's ``busy``): a batch then yields between chunks
        self.intake_busy = intake_busy or (lambda: False)
        self._active = _Active()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.chunk = settings.obitos_chunk_records

    # -- who answers for what --------------------------------------------------------------------------------

    def coverage(self, caller: Caller) -> frozenset[str]:
        """The CNS the caller sends for: a cartório its own, a CRC the cartórios configured under it. Errors:
        NotAllowed INFODIP-E075 for any other organ type."""
        if caller.organ_type not in (OrganType.CARTORIO, OrganType.CRC):
            raise NotAllowed("INFODIP-E075", field="Authorization")
        with self.reader.connect() as conn:
            if caller.organ_type is OrganType.CARTORIO:
                cns = conn.execute(select(organs.c.cns).where(organs.c.id == caller.organ_id)).scalar()
                return frozenset({cns} if cns else ())
            return frozenset(r.cns for r in conn.execute(select(obito_crc_cartorios.c.cns).where(
                obito_crc_cartorios.c.crc_organ_id == caller.organ_id)))

    # -- receiving a batch -----------------------------------------------------------------------------------

    def open(self, caller: Caller, batch: BatchReader, channel: str) -> tuple[_State, frozenset[str]]:
        """Check the batch's size and open (or find) its row; runs in a worker thread. Errors: INFODIP-E060 (over
        ``GATEWAY_OBITOS_MAX_RECORDS``, refused whole), E061 (the id used with another header or size), E075,
        E076."""
        covered = self.coverage(caller)
        total = batch.count()
        if total > self.settings.obitos_max_records:
            raise ValidationFailed("INFODIP-E060", f"O lote tem {total} registros; o limite é "
                                                   f"{self.settings.obitos_max_records}.", field="registros")
        header = batch.header
        seed = contract.seed_digest(header, total)
        now = self.clock.now()

        def job(ctx: WriteContext) -> _State:
            row = ctx.conn.execute(select(obito_lotes).where(
                obito_lotes.c.organ_id == caller.organ_id, obito_lotes.c.lote_id == header.lote_id)).mappings().first()
            if row is None:
                key = ctx.conn.execute(insert(obito_lotes).values(
                    organ_id=caller.organ_id, lote_id=header.lote_id, competencia=header.competencia, channel=channel,
                    status=PROCESSANDO, total=total, processed=0, chunks_done=0, digest=seed, aceitos=0,
                    duplicados=0, vinculados=0, rejeitados=0, atrasados=0, created_at=now, updated_at=now)
                ).inserted_primary_key
                assert key is not None
                pk = key[0]
                ctx.audit.append(ctx.conn, "obitos.lote", now, organ_id=caller.organ_id,
                                 detail={"lote": header.lote_id, "competencia": header.competencia, "total": total,
                                         "usuario": caller.username, "canal": channel})
                return _State(int(pk), total, 0, [], PROCESSANDO, seed, header.competencia)
            if row["competencia"] != header.competencia or row["total"] != total:
                raise Conflict("INFODIP-E061", f"O lote {header.lote_id} já foi recebido com outra competência ou "
                                               "outro número de registros.", field="idLote")
            digests = [r.digest for r in ctx.conn.execute(select(obito_blocos.c.digest).where(
                obito_blocos.c.lote == row["id"]).order_by(obito_blocos.c.chunk))]
            return _State(row["id"], total, row["chunks_done"], digests, row["status"], row["digest"],
                          row["competencia"], replay=True)

        return self.committer.run_sync(job), covered

    def process(self, caller: Caller, batch: BatchReader, state: _State, covered: frozenset[str],
                wait_s: float | None = None) -> None:
        """Store the batch's records chunk by chunk (worker thread), skipping — after checking their digests — the
        chunks already committed. While this process is storing the same batch (a resend arriving during the
        resumption after a restart, or during the first sending), wait up to *wait_s* seconds (default
        ``GATEWAY_COMMIT_TIMEOUT_S``) for it to end, then continue from where it stopped. Errors: Conflict
        INFODIP-E061 (a committed chunk's records differ), E078 (still being stored after the wait, or another
        process advanced the batch meanwhile); StorageUnavailable (E091) from the committer."""
        key = (caller.organ_id, batch.header.lote_id)
        if self._active.claim(key, self.committer.timeout_s if wait_s is None else wait_s):
            state = self._reload(state)
        try:
            self._process(caller, batch, state, covered)
        finally:
            self._active.release(key)

    def _reload(self, state: _State) -> _State:
        """*state* as committed now (after another run of the same batch ended)."""
        with self.reader.connect() as conn:
            row = conn.execute(select(obito_lotes).where(obito_lotes.c.id == state.pk)).mappings().one()
            digests = [r.digest for r in conn.execute(select(obito_blocos.c.digest).where(
                obito_blocos.c.lote == state.pk).order_by(obito_blocos.c.chunk))]
        return _State(state.pk, state.total, row["chunks_done"], digests, row["status"], row["digest"],
                      state.competencia, replay=True)

    def _process(self, caller: Caller, batch: BatchReader, state: _State, covered: frozenset[str]) -> None:
        link = contract.seed_digest(batch.header, state.total)
        pending: concurrent.futures.Future[Any] | None = None
        index, seq = 0, 0
        hook = self.committer.crash_hook
        records = iter(batch.records())
        while True:
            chunk = list(islice(records, self.chunk))
            if not chunk:
                break
            link = contract.chain(link, chunk)
            if index < state.chunks_done:
                if state.digests[index] != link:
                    raise Conflict("INFODIP-E061", f"O lote {batch.header.lote_id} já foi recebido com outro "
                                                   f"conteúdo (bloco {index}).", field="idLote")
            else:
                self._yield_to_intake()
                now = self.clock.now()
                prepared = self._prepare(chunk, seq, covered, state.pk, now, caller.organ_id)
                if pending is not None:
                    pending.result(timeout=self.committer.timeout_s)
                    self._notify()
                    if hook:
                        hook("obitos_chunk")
                pending = self.committer.submit(self._chunk_job(caller, state, index, link, prepared, covered,
                                                                now))
            index += 1
            seq += len(chunk)
        if pending is not None:
            pending.result(timeout=self.committer.timeout_s)
            self._notify()
            if hook:
                hook("obitos_chunk")
        if state.status != CONCLUIDO:
            self.committer.run_sync(self._conclude_job(caller, state, index, link))
        elif link != state.digest:
            raise Conflict("INFODIP-E061", f"O lote {batch.header.lote_id} já foi recebido com outro conteúdo.",
                           field="idLote")

    def _yield_to_intake(self) -> None:
        """While tribunals' intake is busy (requests queued, the event loop lagging), wait before the next chunk
        — in steps of 20 ms, at most ``YIELD_MAX_S`` per chunk: a batch is background work and must not make the
        admission refuse tribunals (INFODIP-E092); bounded, so a steady load never stalls the batch."""
        waited = 0.0
        while waited < YIELD_MAX_S and self.intake_busy():
            time.sleep(0.02)
            waited += 0.02

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    def _prepare(self, chunk: list[Registro], first_seq: int, covered: frozenset[str], pk: int, now: datetime,
                 organ_id: int) -> list[_Prepared]:
        """The pure part of a chunk, off the writer: each record's rules, its deadline, its ids and the rows that do
        not depend on earlier deaths (received at *now*, UTC, from the organ *organ_id*)."""
        today = local_today(now, _tz(self.settings))
        ids = _Ids(today, len(chunk))
        out = []
        for i, r in enumerate(chunk):
            rej = check_record(r, covered, today)
            if rej is not None:
                out.append(_Prepared(first_seq + i, r, (rej.code, rej.field, rej.message)))
                continue
            assert r.data_obito is not None and r.data_registro is not None
            late = deadline_of(r.data_obito, r.data_registro, today, self.settings.death_deadline_day)
            reference = f"OB{pk}-{r.matricula}"
            payload = contract.communication_payload(r, reference)
            digest = hashlib.sha256(payload).hexdigest()
            protocol, message_id = ids.protocol(), ids.message_id()
            message = {"message_id": message_id, "protocol": protocol, "version": 1, "operation": "envio",
                       "organ_id": organ_id, "sender_reference": reference, "payload_digest": digest,
                       "payload": payload, "received_at": now, "due_date": late.due, "late": late.days_late > 0,
                       "days_late": late.days_late, "cancel_reason": None, "facts": encode_death(r.data_obito)}
            deliveries = tuple({"message_id": message_id, "protocol": protocol, "version": 1, "destination": d,
                                "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
                                "updated_at": now} for d in DESTINATIONS)
            person = PersonKeys(r.cpf or None, r.titulo_eleitor or None, name_key(r.nome), r.data_nascimento,
                                name_key(r.nome_mae or ""))
            out.append(_Prepared(first_seq + i, r, None, digest, protocol, message_id,
                                 late.due, late.days_late, message, deliveries, person))
        return out

    def _chunk_job(self, caller: Caller, state: _State, index: int, link: str, prepared: list[_Prepared],
                   covered: frozenset[str], now: datetime) -> Callable[[WriteContext], None]:
        pk = state.pk

        def job(ctx: WriteContext) -> None:
            conn = ctx.conn
            done = conn.execute(select(obito_lotes.c.chunks_done).where(obito_lotes.c.id == pk)).scalar()
            if done != index:
                raise Conflict("INFODIP-E078", field="idLote")
            valid = [p for p in prepared if p.rejection is None]
            by_matricula: dict[str, Earlier] = {}
            if valid:
                for row in conn.execute(_Q_SAME_MATRICULA, {"m": sorted({p.record.matricula for p in valid})}):
                    by_matricula.setdefault(row.matricula, Earlier(row.protocol, row.organ_id, row.cns))
            by_person: dict[tuple[str, date], Earlier] = {}
            if valid:
                for row in conn.execute(_Q_SAME_PERSON, {"k": sorted({p.record.person_key for p in valid})}):
                    by_person.setdefault((row.person_key, row.fact_date), Earlier(row.protocol, row.organ_id, ""))
            comms: list[dict[str, Any]] = []
            msgs: list[dict[str, Any]] = []
            outs: list[dict[str, Any]] = []
            regs: list[dict[str, Any]] = []
            versions: list[list[Any]] = []
            people: list[tuple[str, PersonKeys]] = []
            counts = {o.value: 0 for o in Outcome}
            atrasados = 0
            for p in prepared:
                r = p.record
                mat = r.matricula if len(r.matricula) == 32 else None
                base = {"lote": pk, "seq": p.seq, "matricula": mat, "cns": r.cns_cartorio[:6] or None,
                        "municipio_ibge": r.municipio_obito[:7] or None, "data_registro": r.data_registro,
                        "code": None, "field": None, "message": None, "protocol": None, "message_id": None,
                        "earlier": None, "due_date": p.due, "days_late": p.days_late}
                if p.rejection is not None:
                    code, fld, msg = p.rejection
                    regs.append({**base, "outcome": Outcome.REJEITADO.value, "code": code, "field": fld,
                                 "message": msg})
                    counts[Outcome.REJEITADO.value] += 1
                    continue
                assert r.data_obito is not None and p.protocol is not None and p.message_id is not None
                outcome, earlier = outcome_of(by_matricula.get(r.matricula),
                                              by_person.get((r.person_key, r.data_obito)), caller.organ_id, covered)
                counts[outcome.value] += 1
                if outcome is Outcome.DUPLICADO:
                    regs.append({**base, "outcome": outcome.value, "earlier": earlier, "due_date": None,
                                 "days_late": 0})
                    continue
                if p.days_late:
                    atrasados += 1
                assert p.message is not None and p.person is not None
                comms.append({"protocol": p.protocol, "kind": Kind.VI.value, "organ_id": caller.organ_id,
                              "person_key": r.person_key, "process_number": None, "fact_date": r.data_obito,
                              "status": "ativa", "current_version": 1, "duplicate_of": earlier, "created_at": now,
                              "updated_at": now})
                msgs.append(p.message)
                outs.extend(p.deliveries)
                regs.append({**base, "outcome": outcome.value, "protocol": p.protocol, "message_id": p.message_id,
                             "earlier": earlier})
                people.append((p.protocol, p.person))
                versions.append([p.message_id, p.protocol, p.digest, p.seq, earlier, p.days_late > 0])
                by_matricula.setdefault(r.matricula, Earlier(p.protocol, caller.organ_id, r.cns_cartorio))
                by_person.setdefault((r.person_key, r.data_obito), Earlier(p.protocol, caller.organ_id, ""))
            insert_many(conn, communications, comms)
            insert_many(conn, messages, msgs)
            insert_many(conn, outbox, outs)
            # the change feed numbers these deliveries at commit; consultations find the people by their keys
            feed.record(ctx, ((o["message_id"], o["protocol"], 1, o["destination"]) for o in outs))
            record_people(conn, people)
            count_new(conn, comms)  # the public statistics' counts (issue 15)
            insert_many(conn, obito_registros, regs)
            conn.execute(_INS_BLOCO, {"lote": pk, "chunk": index, "digest": link})
            conn.execute(update(obito_lotes).where(obito_lotes.c.id == pk).values(
                chunks_done=index + 1, processed=obito_lotes.c.processed + len(prepared), digest=link,
                aceitos=obito_lotes.c.aceitos + counts["aceito"],
                duplicados=obito_lotes.c.duplicados + counts["duplicado"],
                vinculados=obito_lotes.c.vinculados + counts["vinculado"],
                rejeitados=obito_lotes.c.rejeitados + counts["rejeitado"],
                atrasados=obito_lotes.c.atrasados + atrasados, updated_at=now))
            # one audit entry per chunk naming every version it stored (message id, protocol, payload digest,
            # position, the protocol it is linked to, lateness): 500 chained entries per chunk cost more than the
            # versions' own rows, and each version stays accounted for in the chain
            ctx.audit.append(conn, "infodip.envio.lote", now, organ_id=caller.organ_id, payload_digest=link,
                             detail={"lote": pk, "bloco": index, "usuario": caller.username,
                                     "destinos": list(DESTINATIONS), **counts,
                                     "versoes": versions})

        return job

    def _conclude_job(self, caller: Caller, state: _State, chunks: int, link: str) -> Callable[[WriteContext], None]:
        now = self.clock.now()

        def job(ctx: WriteContext) -> None:
            ctx.conn.execute(update(obito_lotes).where(obito_lotes.c.id == state.pk).values(
                status=CONCLUIDO, digest=link, updated_at=now))
            ctx.audit.append(ctx.conn, "obitos.lote.concluido", now, organ_id=caller.organ_id, payload_digest=link,
                             detail={"lote": state.pk, "blocos": chunks})

        return job

    async def receive(self, caller: Caller, make_batch: Callable[[], BatchReader], channel: str,
                      on_done: Callable[[], None] | None = None, spooled: Path | None = None) -> BatchView:
        """Receive a spooled batch: open it, then store it — at once when it holds at most
        ``GATEWAY_OBITOS_SYNC_MAX`` records (the view carries every outcome), else in a background task (the
        view says ``processando``; ``GET /api/v1/obitos/lotes/{id}`` follows it). *on_done* runs when the spooled
        file is no longer needed. With *spooled* (that file), a batch still to be stored gets its sidecar first, so
        that a restart resumes it (:mod:`gateway.obitos.spooled`). Errors: :meth:`open`'s and :meth:`process`'s."""
        loop = asyncio.get_running_loop()
        handed_off = False
        try:
            batch = await loop.run_in_executor(None, make_batch)
            state, covered = await loop.run_in_executor(None, self.open, caller, batch, channel)
            if spooled is not None and state.status != CONCLUIDO:
                await loop.run_in_executor(None, sidecar.write_sidecar, spooled, caller, channel,
                                           batch.header.lote_id, self.settings.database_url)
            if state.status == CONCLUIDO or state.total <= self.settings.obitos_sync_max:
                await loop.run_in_executor(None, self.process, caller, batch, state, covered)
                view = await loop.run_in_executor(None, self.view, caller, batch.header.lote_id, None,
                                                  max(1, min(state.total, PAGE_MAX)))
                return _with_replay(view, state.replay and state.status == CONCLUIDO)
            self.in_background(caller, batch, state, covered, on_done)
            handed_off = True
            return await loop.run_in_executor(None, self.view, caller, batch.header.lote_id, None, 0)
        finally:
            if not handed_off and on_done is not None:
                on_done()

    def in_background(self, caller: Caller, batch: BatchReader, state: _State, covered: frozenset[str],
                      on_done: Callable[[], None] | None) -> None:
        """Store *batch* in a task of the running loop (its progress in the batch's row); *on_done* runs at the
        end, however it ends. An interrupted batch stays ``processando``: a resend, or the next start
        (:mod:`gateway.obitos.spooled`), continues it."""
        loop = asyncio.get_running_loop()

        async def background() -> None:
            try:
                await loop.run_in_executor(None, self.process, caller, batch, state, covered, BACKGROUND_WAIT_S)
            except Exception:  # reported by the batch's progress (it stays processando); a resend continues it
                log.exception("lote de óbitos interrompido", extra={"lote": batch.header.lote_id})
            finally:
                if on_done is not None:
                    on_done()

        task = loop.create_task(background())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait (bounded) for the batches being stored in the background (shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    # -- reading -------------------------------------------------------------------------------------------------

    def view(self, caller: Caller, lote_id: str, cursor: str | None, limit: int) -> BatchView:
        """The caller's batch *lote_id*: progress, and a page of *limit* outcomes from *cursor* once concluded
        (while processing, the outcomes committed so far). Errors: NotFound INFODIP-E073 (unknown, or another
        organ's), GATEWAY-E070 (a bad cursor)."""
        start = decode_cursor(cursor)
        with self.reader.connect() as conn:
            row = conn.execute(select(obito_lotes).where(obito_lotes.c.organ_id == caller.organ_id,
                                                         obito_lotes.c.lote_id == lote_id)).mappings().first()
            if row is None:
                raise NotFound("INFODIP-E073", field="idLote")
            rows: list[Any] = []
            if limit > 0:
                rows = list(conn.execute(select(obito_registros).where(
                    obito_registros.c.lote == row["id"], obito_registros.c.seq >= start)
                    .order_by(obito_registros.c.seq).limit(limit + 1)).mappings())
        more = len(rows) > limit
        rows = rows[:limit]
        outcomes = tuple(RecordOutcome(r["seq"], r["outcome"], r["matricula"], r["protocol"], r["earlier"],
                                       r["code"], r["field"], r["message"], r["due_date"], r["days_late"],
                                       r["municipio_ibge"], r["data_registro"]) for r in rows)
        return BatchView(
            lote_id=row["lote_id"], competencia=row["competencia"], status=row["status"], total=row["total"],
            processed=row["processed"], late=row["atrasados"],
            counts={"aceito": row["aceitos"], "duplicado": row["duplicados"], "vinculado": row["vinculados"],
                    "rejeitado": row["rejeitados"]},
            outcomes=outcomes, next_cursor=encode_cursor(rows[-1]["seq"] + 1) if more and rows else None)

    # -- months without deaths, and what is missing --------------------------------------------------------------

    async def declare_none(self, caller: Caller, cns: str, competencia: str) -> bool:
        """Record that the cartório *cns* registered no death in *competencia* (``declararSemObitos``). Returns
        False when it was declared already (idempotent). Errors: E075, E065 (a cartório the caller does not answer
        for), E071 (not ``AAAA-MM``, or a month after the current one, local time), E077 (records of that cartório
        already sent for the competência)."""
        covered = await asyncio.get_running_loop().run_in_executor(None, self.coverage, caller)
        month = competencia_of(competencia)
        if month is None:
            raise ValidationFailed("INFODIP-E071", field="competencia")
        today = local_today(self.clock.now(), _tz(self.settings))
        if month > (today.year, today.month):  # a month that has not begun cannot be declared free of deaths
            raise ValidationFailed("INFODIP-E071", f"A competência {competencia} ainda não começou.",
                                   field="competencia")
        if cns not in covered:
            raise NotAllowed("INFODIP-E065", f"O remetente não responde pelo cartório {cns}.", field="cnsCartorio")
        now = self.clock.now()

        def job(ctx: WriteContext) -> bool:
            sent = ctx.conn.execute(select(obito_registros.c.seq).join(
                obito_lotes, obito_lotes.c.id == obito_registros.c.lote).where(
                obito_registros.c.cns == cns, obito_lotes.c.competencia == competencia,
                obito_registros.c.outcome != Outcome.REJEITADO.value).limit(1)).first()
            if sent is not None:
                raise Conflict("INFODIP-E077", f"O cartório {cns} já enviou óbitos da competência {competencia}.",
                               field="competencia")
            exists = ctx.conn.execute(select(obito_declaracoes.c.cns).where(
                obito_declaracoes.c.cns == cns, obito_declaracoes.c.competencia == competencia)).first()
            if exists is not None:
                return False
            ctx.conn.execute(insert(obito_declaracoes).values(cns=cns, competencia=competencia,
                                                              organ_id=caller.organ_id, created_at=now))
            ctx.audit.append(ctx.conn, "obitos.sem_obitos", now, organ_id=caller.organ_id,
                             detail={"cns": cns, "competencia": competencia, "usuario": caller.username})
            return True

        return await self.committer.run(job)

    def pendencias(self, competencia: str, cns_filter: Iterable[str] | None = None) -> list[Pendencia]:
        """Per cartório known to the gateway (organs of type ``cartorio`` with a CNS, and the cartórios configured
        under each CRC) in *competencia*: records sent (stored ones: aceito, vinculado, duplicado), whether it
        declared a month without deaths, and how many were late; ``faltante`` when neither. *cns_filter* limits
        the report (a CRC or a cartório sees its own). Errors: INFODIP-E071."""
        if competencia_of(competencia) is None:
            raise ValidationFailed("INFODIP-E071", field="competencia")
        with self.reader.connect() as conn:
            names: dict[str, str | None] = {}
            for r in conn.execute(select(organs.c.cns, organs.c.name).where(
                    organs.c.organ_type == OrganType.CARTORIO.value, organs.c.cns.is_not(None))):
                names[r.cns] = r.name
            for r in conn.execute(select(obito_crc_cartorios.c.cns, obito_crc_cartorios.c.name)):
                names.setdefault(r.cns, r.name)
            sent: dict[str, list[int]] = {}
            for r in conn.execute(select(obito_registros.c.cns, obito_registros.c.days_late).join(
                    obito_lotes, obito_lotes.c.id == obito_registros.c.lote).where(
                    obito_lotes.c.competencia == competencia,
                    obito_registros.c.outcome != Outcome.REJEITADO.value)):
                sent.setdefault(r.cns, [0, 0])
                sent[r.cns][0] += 1
                sent[r.cns][1] += 1 if r.days_late else 0
            declared = {r.cns for r in conn.execute(select(obito_declaracoes.c.cns).where(
                obito_declaracoes.c.competencia == competencia))}
        wanted = set(cns_filter) if cns_filter is not None else None
        out = []
        for cns in sorted(set(names) | set(sent) | declared):
            if wanted is not None and cns not in wanted:
                continue
            n, late = sent.get(cns, [0, 0])
            out.append(Pendencia(cns, names.get(cns), n, cns in declared, late))
        return out

    # -- configuration ---------------------------------------------------------------------------------------------

    def link_cartorio(self, conn: Connection, crc_organ_id: int, cns: str, name: str | None = None) -> None:
        """Configure the cartório *cns* under the CRC *crc_organ_id* (inside the caller's transaction)."""
        exists = conn.execute(select(obito_crc_cartorios.c.cns).where(and_(
            obito_crc_cartorios.c.crc_organ_id == crc_organ_id, obito_crc_cartorios.c.cns == cns))).first()
        if exists is None:
            conn.execute(insert(obito_crc_cartorios).values(crc_organ_id=crc_organ_id, cns=cns, name=name))


class _Ids:
    """Protocols and message ids for a chunk from one read of the system's random source (the same forms as
    :func:`gateway.clock.new_protocol` — the local date and 12 Crockford base-32 characters, 60 random bits — and
    :func:`gateway.clock.new_message_id`, a UUID 4): one ``os.urandom`` per chunk instead of two per record."""

    def __init__(self, day: date, n: int) -> None:
        self.prefix = day.strftime("%Y%m%d") + "-"
        self.pool = os.urandom(24 * n)
        self.at = 0

    def _take(self, k: int) -> bytes:
        piece = self.pool[self.at:self.at + k]
        self.at += k
        return piece

    def protocol(self) -> str:
        bits = int.from_bytes(self._take(8), "big") >> 4
        return self.prefix + "".join(_CROCKFORD[(bits >> (5 * i)) & 31] for i in range(11, -1, -1))

    def message_id(self) -> str:
        return str(uuid.UUID(bytes=self._take(16), version=4))


def _with_replay(view: BatchView, replay: bool) -> BatchView:
    return BatchView(view.lote_id, view.competencia, view.status, view.total, view.processed, view.counts,
                     view.late, view.outcomes, view.next_cursor, replay)


def _tz(settings: Settings) -> Any:
    from zoneinfo import ZoneInfo
    return ZoneInfo(settings.timezone)


def iter_chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """*items* in lists of *size* (the last one shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


__all__ = ["BatchView", "Header", "ObitosService", "Pendencia", "RecordOutcome", "datetime"]
