"""Key rotation of the MNI hub's credentials towards tribunals (issue 10, point 4): ``gateway keys rotate``
re-encrypts them under a new key while the old one still reads, a real hub call through the tribunal simulator
works before, during and after, and a key that cannot read them stops ``gateway serve`` at start with one line
(GATEWAY-E060) instead of answering MNI-E023 on every call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zeep
from cryptography.fernet import Fernet
from sqlalchemy import select

from gateway.db.engine import make_engine
from gateway.db.tables import audit_log, mni_credentials
from gateway.settings import Settings
from tests.support import ROOT, GatewayProcess, Tribunals, configure_hub, free_port, password_of, test_settings

pytestmark = pytest.mark.e2e
PJE_PROCESS = "08123459320198190001"  # 8.19, installation 1, a demo process of the simulator


def consult(gw: GatewayProcess) -> tuple[bool, str]:
    """``consultarProcesso`` through the hub with zeep, as the PGFN client: (sucesso, mensagem)."""
    service = zeep.Client(gw.url + "/soap/mni?wsdl", settings=zeep.Settings(strict=False)).service
    r = service.consultarProcesso(idConsultante="pgfn-mni", senhaConsultante=password_of("pgfn-mni"),
                                  numeroProcesso=PJE_PROCESS, incluirCabecalho=True)
    return bool(r.sucesso), str(r.mensagem)


def command(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``gateway ARGS`` on *settings*' database and secret, with *env* among the GATEWAY_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    base.update({"GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_SECRET_KEY": settings.secret_key,
                 "GATEWAY_ENVIRONMENT": "test", "GATEWAY_MNI_REGISTRY_PATH": settings.mni_registry_path,
                 "GATEWAY_PASSWORD_KDF_N": str(settings.password_kdf_n), **env})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=120)


def test_rotation_keeps_the_mni_credentials_readable_and_a_wrong_key_stops_the_start(
        db_url: str, tribunals: Tribunals, tmp_path: Path) -> None:
    """Credentials stored under key 1; a replica with key 2 current and key 1 previous reads them (a real hub call
    succeeds); ``gateway keys rotate --operador`` re-encrypts every one (audited: who, how many); a replica with key
    2 alone then reads them, and ``gateway serve`` with key 1 alone — or with an unrelated key — exits 2 at start with
    exactly one line ``GATEWAY-E060`` naming the unreadable credentials, as does a rotation without the old key
    (which changes nothing)."""
    tribunals.reset()
    key1, key2, key3 = (Fernet.generate_key().decode() for _ in range(3))
    settings = configure_hub(db_url, test_settings(db_url, tmp_path, mni_credentials_key=key1), tribunals, tmp_path)
    engine = make_engine(db_url)

    def secrets_stored() -> dict[tuple[int, str, str], str]:
        with engine.connect() as conn:
            return {(r.organ_id, r.jtr, r.instance): r.secret for r in conn.execute(select(mni_credentials))}

    before = secrets_stored()
    assert before and all(Fernet(key1.encode()).decrypt(s.encode()) for s in before.values())
    both = {"GATEWAY_MNI_CREDENTIALS_KEY": key2, "GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS": key1}
    try:
        gw = GatewayProcess(settings, tmp_path / "both.log", extra_env=both).start()
        try:
            ok, message = consult(gw)
            assert ok, f"the previous key still reads: {message}"
        finally:
            gw.stop()

        refused = command(settings, "keys", "rotate", GATEWAY_MNI_CREDENTIALS_KEY=key2)
        assert refused.returncode == 2 and refused.stderr.startswith("GATEWAY-E060: "), refused.stderr
        assert len(refused.stderr.splitlines()) == 1 and secrets_stored() == before

        rotated = command(settings, "keys", "rotate", "--operador", "ana.seguranca", **both)
        assert rotated.returncode == 0, rotated.stderr
        assert f"{len(before)} credencial(is) MNI recifrada(s)" in rotated.stdout
        after = secrets_stored()
        assert after.keys() == before.keys()
        for stored in after.values():
            Fernet(key2.encode()).decrypt(stored.encode())
        with engine.connect() as conn:
            detail = json.loads(conn.execute(select(audit_log.c.detail).where(
                audit_log.c.event == "admin.chaves.rotacao")).scalar_one())
        assert detail == {"operador": "ana.seguranca", "canal": "cli", "credenciais_mni": len(before)}

        gw = GatewayProcess(settings, tmp_path / "new.log", extra_env={"GATEWAY_MNI_CREDENTIALS_KEY": key2}).start()
        try:
            ok, message = consult(gw)
            assert ok, message
        finally:
            gw.stop()

        for wrong in (key1, key3):
            start = command(settings, "serve", "--port", str(free_port()), GATEWAY_MNI_CREDENTIALS_KEY=wrong)
            assert start.returncode == 2, start.stderr
            assert len(start.stderr.splitlines()) == 1, start.stderr
            assert start.stderr.startswith("GATEWAY-E060: ") and "PGFN→8.19/1" in start.stderr
            assert "Traceback" not in start.stderr + start.stdout
    finally:
        engine.dispose()
        tribunals.reset()
