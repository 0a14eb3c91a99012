"""The deployment guide (docs/deploy.md) as a test: its key, role, migration, backup and restore commands run as
written on the local PostgreSQL, the app role can do what the gateway needs and no more, and a ``pg_dump`` /
``pg_restore`` round trip keeps the audit chain verifiable; the example alert rules (docs/alerts.yml) name only
metrics the gateway exports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from gateway.infodip.domain import Kind
from gateway.metrics import Metrics
from tests.deploy_support import guide_block
from tests.support import ROOT, GatewayProcess, sample, seed, test_settings

pytestmark = pytest.mark.e2e
PG_URL = os.environ.get("GATEWAY_TEST_PG_URL")


def exported_names() -> set[str]:
    """Every sample name a gateway's /metrics may carry (counters' ``_total``, histograms' series)."""
    metrics = Metrics(lambda: {"TSE": {"pending": 1}})
    names = {"up"}  # Prometheus's own, per scraped target
    for family in metrics.registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        if family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_count", "_sum", "_created")}
    return names


def test_alert_rules_use_exported_metrics() -> None:
    """Each rule of docs/alerts.yml has a name, an expression, a severity and Portuguese summary and description;
    every metric its expression names is exported by the gateway; and the guide's table explains every alert."""
    rules = yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text())["groups"][0]["rules"]
    exported = exported_names()
    guide = (ROOT / "docs" / "deploy.md").read_text()
    assert {"GatewayOutboxBacklog", "GatewayDeadLetters", "GatewayCircuitOpen", "GatewayFailedLogins",
            "GatewayDatabaseDown"} <= {r["alert"] for r in rules}
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        used = set(re.findall(r"\b(gateway_[a-z_]+|up)\b", rule["expr"]))
        assert used and used <= exported, (rule["alert"], used - exported)
        assert f"| {rule['alert']} |" in guide, rule["alert"]


@pytest.fixture
def pg_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The variables the guide's blocks use, for a fresh database and fresh roles on the local PostgreSQL (dropped
    afterwards), libpq's PGHOST/PGPORT/PGUSER pointing at the superuser of GATEWAY_TEST_PG_URL."""
    if not PG_URL:
        pytest.skip("GATEWAY_TEST_PG_URL não definido: o guia de PostgreSQL não foi executado")
    base = make_url(PG_URL)
    suffix = uuid.uuid4().hex[:10]
    db, restored, owner, app = f"gw_{suffix}", f"gw_{suffix}_restaurado", f"gwo_{suffix}", f"gwa_{suffix}"

    def url(user: str, database: str) -> str:
        return (f"postgresql+psycopg://{user}:senha-{user}@{base.host or '127.0.0.1'}:{base.port or 5432}/"
                f"{database}?options=-csearch_path%3Dgateway")

    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"PGHOST": base.host or "127.0.0.1", "PGPORT": str(base.port or 5432),
                "PGUSER": base.username or "postgres", "DB": db, "RESTORED": restored, "OWNER": owner, "APP": app,
                "OWNER_PASSWORD": f"senha-{owner}", "APP_PASSWORD": f"senha-{app}",
                "OWNER_URL": url(owner, db), "APP_URL": url(app, db), "RESTORED_URL": url(app, restored),
                "BACKUP": str(tmp_path / "gateway.dump"),
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    yield env
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for database in (db, restored):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        for role in (owner, app):
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


def run_block(name: str, env: dict[str, str], cwd: Path) -> str:
    """Run the guide's block *name* with bash (``set -euo pipefail``) in *cwd*; its output (AssertionError with
    both streams when it fails)."""
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + guide_block(name)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"bloco {name}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.postgres
def test_guide_roles_migrations_backup_and_restore(pg_env: dict[str, str], tmp_path: Path) -> None:
    """The guide's blocks, in order: keys (openssl, secrets), roles, migrate as the owner; then ``gateway serve``
    as the app role accepts communications (audit entries and signed checkpoints), while the app role can neither
    change the schema nor delete audit entries; then backup and restore into a fresh database, where ``gateway
    audit verify`` with the public key finds the chain intact and as long as the original."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "deploy").symlink_to(ROOT / "deploy")  # the guide's paths are relative to a checkout
    run_block("keys", pg_env, work)
    assert (work / "audit-signing-key.pem").stat().st_mode & 0o777 == 0o600
    run_block("roles", pg_env, work)
    run_block("migrate", pg_env, work)

    app_url = pg_env["APP_URL"]
    seed(app_url)  # organs and credentials, written by the app role (migrations are already at head)
    settings = test_settings(app_url, tmp_path, signing_key_path=str(work / "audit-signing-key.pem"),
                             audit_checkpoint_every=2)
    gw = GatewayProcess(settings, tmp_path / "gateway.log",
                        extra_env={"GATEWAY_AUTO_MIGRATE": "false", "GATEWAY_RELAY_ENABLED": "false"}).start()
    try:
        for kind in (Kind.I, Kind.IV, Kind.VI):
            r = httpx.post(gw.url + "/soap/infodip", content=sample(kind), timeout=30,
                           headers={"Content-Type": "text/xml; charset=utf-8"})
            assert r.status_code == 200, r.text
    finally:
        gw.stop()

    app = create_engine(app_url)
    with app.connect() as conn:
        entries = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        assert entries >= 3 and conn.execute(text("SELECT count(*) FROM audit_checkpoints")).scalar_one() >= 1
        for forbidden in ("DELETE FROM audit_log", "UPDATE audit_log SET event = 'x'", "CREATE TABLE intruso (x int)",
                          "DROP TABLE messages"):
            with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"):
                conn.execute(text(forbidden))
            conn.rollback()
    app.dispose()

    run_block("backup", pg_env, work)
    verified = run_block("restore", pg_env, work)
    assert "íntegro" in verified and f"entradas: {entries}" in verified, verified
    restored = create_engine(pg_env["RESTORED_URL"])
    with restored.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == entries
    restored.dispose()

    # the check means something: an entry changed in the restored copy (by its owner) is reported
    owner = create_engine(pg_env["RESTORED_URL"].replace(f"{pg_env['APP']}:senha-{pg_env['APP']}",
                                                         f"{pg_env['OWNER']}:senha-{pg_env['OWNER']}"))
    with owner.begin() as conn:
        conn.execute(text("UPDATE audit_log SET detail = '{}' WHERE seq = 1"))
    owner.dispose()
    done = subprocess.run([str(Path(sys.executable).parent / "gateway"), "audit", "verify", "--public-key",
                           str(work / "audit-public.pem")], cwd=work, capture_output=True, text=True, timeout=120,
                          check=False, env={**pg_env, "GATEWAY_DATABASE_URL": pg_env["RESTORED_URL"]})
    assert done.returncode == 2 and "ADULTERADO" in done.stdout, done.stdout + done.stderr
