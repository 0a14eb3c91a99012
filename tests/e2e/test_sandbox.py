"""The sandbox as integrators run it: one command, an info file, credentials, samples, the README's example."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.errors import CATALOGUE
from tests.support import ROOT, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, object], Path]]:
    """``gateway sandbox --port 0`` as a process; yields its info file's content and working directory."""
    work = tmp_path_factory.mktemp("sandbox")
    info_path = work / "sandbox-info.json"
    info_path.write_text("stale")  # a stale file must be removed at start and replaced only when ready
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "sandbox", "--port", "0", "--info", str(info_path),
                             "--data-dir", str(work / "data")], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def written() -> bool:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            return info_path.read_text() != "stale"
        except FileNotFoundError:  # removed at start, not yet written
            return False

    try:
        wait_until(written, timeout=60, interval=0.1, what="the sandbox's info file")
        info = json.loads(info_path.read_text())
        yield info, work
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert not info_path.exists(), "the sandbox removes its info file when it stops"


def test_info_file_has_the_keys_of_the_intake_capability(sandbox: tuple[dict[str, object], Path]) -> None:
    """The info file names the gateway, the data dir, a credential per organ type and a sample per kind."""
    info, _ = sandbox
    assert str(info["gateway"]).startswith("http://127.0.0.1:")
    assert Path(str(info["data_dir"])).is_dir()
    types = {c["organ_type"] for c in info["credentials"]}  # type: ignore[attr-defined]
    assert {"tribunal", "orgao_julgador", "presidencia", "cartorio", "crc", "mni_cliente"} <= types
    samples = info["samples"]["infodip"]  # type: ignore[index]
    assert sorted(samples) == sorted(["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"])
    assert httpx.get(f"{info['gateway']}/healthz").json() == {"status": "ok"}


def test_info_file_lists_the_simulators_and_demo_processes(sandbox: tuple[dict[str, object], Path]) -> None:
    """Routing and the MNI hub add the store simulators and the tribunals (with their installations) to
    ``mocks``, demo processes under ``demo``; each simulator answers its ``/_mock`` endpoints."""
    info, _ = sandbox
    mocks = info["mocks"]
    assert isinstance(mocks, dict)
    assert mocks["tse"]["kind"] == "soap" and mocks["tse"]["wsdl"].endswith("/?wsdl")
    assert mocks["cnj"]["kind"] == "rest"
    assert [i["instance"] for i in mocks["tribunal-8.19"]["installations"]] == ["1", "2"]
    assert mocks["tribunal-4.04"]["kind"] == "mni" and len(mocks["tribunal-4.04"]["installations"]) == 1
    for mock in mocks.values():
        assert httpx.get(mock["url"] + "/_mock/received").status_code == 200
    processes = info["demo"]["processes"]["mni"]  # type: ignore[index]
    assert len(processes) >= 4 and all(len(p) == 20 for p in processes)
    assert info["admin_token"]


def test_every_sample_is_accepted_as_is_and_a_changed_reference_makes_a_new_one(
    sandbox: tuple[dict[str, object], Path],
) -> None:
    """Each sample, sent unchanged with its credential, is accepted; changing the reference found by
    ``reference_xpath`` makes a new submission; resending unchanged is an idempotent replay."""
    info, _ = sandbox
    url = f"{info['gateway']}/soap/infodip"
    for kind, s in info["samples"]["infodip"].items():  # type: ignore[index, union-attr]
        body = (Path(str(info["data_dir"])) / s["path"]).read_bytes()
        first = httpx.post(url, content=body, headers={"Content-Type": "text/xml"})
        assert first.status_code == 200, (kind, first.text)
        tree = etree.fromstring(body)
        tree.xpath(s["reference_xpath"])[0].text = f"NOVA-{kind}-0002"
        second = httpx.post(url, content=etree.tostring(tree), headers={"Content-Type": "text/xml"})
        assert second.status_code == 200
        p1 = re.search(rb"<i:protocolo>([^<]+)", first.content)
        p2 = re.search(rb"<i:protocolo>([^<]+)", second.content)
        assert p1 and p2 and p1.group(1) != p2.group(1)
        again = httpx.post(url, content=body, headers={"Content-Type": "text/xml"})
        assert b"<i:reenvio>true</i:reenvio>" in again.content


def test_readme_example_runs_against_the_sandbox(sandbox: tuple[dict[str, object], Path]) -> None:
    """The zeep example of the README, run verbatim in the sandbox's directory, prints a protocol."""
    _, work = sandbox
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## First submission with zeep", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    out = subprocess.run([sys.executable, "-c", block], cwd=work, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.match(r"\d{8}-[0-9A-Z]{12} 1 False \['TSE', 'CNJ'\]", out.stdout), out.stdout


def test_readme_mni_example_runs_against_the_sandbox(sandbox: tuple[dict[str, object], Path]) -> None:
    """The MNI hub example of the README, run verbatim in the sandbox's directory, consults and files."""
    _, work = sandbox
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## The MNI 2.2.2 hub", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    out = subprocess.run([sys.executable, "-c", block], cwd=work, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("True") and re.match(r"True \d{30}$", lines[1]), out.stdout


def test_readme_lists_every_error_code() -> None:
    """Every stable code of the catalogue is documented in the README."""
    readme = (ROOT / "README.md").read_text()
    missing = [code for code in CATALOGUE if f"| {code} |" not in readme]
    assert missing == []


def test_the_sandbox_files_are_private(sandbox: tuple[dict[str, object], Path]) -> None:
    """The running sandbox's info file (passwords, the admin token) is 0600; its data directory and subdirectories
    are 0700 and every file there — samples, credentials, keys, the database with its WAL and SHM — 0600."""
    import stat

    info, work = sandbox
    assert stat.S_IMODE((work / "sandbox-info.json").stat().st_mode) == 0o600
    data = Path(str(info["data_dir"]))
    assert (data / "gateway.db-wal").exists()
    for root, _dirs, files in os.walk(data):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700, root
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o600, name


def test_credentials_carry_their_grants_and_the_readme_token_example_runs(
        sandbox: tuple[dict[str, object], Path]) -> None:
    """Every credential of the info file carries its ``grants`` (DESIGN.md): the tribunal reads debts and political
    rights, the procuradorias file execuções fiscais and read intimations, the registries send deaths, the
    operations organ operates and reads reports, the others hold none. The README's token example, run verbatim by
    bash in the sandbox's directory, prints an ``operador`` token's answer (Bearer, 900 s) and, with it, the dead
    letters."""
    info, work = sandbox
    grants = {c["organ"]: c["grants"] for c in info["credentials"]}  # type: ignore[attr-defined]
    assert grants["TJRJ"] == ["divida:ler", "direitos-politicos:consultar"]
    assert grants["PGFN"] == grants["PGF"] == ["execucao-fiscal:ajuizar", "intimacoes:ler"]
    assert grants["RCPN-097543"] == grants["CRC"] == ["obitos:enviar"]
    assert grants["OPERACAO"] == ["operador", "relatorios:ler"]
    assert grants["TJRJ-VEP"] == grants["TJRJ-PRES"] == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Credentials, grants and tokens", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "/oauth/token" in b]
    assert len(blocks) == 1
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", blocks[0]], cwd=work, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    answer, end = json.JSONDecoder().raw_decode(done.stdout)
    assert set(answer) == {"access_token", "token_type", "expires_in", "scope"}
    assert (answer["token_type"], answer["expires_in"], answer["scope"]) == ("Bearer", 900, "operador")
    assert isinstance(json.loads(done.stdout[end:]), list)
