"""The deployment files, tested as far as this machine allows: no container engine is reachable here, so the image
is not built, but every step the ``Dockerfile`` runs is run — its install command in a fresh venv, ``gateway
migrate``, its entrypoint and its health check — and ``compose.yaml``, the systemd units and the settings examples
are checked for structure (and the units with ``systemd-analyze verify``)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import Settings
from tests.support import ROOT, free_port, postgres_schema, wait_until

pytestmark = pytest.mark.e2e
PG_URL = os.environ.get("GATEWAY_TEST_PG_URL")
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
UNITS = ROOT / "deploy" / "systemd"
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|KEY(?!_PATH)", re.IGNORECASE)


def setting_names() -> set[str]:
    """Every ``GATEWAY_*`` name the settings read."""
    model_fields = getattr(Settings, "model_fields", None)
    names = model_fields.keys() if model_fields else [f.name for f in dataclasses.fields(Settings)]  # type: ignore[arg-type]
    return {"GATEWAY_" + n.upper() for n in names}


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """What the Dockerfile's ENV lines set."""
    env: dict[str, str] = {}
    for keyword, rest in instructions:
        if keyword == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def test_dockerfile_runs_unprivileged_checks_health_and_bakes_no_secret() -> None:
    """The image's process runs as a dedicated non-root user, its HEALTHCHECK runs deploy/healthcheck.py (which asks
    ``/healthz``), every file it copies exists, and no ENV or ARG carries a secret (only names of setting files)."""
    instructions = dockerfile()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    health = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert len(health) == 1 and "/opt/gateway/healthcheck.py" in health[0]
    assert "/healthz" in (ROOT / "deploy" / "healthcheck.py").read_text()
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, _dest = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), source
        if keyword in ("ENV", "ARG"):
            for name in env_of([("ENV", rest)]):
                assert not SECRET_WORDS.search(name), f"{keyword} {name}: segredos só em tempo de execução"
    assert set(k for k in env_of(instructions) if k.startswith("GATEWAY_")) <= setting_names()


@pytest.mark.timeout(1200)
def test_dockerfile_steps_install_migrate_serve_and_pass_the_health_check(tmp_path: Path) -> None:
    """The Dockerfile's own commands, in a fresh venv on a copy of what it COPYs: its ``RUN`` (``pip install
    .[postgres]``), ``gateway migrate`` on a fresh PostgreSQL schema (SQLite without GATEWAY_TEST_PG_URL), its
    ENTRYPOINT + CMD (``gateway serve``, in production, with a signing key made by openssl as the guide says) and
    its HEALTHCHECK command, which passes once the server is up."""
    instructions = dockerfile()
    src, venv, opt = tmp_path / "src", tmp_path / "venv", tmp_path / "opt"
    src.mkdir()
    opt.mkdir()
    for keyword, rest in instructions:  # the build context's files, where the Dockerfile puts them
        if keyword == "COPY":
            *sources, dest = shlex.split(rest)
            for source in sources:
                target = opt / Path(dest).name if dest.startswith("/opt/gateway/") else src / source
                (shutil.copytree if (ROOT / source).is_dir() else shutil.copy2)(
                    ROOT / source, target, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                              if (ROOT / source).is_dir() else {}))
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("GATEWAY_") and k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    clean["PATH"] = ":".join(p for p in clean.get("PATH", "").split(":") if not p.startswith(str(ROOT)))
    for keyword, rest in instructions:
        if keyword == "RUN" and "pip install" in rest:
            command = rest.replace("/opt/gateway/venv", str(venv))
            done = subprocess.run(["sh", "-c", command], cwd=src, env=clean, capture_output=True, text=True,
                                  timeout=900, check=False)
            assert done.returncode == 0, done.stderr[-3000:]
    gateway = str(venv / "bin" / "gateway")
    entry = json.loads(next(rest for keyword, rest in instructions if keyword == "ENTRYPOINT"))
    cmd = json.loads(next(rest for keyword, rest in instructions if keyword == "CMD"))
    assert entry == ["gateway"] and cmd == ["serve"]

    key = tmp_path / "audit-signing-key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True, timeout=30)
    port = free_port()
    env = {**clean, **env_of(instructions), "PATH": f"{venv / 'bin'}:{clean['PATH']}", "GATEWAY_HOST": "127.0.0.1",
           "GATEWAY_PORT": str(port), "GATEWAY_SECRET_KEY": "Zr7-kQ2pW9xLm4Tv8BnC1sDf6GhJ3yUe5IoPaS0qXcV",
           "GATEWAY_SIGNING_KEY_PATH": str(key), "GATEWAY_PUBLIC_URL": "https://gateway.tribunal.jus.br",
           "GATEWAY_AUTO_MIGRATE": "false", "GATEWAY_RELAY_ENABLED": "false", "GATEWAY_LOG_LEVEL": "WARNING"}

    def run_image(url: str) -> None:
        env["GATEWAY_DATABASE_URL"] = url
        migrated = subprocess.run([gateway, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120, check=False)
        assert migrated.returncode == 0, migrated.stderr
        log_path = tmp_path / "serve.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([gateway, *entry[1:], *cmd], env=env, cwd=tmp_path, stdout=log, stderr=log)
        health = json.loads(next(rest for keyword, rest in instructions if keyword == "HEALTHCHECK")
                            .split("CMD", 1)[1])
        health = [str(venv / "bin" / "python") if health[0] == "python" else health[0],
                  *[str(opt / Path(a).name) if a.startswith("/opt/gateway/") else a for a in health[1:]]]
        try:
            def healthy() -> bool:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                return subprocess.run(health, env=env, capture_output=True, timeout=30, check=False).returncode == 0

            wait_until(healthy, 60, interval=0.5, what="the image's health check")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    if PG_URL:
        with postgres_schema(PG_URL) as url:
            run_image(url)
    else:
        run_image(f"sqlite:///{tmp_path / 'gateway.db'}")


def compose() -> dict[str, Any]:
    """compose.yaml, parsed."""
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_wires_the_stack() -> None:
    """compose.yaml: PostgreSQL (healthy before anything), a one-shot migrate, gateway replicas that do not migrate
    and trust only nginx's fixed address, a relay, nginx with the project's template; every GATEWAY_* name is a
    setting; no secret value is written in it; every file it mounts from the repository exists, and those it
    expects to be made (secrets, env files, TLS) are ignored by git."""
    data = compose()
    services = data["services"]
    assert {"postgres", "migrate", "gateway", "relay", "nginx"} <= set(services)
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("gateway", "relay"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["GATEWAY_AUTO_MIGRATE"] == "false"
        assert services[name]["cap_drop"] == ["ALL"] and services[name]["read_only"] is True
    assert services["gateway"]["command"] == ["serve"] and services["relay"]["command"] == ["relay"]
    proxy_ip = services["nginx"]["networks"]["backend"]["ipv4_address"]
    assert services["gateway"]["environment"]["GATEWAY_TRUSTED_PROXIES"] == proxy_ip
    assert services["nginx"]["environment"]["NGINX_UPSTREAM"] == "gateway:8080"
    template = ROOT / "deploy" / "nginx" / "gateway.conf.template"
    placeholders = set(re.findall(r"\$\{(NGINX_[A-Z_]+)\}", template.read_text()))
    assert placeholders <= set(services["nginx"]["environment"]), placeholders
    names = set(setting_names())
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if key.startswith("GATEWAY_"):
                assert key in names, f"{name}: {key} não é uma configuração"
            if SECRET_WORDS.search(key) and not str(value).startswith("/run/secrets/"):
                pytest.fail(f"{name}: {key} com valor literal; use secrets ou env_file")
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                path = source[2:]
                assert (ROOT / path).exists() or any(path == i.rstrip("/") or path.startswith(i) for i in ignored), \
                    f"{name}: {source} não existe nem é gerado (.gitignore)"
        for env_file in service.get("env_file") or []:
            assert env_file in ignored and (ROOT / (env_file + ".example")).exists(), env_file
    for secret in data["secrets"].values():
        assert any(secret["file"][2:].startswith(i) for i in ignored if i.endswith("/")), secret


def test_settings_examples_name_only_real_settings() -> None:
    """Every variable in deploy/*.env.example is a GATEWAY_* setting, and no secret has a value there."""
    names = setting_names()
    for example in (ROOT / "deploy").glob("*.env.example"):
        for line in example.read_text().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                assert key in names, f"{example.name}: {key}"
                if key in ("GATEWAY_SECRET_KEY", "GATEWAY_ADMIN_TOKEN", "GATEWAY_MNI_CREDENTIALS_KEY"):
                    assert value == "", f"{example.name}: {key} com valor"


@pytest.mark.parametrize("unit", ["gateway.service", "gateway-relay.service"])
def test_systemd_units_are_hardened_and_verify(unit: str, tmp_path: Path) -> None:
    """Each unit runs its command as the dedicated user with its settings from an EnvironmentFile, under the
    hardening options, and ``systemd-analyze verify`` accepts it without a warning (with ExecStart pointed at this
    checkout's ``gateway``, the one thing missing on this machine)."""
    text = (UNITS / unit).read_text()
    for line in ("User=gateway", "Group=gateway", "EnvironmentFile=/etc/gateway/gateway.env", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=",
                 "UMask=0077", "SystemCallFilter=@system-service"):
        assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), line
    command = "serve" if unit == "gateway.service" else "relay"
    assert f"ExecStart=/opt/gateway/venv/bin/gateway {command}" in text
    assert ("ExecReload=/bin/kill -HUP $MAINPID" in text) == (command == "serve")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze indisponível: só a estrutura foi verificada")
    local = tmp_path / unit
    local.write_text(text.replace("/opt/gateway/venv/bin/gateway", str(Path(sys.executable).parent / "gateway")))
    done = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert str(local) not in done.stderr and unit not in done.stderr, done.stderr
