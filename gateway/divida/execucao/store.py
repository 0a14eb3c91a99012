"""The execuções fiscais' storage: reads on the reader engine, writes as jobs of the group committer — each write
one transaction with its audit entry (and, when the filing has a callback, the status event to notify).

The outbox is the ``execucoes`` row itself: ``recebida`` rows are due at ``next_attempt_at``; :func:`lease` turns
them ``enviada`` (committed before the court is called) and, in the same transaction, turns ``indeterminada`` the
``enviada`` rows whose lease expired — a sender that died between sending and recording: the court may hold the
petition, so it is never sent again without a decision (issue 12 point 4).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine, Row

from gateway.clock import utc
from gateway.db.committer import Job, WriteContext
from gateway.db.tables import execucao_cdas, execucao_eventos, execucoes
from gateway.divida.execucao.domain import Estado
from gateway.errors import Conflict, NotFound


@dataclass(frozen=True)
class Nova:
    """What an accepted filing stores (besides the organ and the times)."""

    referencia: str
    digest: str
    tipo: str
    parent_id: str | None
    jtr: str
    codigo_localidade: str | None
    devedor: str | None
    valor: str | None
    cdas: tuple[str, ...]
    partes: tuple[str, ...]
    request_xml: bytes
    sinalizacoes: list[dict[str, Any]]
    callback_url: str | None
    detail: dict[str, Any]
    callback_secret: str | None = None


@dataclass(frozen=True)
class Aceite:
    """The answer of :func:`accept`: the filing's id and whether this call created it (False: the same reference
    was already stored with the same content)."""

    id: str
    created: bool


def when(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite returns naive)."""
    return utc(value) if value is not None else None


def _event(conn: Connection, row_id: str, url: str | None, body: dict[str, Any], now: datetime) -> None:
    if url:
        conn.execute(insert(execucao_eventos).values(
            id=uuid.uuid4().hex, execucao_id=row_id, url=url, body=json.dumps(body, ensure_ascii=False),
            attempts=0, next_attempt_at=now))


def accept(organ_id: int, n: Nova, now: datetime) -> Job[Aceite]:
    """A job storing filing *n* for *organ_id* with its CDAs and audit entry. Same reference and content → the
    stored id (created False); same reference, other content → Conflict ``EXEC-E007``; a CDA already filed →
    Conflict ``EXEC-E020`` naming it and the process (or the filing still on its way)."""

    def job(ctx: WriteContext) -> Aceite:
        conn = ctx.conn
        known = conn.execute(select(execucoes.c.id, execucoes.c.digest).where(
            execucoes.c.organ_id == organ_id, execucoes.c.referencia == n.referencia)).first()
        if known is not None:
            if known.digest != n.digest:
                raise Conflict("EXEC-E007", f"A referência {n.referencia} já foi usada com outro conteúdo "
                                            f"(execução {known.id}).", "referencia")
            return Aceite(known.id, False)
        if n.tipo == "inicial" or n.tipo == "substituicao_cda":
            fresh = n.cdas if n.tipo == "inicial" else n.cdas[-1:]
            taken = conn.execute(select(execucao_cdas.c.numero_inscricao, execucoes.c.id, execucoes.c.state,
                                        execucoes.c.numero_processo).join(
                execucoes, execucoes.c.id == execucao_cdas.c.execucao_id).where(
                execucao_cdas.c.organ_id == organ_id, execucao_cdas.c.numero_inscricao.in_(fresh))).first()
            if taken is not None:
                where = (f"ajuizada no processo {taken.numero_processo}" if taken.numero_processo
                         else f"na execução {taken.id} ({taken.state})")
                raise Conflict("EXEC-E020", f"CDA {taken.numero_inscricao} já {where}.",
                               f"cdas[{list(fresh).index(taken.numero_inscricao)}].numeroInscricao")
        ident = uuid.uuid4().hex
        conn.execute(insert(execucoes).values(
            id=ident, organ_id=organ_id, referencia=n.referencia, digest=n.digest, tipo=n.tipo,
            parent_id=n.parent_id, jtr=n.jtr, codigo_localidade=n.codigo_localidade, devedor=n.devedor,
            valor=n.valor, cdas=json.dumps(list(n.cdas)), partes=json.dumps(list(n.partes)),
            state=Estado.RECEBIDA.value, attempts=0, next_attempt_at=now, request_xml=n.request_xml,
            sinalizacoes=json.dumps(n.sinalizacoes, ensure_ascii=False), callback_url=n.callback_url,
            callback_secret=n.callback_secret,
            created_at=now, updated_at=now))
        if n.tipo == "inicial" or n.tipo == "substituicao_cda":
            fresh = n.cdas if n.tipo == "inicial" else n.cdas[-1:]
            conn.execute(insert(execucao_cdas), [{"organ_id": organ_id, "numero_inscricao": c, "execucao_id": ident}
                                                 for c in fresh])
        ctx.audit.append(conn, "execucao.recebida", now, organ_id=organ_id,
                         detail={"execucao": ident, "referencia": n.referencia, "tipo": n.tipo, "tribunal": n.jtr,
                                 "cdas": list(n.cdas), **n.detail})
        _event(conn, ident, n.callback_url, {"id": ident, "situacao": Estado.RECEBIDA.value}, now)
        return Aceite(ident, True)
    return job


@dataclass(frozen=True)
class Envio:
    """A filing leased for sending: id, organ, court, the process (incidental) and the stored bytes."""

    id: str
    organ_id: int
    jtr: str
    tipo: str
    numero_processo: str | None
    request_xml: bytes


def lease(owner: str, now: datetime, limit: int, lease_s: float) -> Job[tuple[list[Envio], list[str]]]:
    """A job leasing up to *limit* due ``recebida`` filings (→ ``enviada``, attempts + 1, leased to *owner* for
    *lease_s*) and turning ``indeterminada`` the ``enviada`` ones whose lease expired. Returns (leased, ids turned
    indeterminada)."""

    def job(ctx: WriteContext) -> tuple[list[Envio], list[str]]:
        conn = ctx.conn
        c = execucoes.c
        expired = list(conn.execute(select(c.id, c.organ_id, c.callback_url).where(
            c.state == Estado.ENVIADA.value, c.lease_until < now)).all())
        for r in expired:
            conn.execute(update(execucoes).where(c.id == r.id, c.state == Estado.ENVIADA.value).values(
                state=Estado.INDETERMINADA.value, lease_owner=None, lease_until=None, updated_at=now,
                motivo="O envio foi interrompido (o gateway parou durante a chamada ao tribunal): o tribunal pode "
                       "ter recebido a petição. Resolva informando o processo ou decidindo reenviar."))
            ctx.audit.append(conn, "execucao.indeterminada", now, organ_id=r.organ_id,
                             detail={"execucao": r.id, "motivo": "envio interrompido"})
            _event(conn, r.id, r.callback_url, {"id": r.id, "situacao": Estado.INDETERMINADA.value}, now)
        q = select(c.id, c.organ_id, c.jtr, c.tipo, c.parent_id, c.request_xml).where(
            c.state == Estado.RECEBIDA.value, c.next_attempt_at <= now).order_by(c.next_attempt_at, c.seq).limit(limit)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        leased = list(conn.execute(q).all())
        out = []
        parents: dict[str, str] = {}
        parent_ids = [r.parent_id for r in leased if r.parent_id]
        if parent_ids:
            parents = {p.id: p.numero_processo for p in conn.execute(
                select(c.id, c.numero_processo).where(c.id.in_(parent_ids)))}
        until = now + timedelta(seconds=lease_s)
        for one in leased:
            conn.execute(update(execucoes).where(c.id == one.id).values(
                state=Estado.ENVIADA.value, attempts=c.attempts + 1, lease_owner=owner, lease_until=until,
                updated_at=now))
            out.append(Envio(one.id, one.organ_id, one.jtr, one.tipo, parents.get(one.parent_id), one.request_xml))
        return out, [r.id for r in expired]
    return job


def record(ident: str, owner: str, state: Estado, now: datetime, *, numero_processo: str | None = None,
           protocolo: str | None = None, data_protocolo: str | None = None, recibo: bytes | None = None,
           motivo: str | None = None, retry_at: datetime | None = None) -> Job[bool]:
    """A job recording the outcome of a send by *owner*: *state* with what the court said, or back to ``recebida``
    due at *retry_at* (nothing was sent). A court's refusal of an initial petition releases its CDAs. Returns False
    when the row was no longer this owner's ``enviada`` (its lease expired: it is already ``indeterminada``)."""

    def job(ctx: WriteContext) -> bool:
        conn = ctx.conn
        c = execucoes.c
        row = conn.execute(select(c.organ_id, c.tipo, c.callback_url, c.cdas).where(
            c.id == ident, c.state == Estado.ENVIADA.value, c.lease_owner == owner)).first()
        if row is None:
            return False
        values: dict[str, Any] = {"state": state.value, "lease_owner": None, "lease_until": None, "updated_at": now,
                                  "motivo": motivo}
        if state is Estado.RECEBIDA:
            values["next_attempt_at"] = retry_at or now
        if state is Estado.PROTOCOLADA:
            values.update(numero_processo=numero_processo, protocolo=protocolo, data_protocolo=data_protocolo,
                          recibo=recibo)
        conn.execute(update(execucoes).where(c.id == ident).values(**values))
        if state is Estado.RECUSADA:
            conn.execute(delete(execucao_cdas).where(execucao_cdas.c.execucao_id == ident))
        ctx.audit.append(conn, f"execucao.{state.value}", now, organ_id=row.organ_id,
                         detail={"execucao": ident, "numeroProcesso": numero_processo, "protocolo": protocolo,
                                 "motivo": motivo})
        if state is not Estado.RECEBIDA:
            _event(conn, ident, row.callback_url, {"id": ident, "situacao": state.value,
                                                   "numeroProcesso": numero_processo, "protocolo": protocolo,
                                                   "motivo": motivo}, now)
        return True
    return job


def resolve(organ_id: int, ident: str, now: datetime, resolucao: dict[str, Any], *,
            numero_processo: str | None, resend: bool) -> Job[None]:
    """A job resolving ``indeterminada`` filing *ident*: ``protocolada`` with *numero_processo* found at the court,
    or back to ``recebida`` (an explicit decision to resend). Audited with *resolucao* (who, how, why). Errors:
    NotFound ``EXEC-E030``; Conflict ``EXEC-E031`` when it is not ``indeterminada``."""

    def job(ctx: WriteContext) -> None:
        conn = ctx.conn
        c = execucoes.c
        row = conn.execute(select(c.state, c.callback_url).where(c.id == ident, c.organ_id == organ_id)).first()
        if row is None:
            raise NotFound("EXEC-E030", field="id")
        if row.state != Estado.INDETERMINADA.value:
            raise Conflict("EXEC-E031", f"A execução está {row.state}: só uma indeterminada é resolvida.", "id")
        state = Estado.RECEBIDA if resend else Estado.PROTOCOLADA
        values: dict[str, Any] = {"state": state.value, "updated_at": now,
                                  "resolucao": json.dumps(resolucao, ensure_ascii=False)}
        if resend:
            values["next_attempt_at"] = now
        else:
            values["numero_processo"] = numero_processo
        conn.execute(update(execucoes).where(c.id == ident).values(**values))
        ctx.audit.append(conn, "execucao.resolvida", now, organ_id=organ_id,
                         detail={"execucao": ident, **resolucao})
        _event(conn, ident, row.callback_url, {"id": ident, "situacao": state.value,
                                               "numeroProcesso": numero_processo}, now)
    return job


def get(reader: Engine, organ_id: int, ident: str) -> Row[Any] | None:
    """Filing *ident* of *organ_id*, or None (another organ's is as good as none)."""
    with reader.connect() as conn:
        return conn.execute(select(execucoes).where(execucoes.c.id == ident,
                                                    execucoes.c.organ_id == organ_id)).first()


def listing(reader: Engine, organ_id: int, after: int, limit: int, state: str | None,
            numero_processo: str | None, referencia: str | None) -> list[Row[Any]]:
    """Up to *limit* + 1 filings of *organ_id* after position *after*, filtered."""
    c = execucoes.c
    q = select(execucoes).where(c.organ_id == organ_id, c.seq > after)
    if state:
        q = q.where(c.state == state)
    if numero_processo:
        q = q.where(c.numero_processo == numero_processo)
    if referencia:
        q = q.where(c.referencia == referencia)
    with reader.connect() as conn:
        return list(conn.execute(q.order_by(c.seq).limit(limit + 1)).all())


def indeterminate_candidates(reader: Engine, organ_id: int, jtr: str) -> list[Row[Any]]:
    """The ``indeterminada`` initial petitions of *organ_id* at court *jtr* (evidence matching)."""
    c = execucoes.c
    with reader.connect() as conn:
        return list(conn.execute(select(c.id, c.devedor, c.valor, c.partes, c.cdas).where(  # type: ignore[arg-type]
            c.organ_id == organ_id, c.jtr == jtr, c.state == Estado.INDETERMINADA.value,
            c.tipo == "inicial")).all())


def taken_processes(reader: Engine, numeros: Sequence[str]) -> set[str]:
    """Which of *numeros* are already some filing's process."""
    if not numeros:
        return set()
    with reader.connect() as conn:
        return set(conn.execute(select(execucoes.c.numero_processo).where(
            execucoes.c.numero_processo.in_(list(numeros)))).scalars())
