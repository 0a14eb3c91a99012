"""The intimations' storage (``intimacoes``, ``intimacao_callbacks``): reads on the reader engine, writes as jobs of
the group committer.

New intimations are numbered ``seq`` just before they are inserted, under a transaction-scoped advisory lock on
PostgreSQL (the change feed's technique, :mod:`gateway.infodip.feed`): numbers are contiguous and in commit order
across every gateway process, so a callback position N means "everything up to N announced". The same aviso listed
twice (two rounds, two processes) is stored once: the job looks it up first, and the unique key (organ,
installation, aviso id) makes a concurrent insert fail — the committer then runs the job again, which finds it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.engine import Engine, Row

from gateway.clock import utc
from gateway.db.committer import Job, WriteContext
from gateway.db.tables import intimacao_callbacks, intimacoes, organs
from gateway.divida.intimacoes.contract import AvisoLido, partes_json
from gateway.divida.intimacoes.domain import CienciaTipo, Filtro, Situacao

#: pg_advisory_xact_lock key numbering new intimations ("INTIM")
INTIMACOES_LOCK = 0x494E54494D


@dataclass(frozen=True)
class Nova:
    """An intimation stored by a collection round: its public id, position and what the court listed."""

    id: str
    seq: int
    aviso: AvisoLido


def store_new(organ_id: int, jtr: str, instance: str, avisos: Sequence[AvisoLido], now: datetime,
              prazo_tacito: Any) -> Job[list[Nova]]:
    """A job storing the avisos of *avisos* not stored yet for ``organ_id`` at ``jtr/instance`` (idempotent per
    aviso id), each with its deemed-notice day (``prazo_tacito(disponibilizada_em) -> date``) and one audit entry
    ``intimacoes.coletadas`` when any is new. Returns the new ones."""

    def job(ctx: WriteContext) -> list[Nova]:
        conn = ctx.conn
        ids = list(dict.fromkeys(a.aviso_id for a in avisos))
        if not ids:
            return []
        known = set(conn.execute(select(intimacoes.c.aviso_id).where(
            intimacoes.c.organ_id == organ_id, intimacoes.c.jtr == jtr, intimacoes.c.instance == instance,
            intimacoes.c.aviso_id.in_(ids))).scalars())
        fresh: dict[str, AvisoLido] = {}
        for a in avisos:
            if a.aviso_id not in known and a.aviso_id not in fresh:
                fresh[a.aviso_id] = a
        if not fresh:
            return []
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INTIMACOES_LOCK})
        start = int(conn.execute(select(func.coalesce(func.max(intimacoes.c.seq), 0))).scalar_one())
        out = []
        rows = []
        for n, a in enumerate(fresh.values(), 1):
            # stored as UTC: SQLite keeps a timestamp's wall time only, and every reader takes it back as UTC
            sent = utc(a.disponibilizada_em) if a.disponibilizada_em is not None else now
            ident = uuid.uuid4().hex
            out.append(Nova(ident, start + n, a))
            dest = a.destinatario
            rows.append({
                "seq": start + n, "id": ident, "organ_id": organ_id, "jtr": jtr, "instance": instance,
                "aviso_id": a.aviso_id, "process_number": a.numero_processo, "tipo": a.tipo, "classe": a.classe,
                "valor_causa": a.valor_causa, "partes": partes_json(a.partes),
                "destinatario": json.dumps({"nome": dest.nome, "documento": dest.documento}, ensure_ascii=False)
                if dest else None,
                "disponibilizada_em": sent, "prazo_tacito": prazo_tacito(sent), "aviso_xml": a.xml,
                "collected_at": now})
        conn.execute(insert(intimacoes), rows)
        ctx.audit.append(conn, "intimacoes.coletadas", now, organ_id=organ_id, detail={
            "instalacao": f"{jtr}/{instance}", "novas": [n.id for n in out],
            "avisos": [n.aviso.aviso_id for n in out]})
        return out
    return job


def get(reader: Engine, organ_id: int, ident: str) -> Row[Any] | None:
    """Intimation *ident* of *organ_id*, or None (another organ's is as good as none)."""
    with reader.connect() as conn:
        return conn.execute(select(intimacoes).where(intimacoes.c.id == ident,
                                                     intimacoes.c.organ_id == organ_id)).first()


def listing(reader: Engine, organ_id: int, f: Filtro, today: date) -> list[Row[Any]]:
    """Up to ``f.limite + 1`` intimations of *organ_id* after position ``f.depois_de`` matching *f*, by position
    (the extra row says whether there is a next page); the state is judged on *today* (civil date)."""
    c = intimacoes.c
    q = select(intimacoes).where(c.organ_id == organ_id, c.seq > f.depois_de)
    if f.numero_processo:
        q = q.where(c.process_number == f.numero_processo)
    if f.tribunal:
        q = q.where(c.jtr == f.tribunal)
    if f.instancia:
        q = q.where(c.instance == f.instancia)
    if f.desde:  # the period is of the civil day sent, which is exactly prazo_tacito - 10 days
        q = q.where(c.prazo_tacito >= f.desde + timedelta(days=10))
    if f.ate:
        q = q.where(c.prazo_tacito <= f.ate + timedelta(days=10))
    if f.situacao is Situacao.PENDENTE:
        q = q.where(c.ciencia_at.is_(None), c.prazo_tacito >= today)
    elif f.situacao is Situacao.CIENTE:
        q = q.where(c.ciencia_tipo == CienciaTipo.EXPRESSA.value)
    elif f.situacao is Situacao.CIENCIA_TACITA:
        q = q.where(or_(and_(c.ciencia_at.is_(None), c.prazo_tacito < today),
                        c.ciencia_tipo == CienciaTipo.TACITA.value))
    with reader.connect() as conn:
        return list(conn.execute(q.order_by(c.seq).limit(f.limite + 1)).all())


def record_ciencia(ident: str, organ_id: int, pessoa: str, teor: bytes, tipo: CienciaTipo, now: datetime,
                   detail: dict[str, Any]) -> Job[bool]:
    """A job recording the ciência of *ident* (unless already recorded: False then, and nothing changes) with its
    audit entry ``intimacao.ciencia`` (organ, the acting person's CPF, the intimation and its process)."""

    def job(ctx: WriteContext) -> bool:
        done = ctx.conn.execute(update(intimacoes).where(
            intimacoes.c.id == ident, intimacoes.c.ciencia_at.is_(None)).values(
            ciencia_at=now, ciencia_por=pessoa, ciencia_tipo=tipo.value, teor_xml=teor)).rowcount
        ctx.audit.append(ctx.conn, "intimacao.ciencia", now, organ_id=organ_id,
                         detail={**detail, "pessoa": pessoa, "repetida": not done})
        return bool(done)
    return job


def audit_repeat(organ_id: int, pessoa: str, now: datetime, detail: dict[str, Any]) -> Job[None]:
    """A job auditing a repeated ciência request (answered from the store, the court not called)."""

    def job(ctx: WriteContext) -> None:
        ctx.audit.append(ctx.conn, "intimacao.ciencia", now, organ_id=organ_id,
                         detail={**detail, "pessoa": pessoa, "repetida": True})
    return job


# -- callbacks ------------------------------------------------------------------------------------------------------


def set_callback(organ_id: int, url: str, secret: str, now: datetime, actor: str) -> Job[None]:
    """A job making *url* the callback of *organ_id* (replacing any), announcing from the intimations stored after
    now (its position: the highest ``seq`` of the organ), audited ``intimacoes.callback``."""

    def job(ctx: WriteContext) -> None:
        conn = ctx.conn
        position = int(conn.execute(select(func.coalesce(func.max(intimacoes.c.seq), 0)).where(
            intimacoes.c.organ_id == organ_id)).scalar_one())
        conn.execute(intimacao_callbacks.delete().where(intimacao_callbacks.c.organ_id == organ_id))
        conn.execute(insert(intimacao_callbacks).values(
            organ_id=organ_id, url=url, secret=secret, position=position, attempts=0, next_attempt_at=now,
            created_at=now, updated_at=now))
        ctx.audit.append(conn, "intimacoes.callback", now, organ_id=organ_id,
                         detail={"url": url, "posicao": position, "usuario": actor})
    return job


def callback(reader: Engine, organ_id: int) -> Row[Any] | None:
    """The callback of *organ_id*, or None."""
    with reader.connect() as conn:
        return conn.execute(select(intimacao_callbacks).where(intimacao_callbacks.c.organ_id == organ_id)).first()


def any_callback(reader: Engine) -> bool:
    """Whether any procuradoria has a callback (a read, so an idle gateway writes nothing every period)."""
    with reader.connect() as conn:
        return conn.execute(select(intimacao_callbacks.c.organ_id).limit(1)).first() is not None


def lease_due(owner: str, lease_s: float) -> Job[list[Row[Any]]]:
    """A job leasing to *owner* for *lease_s* seconds every callback that is due, not leased by another and behind
    its organ's newest intimation; returns them (with the organ's code)."""

    def job(ctx: WriteContext) -> list[Row[Any]]:
        now = ctx.clock.now()
        cb = intimacao_callbacks.c
        head = select(func.max(intimacoes.c.seq)).where(intimacoes.c.organ_id == cb.organ_id).scalar_subquery()
        rows = ctx.conn.execute(select(intimacao_callbacks, organs.c.code).join(
            organs, organs.c.id == cb.organ_id).where(
            cb.next_attempt_at <= now, or_(cb.lease_until.is_(None), cb.lease_until < now),
            func.coalesce(head, 0) > cb.position)).all()
        for r in rows:
            ctx.conn.execute(update(intimacao_callbacks).where(intimacao_callbacks.c.organ_id == r.organ_id).values(
                lease_owner=owner, lease_until=now + timedelta(seconds=lease_s)))
        return list(rows)
    return job


def after(reader: Engine, organ_id: int, position: int, limit: int) -> list[Row[Any]]:
    """The intimations of *organ_id* after *position*, by position, at most *limit*."""
    with reader.connect() as conn:
        return list(conn.execute(select(intimacoes).where(
            intimacoes.c.organ_id == organ_id, intimacoes.c.seq > position).order_by(intimacoes.c.seq).limit(limit)))


def record_push(organ_id: int, owner: str, delivered_to: int | None, error: str | None,
                backoff: Any) -> Job[None]:
    """A job recording one push of *organ_id*'s callback by *owner*: delivered up to *delivered_to*, or failed with
    *error* (the next attempt after ``backoff(attempts)`` seconds); the lease is released."""

    def job(ctx: WriteContext) -> None:
        now = ctx.clock.now()
        cb = intimacao_callbacks.c
        mine = and_(cb.organ_id == organ_id, cb.lease_owner == owner)
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "updated_at": now}
        if error is None:
            if delivered_to is not None:
                values.update(position=delivered_to, attempts=0, last_error=None)
        else:
            attempts = int(ctx.conn.execute(select(cb.attempts).where(cb.organ_id == organ_id)).scalar_one()) + 1
            values.update(attempts=attempts, last_error=error,
                          next_attempt_at=now + timedelta(seconds=backoff(attempts)))
        ctx.conn.execute(update(intimacao_callbacks).where(mine).values(**values))
    return job


def when(value: datetime | None) -> datetime | None:
    """A stored instant as aware UTC (SQLite gives naive values back)."""
    return utc(value) if value is not None else None
