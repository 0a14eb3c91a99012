"""The ``gateway`` command as operators run it: migrate, organs and credentials, validate, audit verify."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit import create_signing_key
from gateway.infodip.domain import Kind
from tests.support import ROOT, sample

pytestmark = pytest.mark.e2e


def gateway(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``gateway ARGS`` against the SQLite database in *tmp*."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    base.update({"GATEWAY_DATABASE_URL": f"sqlite:///{tmp / 'gw.db'}", "GATEWAY_SECRET_KEY": "s" * 40,
                 "GATEWAY_SIGNING_KEY_PATH": str(tmp / "key.pem"), "GATEWAY_LOG_FORMAT": "text"})
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=120)


def test_operator_commands(tmp_path: Path) -> None:
    """migrate → organ add → credential set → mni credential → validate → audit verify (which then detects
    tampering and exits non-zero)."""
    create_signing_key(str(tmp_path / "key.pem"))
    assert gateway(tmp_path, "migrate").returncode == 0
    assert gateway(tmp_path, "organ", "add", "--code", "TJMG", "--name", "Tribunal de Justiça de MG",
                   "--type", "tribunal").returncode == 0
    assert gateway(tmp_path, "organ", "add", "--code", "PGFN", "--name", "PGFN", "--type", "mni_cliente"
                   ).returncode == 0
    out = gateway(tmp_path, "credential", "set", "--username", "tjmg-sistema", "--organ", "TJMG")
    assert out.returncode == 0 and "senha:" in out.stdout
    mni = gateway(tmp_path, "mni", "credential", "--organ", "PGFN", "--tribunal", "8.13", "--instance", "1",
                  "--username", "pgfn-tjmg", "--password", "segredo-no-tribunal")
    assert mni.returncode == 0
    with sqlite3.connect(tmp_path / "gw.db") as db:
        stored = db.execute("select secret from mni_credentials").fetchone()[0]
    assert "segredo-no-tribunal" not in stored  # encrypted at rest

    good = tmp_path / "IV.xml"
    good.write_bytes(sample(Kind.IV))
    valid = gateway(tmp_path, "validate", str(good))
    assert valid.returncode == 0 and "válido (enviarComunicacao, tipo IV" in valid.stdout
    bad = tmp_path / "bad.xml"
    bad.write_bytes(sample(Kind.IV).replace(b"<inf:cpf>18273645053</inf:cpf>", b"<inf:cpf>18273645054</inf:cpf>"))
    result = gateway(tmp_path, "validate", str(bad))
    assert result.returncode == 1 and "INFODIP-E030" in result.stdout

    # a few audited acceptances, then verify, then tamper
    from tests.support import GatewayProcess, seed, test_settings

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    seed(url)
    settings = test_settings(url, tmp_path).with_(signing_key_path=str(tmp_path / "key.pem"),
                                                  audit_checkpoint_every=2)
    proc = GatewayProcess(settings, tmp_path / "gw.log").start()
    try:
        import httpx

        for _ in range(5):
            assert httpx.post(proc.url + "/soap/infodip", content=sample(Kind.IV)).status_code == 200
    finally:
        proc.stop()
    verified = gateway(tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "íntegro" in verified.stdout
    with sqlite3.connect(tmp_path / "gw.db") as db:
        db.execute("update audit_log set detail = '{}' where seq = 3")
    tampered = gateway(tmp_path, "audit", "verify")
    assert tampered.returncode == 2 and "entrada 3" in tampered.stdout and "ADULTERADO" in tampered.stdout


def assert_one_line(result: subprocess.CompletedProcess[str], code: str, words: str, status: int = 2) -> None:
    """*result* failed with *status* and printed exactly one line on stderr: ``CODE: mensagem`` containing
    *words*, and no traceback."""
    lines = result.stderr.splitlines()
    assert result.returncode == status, (result.returncode, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"{code}: ") and words in lines[0], lines[0]


def test_operator_errors_are_one_line_with_a_code(tmp_path: Path) -> None:
    """Every refusal of an operator's request — a duplicate organ, an unknown organ, an invalid ``--kinds`` or
    CNS, a missing file to validate, an unreadable public key, replay without a selection, a relay without
    partners, a malformed setting, a missing signing key, no key for the hub's credentials — exits 2 with one
    Portuguese line ``GATEWAY-E…: mensagem`` on stderr, never a traceback; the database is left as it was."""
    create_signing_key(str(tmp_path / "key.pem"))
    assert gateway(tmp_path, "migrate").returncode == 0
    add = ("organ", "add", "--code", "TJMG", "--name", "Tribunal de Justiça de MG", "--type", "tribunal")
    assert gateway(tmp_path, *add).returncode == 0
    assert_one_line(gateway(tmp_path, *add), "GATEWAY-E002", "órgão TJMG já existe")
    assert_one_line(gateway(tmp_path, "credential", "set", "--username", "x", "--organ", "TJXX"),
                    "GATEWAY-E002", "órgão TJXX não existe")
    assert_one_line(gateway(tmp_path, "mni", "credential", "--organ", "PGXX", "--tribunal", "8.19", "--instance",
                            "1", "--username", "u", "--password", "p"), "GATEWAY-E002", "órgão PGXX não existe")
    assert_one_line(gateway(tmp_path, "organ", "add", "--code", "VARA", "--name", "Vara", "--type", "orgao_julgador",
                            "--kinds", "I,XI"), "GATEWAY-E002", "tipo de comunicação desconhecido: 'XI'")
    assert_one_line(gateway(tmp_path, "organ", "add", "--code", "RCPN", "--name", "Cartório", "--type", "cartorio",
                            "--cns", "12ab"), "GATEWAY-E002", "CNS inválido")
    assert_one_line(gateway(tmp_path, "validate", str(tmp_path / "ausente.xml")), "GATEWAY-E002",
                    "arquivo não encontrado")
    assert_one_line(gateway(tmp_path, "audit", "verify", "--public-key", str(tmp_path / "key.pem")),
                    "GATEWAY-E002", "chave pública ilegível")  # a private key where the public one is expected
    assert_one_line(gateway(tmp_path, "replay"), "GATEWAY-E002", "informe --all")
    assert_one_line(gateway(tmp_path, "relay", env={"GATEWAY_ENVIRONMENT": "development"}), "GATEWAY-E001",
                    "nenhum parceiro configurado")  # (relay defaults to production, which refuses this secret first)
    assert_one_line(gateway(tmp_path, "migrate", env={"GATEWAY_PORT": "nove"}), "GATEWAY-E001", "GATEWAY_PORT")
    assert_one_line(gateway(tmp_path, "migrate", env={"GATEWAY_LOG_LEVEL": "verboso"}), "GATEWAY-E001",
                    "GATEWAY_LOG_LEVEL")
    assert_one_line(gateway(tmp_path, "replay", "--all", env={"GATEWAY_SIGNING_KEY_PATH": str(tmp_path / "nada.pem")}),
                    "GATEWAY-E001", "GATEWAY_SIGNING_KEY_PATH")
    assert_one_line(gateway(tmp_path, "mni", "credential", "--organ", "TJMG", "--tribunal", "8.19", "--instance",
                            "1", "--username", "u", "--password", "p", env={"GATEWAY_SECRET_KEY": ""}),
                    "GATEWAY-E001", "GATEWAY_MNI_CREDENTIALS_KEY")
    with sqlite3.connect(tmp_path / "gw.db") as db:
        assert [r[0] for r in db.execute("select code from organs")] == ["TJMG"]
        assert db.execute("select count(*) from credentials").fetchone()[0] == 0
        assert db.execute("select count(*) from mni_credentials").fetchone()[0] == 0
