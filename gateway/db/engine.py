"""Engines for SQLite (WAL, durable commits) and PostgreSQL, from one URL.

SQLite: WAL journal, ``synchronous=FULL`` (a commit survives power loss), a busy timeout, foreign keys on, and
pysqlite's own transaction handling replaced by explicit ``BEGIN`` so SAVEPOINTs work; the writer engine begins
with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade.

A SQLite database holds personal data: its file is created (or set) 0600 before SQLite opens it, which makes its
``-wal`` and ``-shm`` files 0600 too (SQLite gives them the database file's permissions), and a directory created
for it is 0700 (issue 8, point 6).

Every wait is bounded by *timeout_s* when given (the gateway passes ``GATEWAY_COMMIT_TIMEOUT_S``): SQLite's busy
timeout; on PostgreSQL each session's ``statement_timeout`` and ``lock_timeout`` and the pool's checkout wait.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool


def is_sqlite(url: str) -> bool:
    """True when *url* names a SQLite database."""
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite *url* (None for an in-memory database or another engine)."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def private_database_file(url: str) -> None:
    """Make the SQLite file of *url* private before SQLite opens it: its directory created 0700 when missing, the
    file created 0600 (or set to 0600), and leftover ``-wal``/``-shm`` files set to 0600. Nothing for other
    engines."""
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # never open (and close) an existing database file here: closing any descriptor of a file drops every
        # POSIX lock this process holds on it, the SQLite connections' included, and another process could then
        # take the WAL away from under them
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            os.chmod(file, 0o600)


def make_engine(url: str, *, writer: bool = False, pool_size: int = 5, timeout_s: float | None = None,
                cache_mb: int = 0) -> Engine:
    """An engine for *url*; *writer* engines take the write lock at BEGIN on SQLite (whose file is made private
    first: :func:`private_database_file`). *timeout_s* bounds every wait for a lock, a statement or a pooled
    connection (seconds; None: 30 s on SQLite, no bound on PostgreSQL). *cache_mb*: SQLite's page cache per
    connection in MB (``PRAGMA cache_size``; 0 keeps SQLite's 2 MB); ignored elsewhere."""
    url = normalise_url(url)
    busy_ms = int((timeout_s if timeout_s is not None else 30.0) * 1000)
    if is_sqlite(url):
        private_database_file(url)
        memory = url in ("sqlite://", "sqlite:///:memory:")
        # a file database keeps *pool_size* connections open (each with its page cache and prepared statements:
        # the consultation's read path, issue 14), and opens up to 10 more under a burst; the most recently used
        # connection is handed out first (LIFO), so a light load keeps reusing the warmest page cache
        pooling: dict[str, Any] = {} if memory else {"pool_size": pool_size, "max_overflow": max(10, pool_size),
                                                     "pool_use_lifo": True}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
                               poolclass=NullPool if memory else None, **pooling)
        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            if cache_mb:
                cur.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # on the driver's connection: through exec_driver_sql this was 6 % of a consultation's CPU (issue 17)
            conn.connection.dbapi_connection.execute(begin)

        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                           pool_timeout=timeout_s if timeout_s is not None else 30,
                           connect_args={"connect_timeout": 10})
    if timeout_s is not None:

        @event.listens_for(engine, "connect")
        def _bound_waits(dbapi_connection: Any, _record: Any) -> None:
            # session settings (the URL's own ``options``, e.g. a search_path, stay untouched)
            with dbapi_connection.cursor() as cur:
                cur.execute(f"SET statement_timeout = {busy_ms}")
                cur.execute(f"SET lock_timeout = {busy_ms}")
            dbapi_connection.commit()

    return engine
