"""The statistics' SQL (SQLAlchemy Core; SQLite and PostgreSQL alike).

Writes run inside the transaction that stores or withdraws a communication (INFODIP intake, death batches, the
history import, the benchmark's generator): the counts are never behind what was committed, and no request ever
scans the communications. Reads take one kind-year slice of the atomic counts (at most organs × 12 × 2 rows,
whatever the size of the store).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from gateway.db.tables import estatisticas_contagens, organs
from gateway.estatisticas.domain import NO_UF, Count, OrganInfo

_T = estatisticas_contagens


def month_of(protocol: str) -> int:
    """The month of reception (``AAAAMM``, local time) of *protocol* (``AAAAMMDD-…``)."""
    return int(protocol[:6])


def add(conn: Connection, deltas: Mapping[tuple[str, int, int, str], int]) -> None:
    """Add *deltas* ((kind, organ id, AAAAMM, situation) → people, negative to take away) to the counts, inside the
    caller's transaction (one upsert statement per distinct key; concurrent writers add, never overwrite)."""
    rows = [{"kind": k, "organ_id": o, "mes": m, "situacao": s, "pessoas": n}
            for (k, o, m, s), n in sorted(deltas.items()) if n]
    if not rows:
        return
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_T)
    stmt = stmt.on_conflict_do_update(index_elements=[_T.c.kind, _T.c.organ_id, _T.c.mes, _T.c.situacao],
                                      set_={"pessoas": _T.c.pessoas + stmt.excluded.pessoas})
    for row in rows:
        conn.execute(stmt, row)


def count_new(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Count newly stored communications (``communications`` rows: protocol, kind, organ_id, status)."""
    deltas: Counter[tuple[str, int, int, str]] = Counter()
    for r in rows:
        deltas[(r["kind"], r["organ_id"], month_of(r["protocol"]), r["status"])] += 1
    add(conn, deltas)


def count_withdrawn(conn: Connection, protocol: str, kind: str, organ_id: int) -> None:
    """Move the communication *protocol* from ``ativa`` to ``cancelada`` (a cancelamento was stored)."""
    month = month_of(protocol)
    add(conn, {(kind, organ_id, month, "ativa"): -1, (kind, organ_id, month, "cancelada"): 1})


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
