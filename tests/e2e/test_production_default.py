"""``gateway serve`` and ``gateway relay`` run in production unless told otherwise, and production refuses weak
secrets at start with one line (issue 8, point 8)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.audit import create_signing_key
from gateway.settings import Settings, SettingsError, secret_weakness
from tests.support import ROOT, free_port, wait_until

pytestmark = pytest.mark.e2e
WEAK = {"a" * 64: "entropia", "ab" * 32: "entropia", "abcd" * 16: "padrão", "Tr0ub4dor&3" * 3: "padrão",
        "curta-demais-1234": "caracteres"}


def test_the_weakness_rule() -> None:
    """Short, low-entropy and repeated-pattern secrets are weak; what ``secrets`` generates is not (hex of 16
    bytes, URL-safe of 24 and 32, a Fernet key), over many draws."""
    for secret, why in WEAK.items():
        assert why in (secret_weakness(secret) or ""), secret
    for _ in range(2000):
        assert secret_weakness(secrets.token_hex(16)) is None
        assert secret_weakness(secrets.token_urlsafe(24)) is None
    from cryptography.fernet import Fernet

    assert secret_weakness(Fernet.generate_key().decode()) is None
    with pytest.raises(SettingsError, match="GATEWAY_ADMIN_TOKEN fraca"):
        Settings.from_env({"GATEWAY_ADMIN_TOKEN": "x" * 40}, defaults={"environment": "production"},
                          secret_key=secrets.token_urlsafe(32))


def run(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``gateway ARGS`` with only *env* among GATEWAY_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    base.update({"GATEWAY_DATABASE_URL": f"sqlite:///{tmp / 'gw.db'}", **env})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=60)


def one_line(out: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2 with one ``GATEWAY-E001`` line per problem (issue 10: every problem at once), one of them holding
    *words*, no traceback."""
    lines = out.stderr.splitlines()
    assert out.returncode == 2 and lines and "Traceback" not in out.stderr, out.stderr
    assert all(line.startswith("GATEWAY-E001: ") for line in lines), out.stderr
    assert any(all(w in line for w in words) for line in lines), out.stderr


def test_serve_and_relay_are_production_by_default(tmp_path: Path) -> None:
    """Without GATEWAY_ENVIRONMENT both refuse to start with no secret, with each weak secret, with no public
    URL, and with the relay on but no partner URL — one line each, all at once; with strong settings ``gateway
    serve`` starts in production (the WSDL names the public URL, checkpoints are signed)."""
    key = tmp_path / "key.pem"
    create_signing_key(str(key))
    for command in ("serve", "relay"):
        one_line(run(tmp_path, command), "GATEWAY_SECRET_KEY", "produção")
        for secret, why in WEAK.items():
            one_line(run(tmp_path, command, GATEWAY_SECRET_KEY=secret, GATEWAY_SIGNING_KEY_PATH=str(key)),
                     "GATEWAY_SECRET_KEY fraca", why)
        one_line(run(tmp_path, command, GATEWAY_SECRET_KEY=secrets.token_urlsafe(32),
                     GATEWAY_SIGNING_KEY_PATH=str(key)), "GATEWAY_PUBLIC_URL")
        one_line(run(tmp_path, command, GATEWAY_SECRET_KEY=secrets.token_urlsafe(32),
                     GATEWAY_SIGNING_KEY_PATH=str(key), GATEWAY_PUBLIC_URL="https://gateway.jus.br"),
                 "GATEWAY_TSE_URL e GATEWAY_CNJ_URL são obrigatórias")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "GATEWAY_SECRET_KEY":
                secrets.token_urlsafe(32), "GATEWAY_SIGNING_KEY_PATH": str(key),
                "GATEWAY_PUBLIC_URL": "https://gateway.jus.br", "GATEWAY_LOG_LEVEL": "WARNING",
                "GATEWAY_RELAY_ENABLED": "false"})  # a relay of its own elsewhere: no partner URL needed here
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=log)
    try:
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, what="gateway serve in production")
        wsdl = httpx.get(f"http://127.0.0.1:{port}/soap/infodip?wsdl", timeout=10)
        location = etree.fromstring(wsdl.content).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
        assert location is not None and location.get("location") == "https://gateway.jus.br/soap/infodip"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    assert "não serão assinados" not in (tmp_path / "serve.log").read_text()
