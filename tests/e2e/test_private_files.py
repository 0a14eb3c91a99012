"""Every file the gateway writes is 0600 and its data directory 0700 (issue 8, point 6): the SQLite database with
its WAL and SHM (also ``gateway serve``'s default one, in a real process), and everything the sandbox writes — even
when the process's umask would allow more."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from gateway.db.engine import make_engine
from gateway.sandbox import prepare
from tests.support import KDF_N, ROOT, free_port, wait_until

pytestmark = pytest.mark.e2e


def mode(path: Path) -> int:
    """The permission bits of *path*."""
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def permissive_umask() -> Iterator[None]:
    """The usual 022 umask for the block (files would be 0644 without explicit modes)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_sqlite_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    """A database in a directory that does not exist yet: the directory is created 0700 and the database, its -wal
    and its -shm (made by SQLite while a connection is open) are 0600; a database left 0644 by an older version is
    set to 0600 when opened."""
    db = tmp_path / "novo" / "gw.db"
    with permissive_umask():
        engine = make_engine(f"sqlite:///{db}", writer=True)
        with engine.begin() as conn:
            conn.execute(text("create table t (x integer)"))
            conn.execute(text("insert into t values (1)"))
        with engine.connect() as conn:
            conn.execute(text("select * from t")).all()
            wal, shm = db.with_name("gw.db-wal"), db.with_name("gw.db-shm")
            assert wal.exists() and shm.exists()
            assert (mode(db.parent), mode(db), mode(wal), mode(shm)) == (0o700, 0o600, 0o600, 0o600)
        engine.dispose()
        old = tmp_path / "antigo.db"
        old.touch(mode=0o644)
        os.chmod(old, 0o644)
        make_engine(f"sqlite:///{old}").dispose()
    assert mode(old) == 0o600


def test_everything_the_sandbox_writes_is_private(tmp_path: Path) -> None:
    """The sandbox's data directory (0700) and every file in it — credentials, secrets, signing key, samples,
    database — are 0600 after its setup, under a 022 umask."""
    data = tmp_path / "dados"
    with permissive_umask():
        prepare(data, 8080, kdf_n=KDF_N)
    found = 0
    for root, dirs, files in os.walk(data):
        assert mode(Path(root)) == 0o700, root
        for name in dirs:
            assert mode(Path(root) / name) == 0o700, name
        for name in files:
            assert mode(Path(root) / name) == 0o600, name
            found += 1
    assert {"credentials.json", "secret.json", "audit-signing-key.pem", "gateway.db"} <= set(os.listdir(data))
    assert found >= 9 + 4


def test_gateway_serve_default_database_is_private(tmp_path: Path) -> None:
    """``gateway serve`` with no GATEWAY_DATABASE_URL (development, started from a shell with umask 022) creates
    ./gateway-data 0700 with gateway.db, -wal and -shm 0600."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_ENVIRONMENT": "development", "GATEWAY_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT)})
    log = open(tmp_path / "serve.log", "wb")
    with permissive_umask():
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=tmp_path,
                                env=env, stdout=log, stderr=log)
    try:
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, what="gateway serve ready")
        data = tmp_path / "gateway-data"
        db = data / "gateway.db"
        wait_until(lambda: db.with_name("gateway.db-wal").exists(), what="the WAL file")
        assert mode(data) == 0o700
        for name in ("gateway.db", "gateway.db-wal", "gateway.db-shm"):
            assert mode(data / name) == 0o600, name
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
