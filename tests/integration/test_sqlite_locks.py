"""A SQLite detail that loses data silently: closing any descriptor of a database file drops every POSIX lock the
process holds on it. Making a second engine in a process that has connections open (the CLI's console does, and
``gateway serve`` checks the MNI keys before wiring the gateway) must not do that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.db.engine import make_engine


def other_process(path: Path, sql: str) -> str:
    """Run *sql* in another process with its own connection, closed at the end; its output."""
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(c.execute(sys.argv[2]).fetchall()); c.close()")
    done = subprocess.run([sys.executable, "-c", code, str(path), sql], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_new_engine_keeps_the_locks_of_the_connections_already_open(tmp_path: Path) -> None:
    """A connection open (idle), then a second engine on the same file in the same process; another process
    opens and closes the database (were our locks gone, it would think itself the last and take the WAL away);
    what the first engine then commits is seen by a third process."""
    path = tmp_path / "gateway.db"
    url = f"sqlite:///{path}"
    writer = make_engine(url, writer=True)
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    reader = make_engine(url)
    held = reader.connect()
    held.exec_driver_sql("SELECT count(*) FROM t").all()
    held.rollback()  # idle, but open: in WAL mode it still holds its shared lock on the database
    second = make_engine(url)
    other_process(path, "SELECT count(*) FROM t")
    with writer.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert other_process(path, "SELECT count(*) FROM t") == "[(1,)]"
    held.close()
    reader.dispose()
    second.dispose()
    writer.dispose()
