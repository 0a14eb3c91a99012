"""The administration commands as an operator runs them (issue 10, point 4): organs listed, disabled and enabled,
grants given and taken, credentials created, rotated, revoked, listed and moved only with ``--mover``, the password
policy — each change read back from the audit log (who, what, when), each refusal one line ``GATEWAY-E…`` with exit
status 2, never a traceback."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.db.engine import make_engine
from gateway.db.tables import audit_log
from tests.support import ROOT, test_settings

pytestmark = pytest.mark.e2e


def test_administration_commands_change_audit_and_refuse_in_one_line(sqlite_url: str, tmp_path: Path) -> None:
    """Every command below succeeds or fails as stated; after each change the newest audit entry names the event,
    the operator (``--operador``, else the OS user), the channel ``cli`` and the organ or credential; refusals add
    no entry; the chain verifies at the end; each command's ``--help`` describes its options. (SQLite: the same
    service runs on PostgreSQL in tests/integration/test_credential_lifecycle.py.)"""
    db_url = sqlite_url
    settings = test_settings(db_url, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATABASE_URL": db_url, "GATEWAY_SECRET_KEY": settings.secret_key,
                "GATEWAY_SIGNING_KEY_PATH": settings.signing_key_path, "GATEWAY_PASSWORD_KDF_N": "1024"})
    engine = make_engine(db_url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)

    def newest() -> tuple[int, str, dict[str, Any]]:
        with engine.connect() as conn:
            row = conn.execute(select(audit_log.c.id, audit_log.c.event, audit_log.c.detail)
                               .order_by(audit_log.c.id.desc()).limit(1)).one()
        return row.id, row.event, json.loads(row.detail)

    def ok(*args: str, event: str, operador: str = "carla", **detail: Any) -> str:
        done = run(*args)
        assert done.returncode == 0, done.stderr
        _id, got, said = newest()
        assert got == event and said["operador"] == operador and said["canal"] == "cli", (got, said)
        assert all(said.get(k) == v for k, v in detail.items()), said
        return done.stdout

    def refused(*args: str, code: str, words: str) -> None:
        before = newest()[0]
        done = run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(f"{code}: "), done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr
        assert newest()[0] == before, "a refusal writes no audit entry"

    try:
        ok("organ", "add", "--code", "TJMG", "--name", "Tribunal de Justiça de MG", "--type", "tribunal",
           "--operador", "carla", event="admin.orgao.cadastro", orgao="TJMG")
        ok("organ", "grant", "TJMG", "divida:ler", "relatorios:ler", "--operador", "carla",
           event="admin.permissao.concessao", escopos=["divida:ler", "relatorios:ler"])
        refused("organ", "grant", "TJMG", "divida:escrever", code="GATEWAY-E002", words="escopo desconhecido")
        ok("organ", "revoke", "TJMG", "relatorios:ler", "--operador", "carla", event="admin.permissao.revogacao",
           escopos=["relatorios:ler"])

        created = run("credential", "create", "--username", "tjmg-api", "--organ", "TJMG")
        assert created.returncode == 0 and "senha: " in created.stdout, created.stderr
        _id, event, said = newest()
        assert (event, said["operador"], said["usuario"]) == ("admin.credencial.criacao", getpass.getuser(),
                                                              "tjmg-api")
        assert created.stdout.split("senha: ")[1].strip() not in json.dumps(said)
        refused("credential", "create", "--username", "tjmg-2", "--organ", "TJMG", "--password", "curta",
                code="GATEWAY-E061", words="mínimo 12")
        refused("credential", "create", "--username", "tjmg-2", "--organ", "TJMG", "--password", "tjmg-2-senha-forte",
                code="GATEWAY-E061", words="nome de usuário")
        refused("credential", "create", "--username", "tjmg-api", "--organ", "TJMG", code="GATEWAY-E002",
                words="já existe")
        out = ok("credential", "rotate", "--username", "tjmg-api", "--operador", "carla",
                 event="admin.credencial.troca", usuario="tjmg-api", versao=2)
        assert "senha: " in out
        refused("credential", "set", "--username", "tjrj-sistema", "--organ", "TJMG", code="GATEWAY-E002",
                words="--mover")
        ok("credential", "set", "--username", "tjrj-sistema", "--organ", "TJMG", "--mover", "--operador", "carla",
           "--password", "Outra-Senha-Forte-2026", event="admin.credencial.mudanca_orgao", de_orgao="TJRJ",
           orgao="TJMG")
        ok("credential", "revoke", "--username", "tjmg-api", "--operador", "carla",
           event="admin.credencial.revogacao", usuario="tjmg-api")
        refused("credential", "revoke", "--username", "tjmg-api", code="GATEWAY-E002", words="já está revogada")
        refused("credential", "rotate", "--username", "ninguem", code="GATEWAY-E002", words="não existe")
        listed = run("credential", "list", "--organ", "TJMG")
        assert listed.returncode == 0
        lines = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:-1]}
        assert lines["tjmg-api"][2:4] == ["revogada", "3"] and lines["tjrj-sistema"][1:3] == ["TJMG", "ativa"]

        ok("organ", "disable", "TJMG", "--operador", "carla", event="admin.orgao.desativacao", orgao="TJMG")
        refused("organ", "disable", "TJMG", code="GATEWAY-E002", words="já está desativado")
        organs = run("organ", "list").stdout
        assert any(line.split()[:3] == ["TJMG", "tribunal", "desativado"] and line.split()[-1] == "divida:ler"
                   for line in organs.splitlines()), organs
        ok("organ", "enable", "TJMG", "--operador", "carla", event="admin.orgao.reativacao", orgao="TJMG")
        refused("organ", "enable", "TJXX", code="GATEWAY-E002", words="não existe")

        verified = run("audit", "verify")
        assert verified.returncode == 0 and "íntegro" in verified.stdout, verified.stdout + verified.stderr
        for group, leaf in (("organ", "grant"), ("organ", "disable"), ("credential", "create"),
                            ("credential", "set"), ("keys", "rotate")):
            shown = run(group, leaf, "--help")
            assert shown.returncode == 0 and "--operador" in shown.stdout and "usuário do sistema" in shown.stdout
    finally:
        engine.dispose()
