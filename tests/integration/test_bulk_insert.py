"""gateway.db.bulk.insert_many stores what SQLAlchemy's own ``insert`` stores, for every column type the gateway's
tables use (timestamps, dates, booleans, JSON, bytes, NULLs), on SQLite (one executemany) and PostgreSQL (COPY)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    select,
)

from gateway.db.bulk import insert_many
from gateway.db.engine import make_engine

META = MetaData()
SAMPLE = Table(
    "bulk_sample", META,
    Column("id", Integer, primary_key=True),
    Column("name", String(40)),
    Column("at", DateTime(timezone=True)),
    Column("day", Date),
    Column("flag", Boolean),
    Column("detail", JSON),
    Column("payload", LargeBinary),
)


def _rows(first_id: int) -> list[dict[str, object]]:
    base = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    rows = []
    for n in range(40):
        rows.append({
            "id": first_id + n,
            "name": None if n % 7 == 0 else f"nome {n % 5}",
            "at": None if n % 9 == 0 else base + timedelta(seconds=n % 3),  # repeated values: the memo
            "day": date(2026, 1, 1 + n % 28),
            "flag": None if n % 11 == 0 else bool(n % 2),
            "detail": None if n % 6 == 0 else {"n": n, "lista": [n % 4, "á"]},
            "payload": bytes([n % 256]) * (n % 4),
        })
    return rows


def test_insert_many_stores_what_sqlalchemys_insert_stores(db_url: str) -> None:
    """The same 40 rows through insert_many and through ``conn.execute(insert(t), rows)`` read back equal, column by
    column (ids apart); a one-column insert works too."""
    engine = make_engine(db_url)
    try:
        META.create_all(engine)
        with engine.begin() as conn:
            insert_many(conn, SAMPLE, _rows(1))
            conn.execute(insert(SAMPLE), _rows(1001))
        with engine.connect() as conn:
            got = conn.execute(select(SAMPLE).order_by(SAMPLE.c.id)).all()
        ours = [tuple(r)[1:] for r in got if r.id < 1000]
        theirs = [tuple(r)[1:] for r in got if r.id > 1000]
        assert len(ours) == len(theirs) == 40
        assert ours == theirs
        with engine.begin() as conn:
            insert_many(conn, SAMPLE, [{"id": 5000}, {"id": 5001}])
        with engine.connect() as conn:
            assert conn.execute(select(SAMPLE.c.id).where(SAMPLE.c.id >= 5000)).scalars().all() == [5000, 5001]
    finally:
        META.drop_all(engine)
        engine.dispose()


def test_insert_many_of_nothing_does_nothing(db_url: str) -> None:
    """An empty list is no statement at all."""
    engine = make_engine(db_url)
    try:
        META.create_all(engine)
        with engine.begin() as conn:
            insert_many(conn, SAMPLE, [])
        with engine.connect() as conn:
            assert conn.execute(select(SAMPLE)).all() == []
    finally:
        META.drop_all(engine)
        engine.dispose()


def test_execute_many_updates_as_sqlalchemys_executemany_does(db_url: str) -> None:
    """An UPDATE with named parameters, constants of its own (a status, a NULL) and a timestamp, run through
    execute_many on half the rows and through ``conn.execute(stmt, rows)`` on the other half, leaves the two halves
    alike; a parameter no row names and the statement gives no value for is a ValueError, not a wrong row."""
    from sqlalchemy import bindparam, update

    from gateway.db.bulk import execute_many

    stmt = update(SAMPLE).where(SAMPLE.c.id == bindparam("row_id")).values(
        name="feito", flag=None, at=bindparam("quando"), day=bindparam("dia"))
    engine = make_engine(db_url)
    try:
        META.create_all(engine)
        when = datetime(2026, 5, 4, 3, 2, 1, 654321, tzinfo=UTC)
        with engine.begin() as conn:
            insert_many(conn, SAMPLE, _rows(1) + _rows(1001))
            execute_many(conn, stmt, [{"row_id": 1 + n, "quando": when + timedelta(hours=n % 2),
                                       "dia": date(2026, 2, 1 + n)} for n in range(20)])
            conn.execute(stmt, [{"row_id": 1001 + n, "quando": when + timedelta(hours=n % 2),
                                 "dia": date(2026, 2, 1 + n)} for n in range(20)])
        with engine.connect() as conn:
            got = conn.execute(select(SAMPLE).order_by(SAMPLE.c.id)).all()
        ours = [tuple(r)[1:] for r in got if r.id < 1000]
        theirs = [tuple(r)[1:] for r in got if r.id > 1000]
        assert ours == theirs
        assert [r.name for r in got[:20]] == ["feito"] * 20 and all(r.flag is None for r in got[:20])
        if engine.dialect.name == "sqlite":
            with engine.begin() as conn, pytest.raises(ValueError):
                execute_many(conn, stmt, [{"row_id": 1, "quando": when}])
    finally:
        META.drop_all(engine)
        engine.dispose()
