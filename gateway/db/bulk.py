"""Bulk inserts: many rows of one table in one round trip, inside the caller's transaction.

Writers that store thousands of rows per transaction (the death batches' chunks, ``gateway/obitos/service.py``;
the consultation's person index) pay, with SQLAlchemy's ``conn.execute(insert(t), rows)``, more for its per-row
parameter processing than for the inserts themselves. :func:`insert_many` does the least that stays correct:

- **SQLite**: the statement compiled once per (dialect, table, columns), each value turned into what the driver
  stores by the column type's own bind processor — memoised per distinct value, so a chunk's one ``now`` is
  formatted once — and one DBAPI ``executemany`` (sqlite3 runs it as one prepared statement, stepped per row);
- **PostgreSQL**: one ``COPY … FROM STDIN`` through psycopg 3 (``Cursor.copy`` + ``write_row``: psycopg's own
  adapters for dates, timestamps, booleans and ``bytea``; no per-row statement, no per-row round trip) — the
  fastest way PostgreSQL loads rows. COPY fires no rules but does fire triggers and checks every constraint, as
  ``INSERT`` does; it takes the same row locks.

Both run inside the connection's current transaction: a rollback undoes them like any insert. Errors: SQLAlchemy's
``DBAPIError`` family on both (``IntegrityError`` for a duplicate key) — psycopg's COPY errors translated with
SQLAlchemy's own ``DBAPIError.instance``, since COPY does not pass through SQLAlchemy's execution.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

_COMPILED: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[Any], list[int] | None]] = {}


def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert *rows* (dicts with the same keys, column names of *table*) in the open transaction of *conn*: one
    ``COPY`` on PostgreSQL, one ``executemany`` elsewhere. Nothing for an empty list. Errors: SQLAlchemy's
    ``DBAPIError`` family (``IntegrityError`` for a duplicate key), the transaction then to be rolled back."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy(conn, table, rows)
        return
    _executemany(conn, table, rows)


def _copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    cols = tuple(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in cols)}) FROM STDIN"
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    try:
        with dbapi.cursor() as cur, cur.copy(sql) as copy:
            for r in rows:
                copy.write_row(tuple(r[c] for c in cols))
    except Exception as exc:  # psycopg's error: the same family SQLAlchemy raises for INSERT
        psycopg_error = getattr(conn.dialect.dbapi, "Error", None)
        if psycopg_error is None or not isinstance(exc, psycopg_error):
            raise
        raise DBAPIError.instance(sql, None, exc, psycopg_error, dialect=conn.dialect) from exc


def _executemany(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    cols = tuple(rows[0])
    key = (conn.dialect.name, table.name, cols)
    cached = _COMPILED.get(key)
    if cached is None:
        compiled = insert(table).values({c: bindparam(c) for c in cols}).compile(dialect=conn.dialect)
        procs = [table.c[c].type._cached_bind_processor(conn.dialect) for c in cols]
        order = [cols.index(name) for name in compiled.positiontup] if compiled.positiontup else None
        cached = _COMPILED[key] = (str(compiled), procs, order)
    sql, procs, order = cached
    memo: dict[tuple[int, Any], Any] = {}

    def value(i: int, v: Any) -> Any:
        proc = procs[i]
        if proc is None or v is None:
            return v
        k = (i, v)
        got = memo.get(k)
        if got is None:
            got = memo[k] = proc(v)
        return got

    plain = [i for i, p in enumerate(procs) if p is None]
    if order is not None:
        if len(plain) == len(cols):  # nothing to convert: the values as they are
            params: list[Any] = [tuple(r[cols[i]] for i in order) for r in rows]
        else:
            params = [tuple(value(i, r[cols[i]]) for i in order) for r in rows]
    else:
        params = [{c: value(i, r[c]) for i, c in enumerate(cols)} for r in rows]
    conn.exec_driver_sql(sql, params)
