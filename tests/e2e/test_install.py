"""The package installs and runs from its declared dependencies alone (issue 10, point 1): a fresh venv with
``pip install .`` (no extras) imports the application and runs ``gateway serve --help``; adding the ``postgres``
extra, ``gateway serve`` answers ``/readyz`` on a real PostgreSQL schema.

One test, slow by nature (a venv and two installs, from the machine's pip configuration exactly as ``make install``
uses it), bounded by its own timeout. The sources are copied to a temporary directory first, so the build leaves
nothing in the working tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port, postgres_schema, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.install, pytest.mark.timeout(1200)]
PG_URL = os.environ.get("GATEWAY_TEST_PG_URL")


def _sources(dest: Path) -> Path:
    """A copy of what ``pip install .`` builds from: pyproject, README, the three packages and the contracts
    (``schemas/``, data only)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for package in ("gateway", "adapters", "mocks", "schemas"):
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _clean_env() -> dict[str, str]:
    """The environment without GATEWAY_* settings and without this venv's paths (pip's own configuration stays)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("GATEWAY_") and k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}


def _run(*args: str | Path, timeout: float = 600, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                         env=env or _clean_env())
    assert out.returncode == 0, (args, out.stdout[-3000:], out.stderr[-3000:])
    return out


def test_pip_install_without_extras_runs_and_postgres_extra_serves(tmp_path: Path) -> None:
    """``pip install .`` alone: it builds without setuptools' warning about ``schemas/`` (its subdirectories once
    printed ~290 lines each install) and installs the contracts where ``gateway/schemas.py`` finds them; ``import
    gateway.bootstrap`` (every runtime import: aiohttp, pydantic-settings…) and ``gateway serve --help`` work, zeep
    and psycopg are absent; then ``pip install .[postgres]``: a real
    ``gateway serve`` migrates a fresh PostgreSQL schema and answers ``/readyz`` 200 (skipped without
    GATEWAY_TEST_PG_URL, which CI sets)."""
    src = _sources(tmp_path / "src")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    built = _run(python, "-m", "pip", "install", "-v", str(src), cwd=tmp_path)
    assert "is absent from the `packages` configuration" not in built.stdout + built.stderr
    contracts = ("from gateway import schemas as s; print(all(p.is_file() for p in (s.INFODIP_XSD, s.INFODIP_WSDL, "
                 "s.INFODIP_11_WSDL, s.CRC_XSD, s.CRC_WSDL, *s.SERVED_XSD.values())))")
    assert _run(python, "-c", contracts, cwd=tmp_path).stdout.strip() == "True"
    probe = ("import importlib.util, gateway.bootstrap, gateway.cli, adapters.tribunal, mocks.tse; "
             "print([m for m in ('zeep', 'psycopg', 'xmlschema', 'pytest') if importlib.util.find_spec(m)])")
    assert _run(python, "-c", probe, cwd=tmp_path).stdout.strip() == "[]"
    help_text = _run(env_dir / "bin" / "gateway", "serve", "--help", cwd=tmp_path).stdout
    assert "--port" in help_text and "--config" in help_text

    if not PG_URL:
        pytest.skip("GATEWAY_TEST_PG_URL não definido: a parte PostgreSQL (extra postgres) não foi executada")
    _run(python, "-m", "pip", "install", "-q", f"{src}[postgres]", cwd=tmp_path)
    with postgres_schema(PG_URL) as url:
        port = free_port()
        env = {**_clean_env(), "GATEWAY_ENVIRONMENT": "development", "GATEWAY_DATABASE_URL": url,
               "GATEWAY_LOG_LEVEL": "WARNING", "GATEWAY_SECRET_KEY": "s" * 40}
        log_path = tmp_path / "serve.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([env_dir / "bin" / "gateway", "serve", "--host", "127.0.0.1", "--port",
                                     str(port)], cwd=tmp_path, env=env, stdout=log, stderr=log)
        try:
            def ready() -> bool:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, timeout=120, interval=0.2, what="gateway serve (installed) on PostgreSQL")
            body = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
            assert "banco de dados: postgresql" in log_path.read_text()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert body["status"] == "ready" and body["database"] == "ok", body
