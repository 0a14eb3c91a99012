"""The statistics' SQL (SQLAlchemy Core; SQLite and PostgreSQL alike).

Writes run inside the transaction that stores or withdraws a communication (INFODIP intake, death batches, the
history import, the benchmark's generator): the counts are never behind what was committed, and no request ever
scans the communications. Reads take one kind-year slice of the atomic counts (at most organs × 12 × 2 rows,
whatever the size of the store).

A cell counts **people**, not communications: ``estatisticas_pessoas`` marks who is already in each cell (the SHA-256
of the person key, never the key), with how many of their communications there are ``ativa`` and ``cancelada``. A
person's first communication of a situation in a cell adds 1 to that cell; their second adds nothing; a
cancelamento takes 1 from the ``ativa`` cell only when it withdraws the person's last communication in force there.
The marker's upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, or ``UPDATE … RETURNING``) locks its row, so
concurrent writers on PostgreSQL see each other's increments, and SQLite has one writer at a time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from gateway.db.committer import WriteContext
from gateway.db.tables import communications, estatisticas_contagens, estatisticas_pessoas, organs
from gateway.estatisticas.domain import NO_UF, Count, OrganInfo

_T = estatisticas_contagens
_P = estatisticas_pessoas
#: a marker: (kind, organ id, AAAAMM, SHA-256 hex of the person key)
Marker = tuple[str, int, int, str]


def month_of(protocol: str) -> int:
    """The month of reception (``AAAAMM``, local time) of *protocol* (``AAAAMMDD-…``)."""
    return int(protocol[:6])


def person_digest(person_key: str) -> str:
    """The marker's name for a person: SHA-256 (hex, 64 characters) of the communication's ``person_key``."""
    return hashlib.sha256(person_key.encode()).hexdigest()


def _build_upserts(dialect: Any) -> tuple[Any, Any]:
    counts = dialect.insert(_T)
    counts = counts.on_conflict_do_update(index_elements=[_T.c.kind, _T.c.organ_id, _T.c.mes, _T.c.situacao],
                                          set_={"pessoas": _T.c.pessoas + counts.excluded.pessoas})
    markers = dialect.insert(_P)
    markers = markers.on_conflict_do_update(
        index_elements=[_P.c.kind, _P.c.organ_id, _P.c.mes, _P.c.pessoa],
        set_={"ativas": _P.c.ativas + markers.excluded.ativas,
              "canceladas": _P.c.canceladas + markers.excluded.canceladas},
    ).returning(_P.c.kind, _P.c.organ_id, _P.c.mes, _P.c.pessoa, _P.c.ativas, _P.c.canceladas)
    return counts, markers


#: the two upserts, built once per dialect: a statement built per call costs more than its execution on the intake
#: path (SQLAlchemy regenerates its cache key and the ``excluded`` columns each time; issue 17's profile)
_UPSERTS = {"postgresql": _build_upserts(postgresql), "sqlite": _build_upserts(sqlite)}


def _upserts(conn: Connection) -> tuple[Any, Any]:
    return _UPSERTS["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]


#: PostgreSQL: the markers' upsert with one array parameter per column, unnested into rows — one constant SQL text
#: whatever the number of markers. A multi-row ``VALUES`` of 1,000 markers has 6,000 placeholders that psycopg
#: re-parses on every execution (its query cache keeps only short texts) and SQLAlchemy re-renders: a fifth of the
#: gateway's CPU while a death batch was stored (issue 13's profile). ``unnest`` yields the rows in array order, so
#: the keys stay sorted and concurrent writers still lock the markers in the same order.
_MARK_PG = text(
    "INSERT INTO estatisticas_pessoas (kind, organ_id, mes, pessoa, ativas, canceladas) "
    "SELECT * FROM unnest(CAST(:kinds AS VARCHAR[]), CAST(:organs AS INTEGER[]), CAST(:meses AS INTEGER[]), "
    "CAST(:pessoas AS VARCHAR[]), CAST(:ativas AS INTEGER[]), CAST(:canceladas AS INTEGER[])) "
    "ON CONFLICT (kind, organ_id, mes, pessoa) DO UPDATE SET "
    "ativas = estatisticas_pessoas.ativas + excluded.ativas, "
    "canceladas = estatisticas_pessoas.canceladas + excluded.canceladas "
    "RETURNING kind, organ_id, mes, pessoa, ativas, canceladas")


def _mark_rows(conn: Connection, rows: list[tuple[str, int, int, str, int, int]]) -> Iterable[Any]:
    """Upsert the markers *rows* (kind, organ id, AAAAMM, person digest, ativas, canceladas; sorted) and return
    each one as it stands after the upsert (the same six fields)."""
    if conn.dialect.name == "postgresql":
        kinds, organ_ids, meses, pessoas, ativas, canceladas = (list(c) for c in zip(*rows, strict=True))
        return conn.execute(_MARK_PG, {"kinds": kinds, "organs": organ_ids, "meses": meses, "pessoas": pessoas,
                                       "ativas": ativas, "canceladas": canceladas})
    return conn.execute(_upserts(conn)[1], [{"kind": k, "organ_id": o, "mes": m, "pessoa": p, "ativas": a,
                                             "canceladas": c} for k, o, m, p, a, c in rows])


def add(conn: Connection, deltas: Mapping[tuple[str, int, int, str], int]) -> None:
    """Add *deltas* ((kind, organ id, AAAAMM, situation) → people, negative to take away) to the counts, inside the
    caller's transaction (one upsert statement per distinct key; concurrent writers add, never overwrite)."""
    rows = [{"kind": k, "organ_id": o, "mes": m, "situacao": s, "pessoas": n}
            for (k, o, m, s), n in sorted(deltas.items()) if n]
    if not rows:
        return
    stmt = _upserts(conn)[0]
    for row in rows:
        conn.execute(stmt, row)


def mark(conn: Connection, increments: Mapping[Marker, tuple[int, int]]) -> Counter[tuple[str, int, int, str]]:
    """Add *increments* (marker → (ativas, canceladas), both ≥ 0) to the markers and return the cells' deltas: +1
    on a situation's cell for each marker whose count of that situation went from 0 to more (people newly in it).

    One upsert statement (keys sorted, so concurrent writers lock rows in the same order): on PostgreSQL with the
    rows as arrays (:data:`_MARK_PG`), elsewhere a multi-row upsert per 1,000 markers."""
    rows = [(k, o, m, p, a, c) for (k, o, m, p), (a, c) in sorted(increments.items()) if a or c]
    deltas: Counter[tuple[str, int, int, str]] = Counter()
    if not rows:
        return deltas
    for r in _mark_rows(conn, rows):
        added_a, added_c = increments[(r.kind, r.organ_id, r.mes, r.pessoa)]
        if added_a and r.ativas == added_a:  # none before: the person is new in the ativa cell
            deltas[(r.kind, r.organ_id, r.mes, "ativa")] += 1
        if added_c and r.canceladas == added_c:
            deltas[(r.kind, r.organ_id, r.mes, "cancelada")] += 1
    return deltas


def count_new(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Count newly stored communications (``communications`` rows: protocol, kind, organ_id, person_key, status):
    each person once per cell, whatever the number of their communications in this batch or before."""
    increments: dict[Marker, tuple[int, int]] = {}
    for r in rows:
        key = (r["kind"], r["organ_id"], month_of(r["protocol"]), person_digest(r["person_key"]))
        a, c = increments.get(key, (0, 0))
        increments[key] = (a + 1, c) if r["status"] == "ativa" else (a, c + 1)
    add(conn, mark(conn, increments))


_PENDING = "estatisticas.novas"


def count_new_at_commit(ctx: WriteContext, row: Mapping[str, Any]) -> None:
    """:func:`count_new` for *row*, deferred to just before the transaction of *ctx* commits, together with every
    other communication stored in it: one pair of multi-row upserts per group commit instead of two statements per
    communication (issue 17). A cancelamento or retificação in the same transaction counts them first
    (:func:`withdrawn_at_commit`, :func:`rekeyed_at_commit`), so the order of the counts is the order of the jobs."""
    pending: list[Mapping[str, Any]] = ctx.state.setdefault(_PENDING, [])
    pending.append(row)
    ctx.before_commit(_PENDING, lambda conn: _flush_new(conn, pending))


def _flush_new(conn: Connection, pending: list[Mapping[str, Any]]) -> None:
    if pending:
        count_new(conn, pending)
        pending.clear()


def withdrawn_at_commit(ctx: WriteContext, protocol: str, kind: str, organ_id: int) -> None:
    """:func:`count_withdrawn` inside the transaction of *ctx*, after the counts it deferred."""
    _flush_new(ctx.conn, ctx.state.get(_PENDING, []))
    count_withdrawn(ctx.conn, protocol, kind, organ_id)


def rekeyed_at_commit(ctx: WriteContext, protocol: str, kind: str, organ_id: int, old_key: str, new_key: str) -> None:
    """:func:`count_rekeyed` inside the transaction of *ctx*, after the counts it deferred."""
    _flush_new(ctx.conn, ctx.state.get(_PENDING, []))
    count_rekeyed(ctx.conn, protocol, kind, organ_id, old_key, new_key)


def count_withdrawn(conn: Connection, protocol: str, kind: str, organ_id: int) -> None:
    """Move the communication *protocol* from ``ativa`` to ``cancelada`` (a cancelamento was stored): its person
    leaves the ``ativa`` cell when this was their last communication in force there, and enters the ``cancelada``
    cell when it is their first withdrawn one."""
    month = month_of(protocol)
    person_key = conn.execute(select(communications.c.person_key)
                              .where(communications.c.protocol == protocol)).scalar_one()
    marker = (kind, organ_id, month, person_digest(person_key))
    moved = conn.execute(
        update(_P).where(_P.c.kind == kind, _P.c.organ_id == organ_id, _P.c.mes == month, _P.c.pessoa == marker[3],
                         _P.c.ativas > 0)
        .values(ativas=_P.c.ativas - 1, canceladas=_P.c.canceladas + 1)
        .returning(_P.c.ativas, _P.c.canceladas)).first()
    if moved is None:  # never counted as in force (cannot happen after 0014's backfill): count it withdrawn only
        add(conn, mark(conn, {marker: (0, 1)}))
        return
    deltas = {}
    if moved.ativas == 0:
        deltas[(kind, organ_id, month, "ativa")] = -1
    if moved.canceladas == 1:
        deltas[(kind, organ_id, month, "cancelada")] = 1
    add(conn, deltas)


def count_rekeyed(conn: Connection, protocol: str, kind: str, organ_id: int, old_key: str, new_key: str) -> None:
    """A retificação changed the person of the communication *protocol* (in force: a withdrawn one cannot be
    corrected) from *old_key* to *new_key*: the old person leaves the ``ativa`` cell when it was their only
    communication in force there, the new one enters it when it is their first."""
    month = month_of(protocol)
    old = person_digest(old_key)
    left = conn.execute(
        update(_P).where(_P.c.kind == kind, _P.c.organ_id == organ_id, _P.c.mes == month, _P.c.pessoa == old,
                         _P.c.ativas > 0)
        .values(ativas=_P.c.ativas - 1).returning(_P.c.ativas)).first()
    deltas = mark(conn, {(kind, organ_id, month, person_digest(new_key)): (1, 0)})
    if left is not None and left.ativas == 0:
        deltas[(kind, organ_id, month, "ativa")] -= 1
    add(conn, deltas)


def read_year(conn: Connection, year: int, kind: str | None = None) -> list[Count]:
    """The atomic counts of *year* (of *kind* only, when given)."""
    q = select(_T).where(_T.c.mes >= year * 100, _T.c.mes < (year + 1) * 100)
    if kind:
        q = q.where(_T.c.kind == kind)
    return [Count(r.kind, r.organ_id, r.mes, r.situacao, r.pessoas) for r in conn.execute(q)]


def years(conn: Connection) -> list[int]:
    """The years from the first count's to the last's, ascending (two index lookups)."""
    first = conn.execute(select(func.min(_T.c.mes))).scalar()
    last = conn.execute(select(func.max(_T.c.mes))).scalar()
    return [] if first is None or last is None else list(range(first // 100, last // 100 + 1))


def organ_infos(conn: Connection, configured: Mapping[str, str]) -> dict[int, OrganInfo]:
    """Every organ's code, name and UF: the organ's own ``uf`` column, else *configured* (code → UF, the settings),
    else ``ND``."""
    out = {}
    for r in conn.execute(select(organs.c.id, organs.c.code, organs.c.name, organs.c.uf)):
        out[r.id] = OrganInfo(r.code, r.name, (r.uf or configured.get(r.code) or NO_UF).upper())
    return out
