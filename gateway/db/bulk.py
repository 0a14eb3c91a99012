"""Bulk inserts: many rows of one table in one round trip, inside the caller's transaction.

Writers that store thousands of rows per transaction (the death batches' chunks, ``gateway/obitos/service.py``;
the consultation's person index) pay, with SQLAlchemy's ``conn.execute(insert(t), rows)``, more for its per-row
parameter processing than for the inserts themselves. :func:`insert_many` does the least that stays correct:

- **SQLite**: the statement compiled once per (dialect, table, columns); each row's values taken in parameter
  order by one ``itemgetter``, and only the columns whose type has a bind processor (timestamps, dates, booleans,
  JSON) converted by it — memoised per distinct value, so a chunk's one ``now`` is formatted once —; one DBAPI
  ``executemany`` (sqlite3 runs it as one prepared statement, stepped per row);
- **PostgreSQL**: one ``COPY … FROM STDIN`` through psycopg 3 (``Cursor.copy`` + ``write_row``: psycopg's own
  adapters for dates, timestamps, booleans and ``bytea``; JSON-typed columns' values wrapped as JSON; no per-row
  statement, no per-row round trip) — the fastest way PostgreSQL loads rows. COPY fires no rules but does fire
  triggers and checks every constraint, as ``INSERT`` does; it takes the same row locks.

Both run inside the connection's current transaction: a rollback undoes them like any insert. Errors: SQLAlchemy's
``DBAPIError`` family on both (``IntegrityError`` for a duplicate key) — psycopg's COPY errors translated with
SQLAlchemy's own ``DBAPIError.instance``, since COPY does not pass through SQLAlchemy's execution.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import sqltypes

#: per (dialect, statement or table, columns): what :func:`_run` needs (:class:`_Prepared`)
_COMPILED: dict[tuple[str, Any, tuple[str, ...]], _Prepared] = {}


class _Prepared:
    """A statement compiled once for SQLite's positional parameters: its SQL, for each parameter position the row
    key it takes (or the statement's own constant), and the bind processor of each position that has one."""

    __slots__ = ("converted", "keep", "names", "sql", "take")

    def __init__(self, compiled: Any, cols: tuple[str, ...], keep: Any = None) -> None:
        names = tuple(compiled.positiontup)
        processors = compiled._bind_processors
        self.sql = str(compiled)
        self.names = names
        self.keep = keep  # the statement itself, so that the cache key's id() cannot be reused while cached
        self.converted = [(pos, processors[name]) for pos, name in enumerate(names) if name in processors]
        constants = {}
        for name in names:
            if name not in cols:
                bind = compiled.binds[name]
                if bind.required:
                    raise ValueError(f"no value for the parameter {name!r}")
                constants[name] = bind.effective_value
        if constants:
            self.take = lambda r: tuple(r[n] if n not in constants else constants[n] for n in names)
        elif len(names) == 1:
            self.take = lambda r: (r[names[0]],)
        else:
            self.take = itemgetter(*names)


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
    # JSON-typed columns: psycopg adapts a dict or list only when told it is JSON
    json_cols = [c for c in cols if isinstance(table.c[c].type, sqltypes.JSON)]
    try:
        with dbapi.cursor() as cur, cur.copy(sql) as copy:
            if json_cols:
                from psycopg.types.json import Json
                for r in rows:
                    copy.write_row(tuple(Json(r[c]) if c in json_cols and r[c] is not None else r[c] for c in cols))
            else:
                get = itemgetter(*cols)
                for r in rows:
                    copy.write_row(get(r) if len(cols) > 1 else (r[cols[0]],))
    except Exception as exc:  # psycopg's error: the same family SQLAlchemy raises for INSERT
        psycopg_error = getattr(conn.dialect.dbapi, "Error", None)
        if psycopg_error is None or not isinstance(exc, psycopg_error):
            raise
        raise DBAPIError.instance(sql, None, exc, psycopg_error, dialect=conn.dialect) from exc


def execute_many(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run *statement* — an INSERT, UPDATE or DELETE whose parameters are named bind parameters, none expanding —
    once per dict of *rows* (same keys), in the open transaction of *conn*: on SQLite one ``executemany`` with the
    values converted as :func:`insert_many` does (issue 17: SQLAlchemy's per-row parameter processing was most of
    the relay's record); elsewhere ``conn.execute(statement, rows)``. Errors: SQLAlchemy's ``DBAPIError`` family;
    ValueError for a parameter that no row key names and that has no value in the statement."""
    if not rows:
        return
    if conn.dialect.name != "sqlite" or not conn.dialect.positional:
        conn.execute(statement, rows)
        return
    cols = tuple(rows[0])
    key = (conn.dialect.name, id(statement), cols)
    prepared = _COMPILED.get(key)
    if prepared is None or prepared.keep is not statement:
        prepared = _COMPILED[key] = _Prepared(statement.compile(dialect=conn.dialect), cols, statement)
    _run(conn, prepared, rows)


def _executemany(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not conn.dialect.positional:  # a driver with named parameters: SQLAlchemy's own path
        conn.execute(insert(table), rows)
        return
    cols = tuple(rows[0])
    key = (conn.dialect.name, table.name, cols)
    prepared = _COMPILED.get(key)
    if prepared is None:
        compiled = insert(table).values({c: bindparam(c) for c in cols}).compile(dialect=conn.dialect)
        prepared = _COMPILED[key] = _Prepared(compiled, cols)
    _run(conn, prepared, rows)


def _run(conn: Connection, prepared: _Prepared, rows: list[dict[str, Any]]) -> None:
    # the row's values in parameter order at C speed (itemgetter), then only the positions whose type converts
    # (timestamps, JSON…), each distinct value once (issue 13: per-value Python calls were ~15 % of a chunk)
    take = prepared.take
    params: list[Any] = [take(r) for r in rows]
    converted = prepared.converted
    if converted:
        memo: dict[tuple[int, Any], Any] = {}
        out: list[Any] = []
        for values in params:
            values = list(values)
            for pos, proc in converted:
                v = values[pos]
                if v is None:
                    continue
                try:
                    k = (pos, v)
                    got = memo.get(k)
                    if got is None:
                        got = memo[k] = proc(v)
                except TypeError:  # an unhashable value (a JSON column's dict): converted each time
                    got = proc(v)
                values[pos] = got
            out.append(tuple(values))
        params = out
    conn.exec_driver_sql(prepared.sql, params)
