"""The ``gateway`` command as operators run it: migrate, organs and credentials, validate, audit verify, config show —
and every error path as one Portuguese line with a code, never a traceback (issue 10, point 3)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit import create_signing_key
from gateway.infodip.domain import Kind
from tests.support import ROOT, free_port, sample, wait_until

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
    migrated = gateway(tmp_path, "migrate")
    assert migrated.returncode == 0
    assert migrated.stdout.splitlines()[0] == f"banco de dados: sqlite:///{tmp_path / 'gw.db'} (ambiente)"
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


def test_every_option_has_help_and_usage_errors_are_one_line(tmp_path: Path) -> None:
    """Every option and argument of every command has a help text (``--help`` of each command runs); a usage error
    (a missing option, an invalid choice, no subcommand) is one line ``GATEWAY-E002: …`` in Portuguese, exit 2."""
    from gateway.cli import COMMANDS, parser

    root = parser()
    missing = []
    for name in COMMANDS:
        sub = root
        for word in name.split():
            sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
        missing += [f"{name} {a.dest}" for a in sub._actions
                    if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []
    assert "--config" in gateway(tmp_path, "audit", "verify", "--help").stdout
    assert_one_line(gateway(tmp_path, "organ", "add", "--code", "X"), "GATEWAY-E002",
                    "argumentos obrigatórios ausentes: --name, --type")
    assert_one_line(gateway(tmp_path, "organ", "add", "--code", "X", "--name", "Y", "--type", "nada"),
                    "GATEWAY-E002", "escolha inválida: 'nada'")
    assert_one_line(gateway(tmp_path, "organ"), "GATEWAY-E002", "argumentos obrigatórios ausentes")


def test_config_show_prints_the_effective_configuration_masked(tmp_path: Path) -> None:
    """``gateway config show`` prints every setting with its source — a config file's values under the
    environment's — with secrets and the database password masked, and touches no database."""
    config = tmp_path / "gateway.toml"
    config.write_text('GATEWAY_ADMIN_TOKEN = "token-do-operador-secreto"\nport = 9100\nlog_level = "DEBUG"\n')
    out = gateway(tmp_path, "--config", str(config), "config", "show", env={
        "GATEWAY_LOG_LEVEL": "WARNING", "GATEWAY_DATABASE_URL": "postgresql+psycopg://gw:senha-do-banco@db/gw"})
    assert out.returncode == 0, out.stderr
    assert "token-do-operador-secreto" not in out.stdout and "senha-do-banco" not in out.stdout and "s" * 40 not in (
        out.stdout)
    rows = {line.split("=", 1)[0]: line for line in out.stdout.splitlines() if line.startswith("GATEWAY_")}
    assert rows["GATEWAY_ADMIN_TOKEN"].startswith("GATEWAY_ADMIN_TOKEN=***") and rows["GATEWAY_ADMIN_TOKEN"].endswith(
        f"# arquivo {config}")
    assert rows["GATEWAY_PORT"].startswith("GATEWAY_PORT=9100 ")
    assert rows["GATEWAY_LOG_LEVEL"].startswith("GATEWAY_LOG_LEVEL=WARNING ") and rows[
        "GATEWAY_LOG_LEVEL"].endswith("# ambiente")
    assert rows["GATEWAY_DATABASE_URL"].startswith("GATEWAY_DATABASE_URL=postgresql+psycopg://gw:***@db/gw")
    assert rows["GATEWAY_TIMEZONE"].endswith("# padrão") and "banco de dados:" not in out.stdout
    assert not (tmp_path / "gw.db").exists()


def test_cli_error_paths_print_no_traceback(tmp_path: Path) -> None:
    """A missing database file (never silently created by an operator command), a database without the gateway's
    tables, an unreachable PostgreSQL (its password masked), a busy port, a missing config file, an unknown
    setting, and an interruption with Ctrl+C: each is one line ``GATEWAY-E…`` on stderr, a non-zero status and no
    traceback."""
    create_signing_key(str(tmp_path / "key.pem"))
    assert_one_line(gateway(tmp_path, "replay", "--destination", "CNJ"), "GATEWAY-E050",
                    f"banco de dados não encontrado: {tmp_path / 'gw.db'}")
    assert not (tmp_path / "gw.db").exists()
    sqlite3.connect(tmp_path / "gw.db").close()  # a database file without the gateway's tables
    assert_one_line(gateway(tmp_path, "audit", "verify"), "GATEWAY-E051", "rode gateway migrate")
    closed = free_port()
    unreachable = gateway(tmp_path, "audit", "verify", env={
        "GATEWAY_DATABASE_URL": f"postgresql+psycopg://gw:senha-secreta@127.0.0.1:{closed}/gw"})
    assert_one_line(unreachable, "GATEWAY-E050", f"banco de dados inacessível: postgresql+psycopg://gw:***@127.0.0.1:"
                                                 f"{closed}/gw")
    assert "senha-secreta" not in unreachable.stdout + unreachable.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert_one_line(gateway(tmp_path, "serve", "--port", str(port), env={"GATEWAY_ENVIRONMENT": "development"}),
                        "GATEWAY-E052", f"não foi possível escutar em 127.0.0.1:{port}")
        assert_one_line(gateway(tmp_path, "sandbox", "--port", str(port), "--data-dir", str(tmp_path / "sbx")),
                        "GATEWAY-E052", f"--port: não foi possível escutar em 127.0.0.1:{port}")
    assert_one_line(gateway(tmp_path, "migrate", env={"GATEWAY_CONFIG_FILE": str(tmp_path / "nada.toml")}),
                    "GATEWAY-E001", "arquivo de configuração não encontrado")
    assert_one_line(gateway(tmp_path, "migrate", env={"GATEWAY_PROT": "8080"}), "GATEWAY-E001",
                    "GATEWAY_PROT: variável de ambiente desconhecida; quis dizer GATEWAY_PORT?")

    # Ctrl+C while the sandbox starts its simulators: one line, status 130, no simulator left behind
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONFAULTHANDLER"] = "1"  # a hang is shown with every thread's stack (SIGABRT below)
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "sandbox", "--port", "0", "--info",
                             str(tmp_path / "info.json"), "--data-dir", str(tmp_path / "sbx")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children = wait_until(lambda: _children(proc.pid), timeout=60, what="the sandbox's first simulator")
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        stdout, stderr = proc.communicate(timeout=30)
        for pid in _children(proc.pid) + children:  # the aborted sandbox cannot stop its simulators: we do
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        pytest.fail(f"the sandbox did not stop within 60 s of Ctrl+C; its threads:\n{stderr[-6000:]}\n{stdout[-1000:]}")
    assert proc.returncode == 130 and "Traceback" not in stderr + stdout, stderr
    assert stderr.splitlines()[-1] == "GATEWAY-E053: interrompido (Ctrl+C)"
    wait_until(lambda: not any(_running(pid) for pid in children), timeout=30, what="the simulators to stop")


def _children(pid: int) -> list[int]:
    """The ids of the processes whose parent is *pid* (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """True while process *pid* exists and is not a zombie (an exited child nobody reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
