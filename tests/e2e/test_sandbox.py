"""The sandbox as integrators run it: one command, an info file, credentials, samples, the README's example."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.errors import CATALOGUE
from gateway.simulators import SimulatorError, start_mock
from tests.support import ROOT, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, object], Path]]:
    """``gateway sandbox --port 0`` as a process; yields its info file's content and working directory."""
    work = tmp_path_factory.mktemp("sandbox")
    info_path = work / "sandbox-info.json"
    info_path.write_text("stale")  # a stale file must be removed at start and replaced only when ready
    log = open(work / "sandbox.log", "wb")  # closed below, after the process
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "sandbox", "--port", "0", "--info", str(info_path),
                             "--data-dir", str(work / "data")], cwd=work, stdout=log, stderr=subprocess.STDOUT,
                            env={**clean_env(), "PYTHONPATH": str(ROOT)})

    def written() -> bool:
        assert proc.poll() is None, (work / "sandbox.log").read_text()
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
        log.close()
    assert not info_path.exists(), "the sandbox removes its info file when it stops"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without GATEWAY_* settings, plus *extra*."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}, **extra}


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


def test_readme_obitos_example_runs_against_the_sandbox(sandbox: tuple[dict[str, object], Path]) -> None:
    """The death-batch example of the README, run verbatim in the sandbox's directory: the sample batch by REST,
    every record accepted, then the same batch by SOAP answered with the earlier result."""
    info, work = sandbox
    obitos = info["samples"]["obitos"]  # type: ignore[index]
    assert set(obitos) == {"soap", "json", "username", "password"} and obitos["username"] == "crc-nacional"
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Death batches from the civil registries", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    out = subprocess.run([sys.executable, "-c", block], cwd=work, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "200 concluido {'aceito': 10, 'duplicado': 0, 'vinculado': 0, 'rejeitado': 0} True", "200 true"], out.stdout


def test_a_second_sandbox_on_the_busy_port_leaves_the_first_alone(sandbox: tuple[dict[str, object], Path]) -> None:
    """``make run`` again beside a running sandbox (same directory, its port): the second start fails at once with
    one line GATEWAY-E052 (a system condition: the port is in use) and exit status 2, before touching anything —
    the running sandbox's info file stays as it was, and the sandbox still answers."""
    info, work = sandbox
    info_path = work / "sandbox-info.json"
    before = info_path.read_bytes()
    port = str(info["gateway"]).rsplit(":", 1)[1]
    second = subprocess.run([sys.executable, "-m", "gateway.cli", "sandbox", "--port", port, "--info",
                             str(info_path), "--data-dir", str(work / "data")], cwd=work, capture_output=True,
                            text=True, timeout=120, env={**clean_env(), "PYTHONPATH": str(ROOT)})
    assert second.returncode == 2, second.stderr
    lines = second.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"GATEWAY-E052: --port: não foi possível escutar em 127.0.0.1:{port} ("), second.stderr
    assert info_path.read_bytes() == before
    assert httpx.get(f"{info['gateway']}/healthz", timeout=10).json() == {"status": "ok"}


def test_readme_lists_every_error_code() -> None:
    """Every stable code of the catalogue is documented in the README."""
    readme = (ROOT / "README.md").read_text()
    missing = [code for code in CATALOGUE if f"| {code} |" not in readme]
    assert missing == []


def test_the_sandbox_files_are_private(sandbox: tuple[dict[str, object], Path]) -> None:
    """The running sandbox's info file (passwords, the admin token) is 0600; its data directory and subdirectories
    are 0700 and every file there — samples, credentials, keys, the database with its WAL and SHM — 0600."""
    info, work = sandbox
    assert stat.S_IMODE((work / "sandbox-info.json").stat().st_mode) == 0o600
    data = Path(str(info["data_dir"]))
    assert (data / "gateway.db-wal").exists()
    for root, _dirs, files in os.walk(data):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700, root
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o600, name


def test_pgfn_and_pgf_simulators_and_their_demo_debtors(sandbox: tuple[dict[str, object], Path]) -> None:
    """The debt simulators run with the others: ``mocks.pgfn`` (``url``, ``kind`` rest, ``token_url``) and
    ``mocks.pgf``, and ``demo.devedores`` lists documents per group; the dívida settings point at them (the
    config file for the CLI names them, and the PGFN simulator issues a token for the configured client)."""
    info, _ = sandbox
    mocks = info["mocks"]
    assert isinstance(mocks, dict)
    assert mocks["pgfn"]["kind"] == "rest" and mocks["pgfn"]["token_url"] == mocks["pgfn"]["url"] + "/token"
    assert mocks["pgf"]["kind"] == "rest" and set(mocks["pgf"]) >= {"url", "kind"}
    devedores = info["demo"]["devedores"]  # type: ignore[index]
    assert set(devedores) == {"pgfn", "pgf", "ambos", "nenhum"} and all(devedores[g] for g in devedores)
    config = tomllib.loads(Path(str(info["config_file"])).read_text())
    assert config["GATEWAY_PGFN_URL"] == mocks["pgfn"]["url"] and config["GATEWAY_PGF_URL"] == mocks["pgf"]["url"]
    token = httpx.post(config["GATEWAY_PGFN_TOKEN_URL"], data={"grant_type": "client_credentials"},
                       auth=(config["GATEWAY_PGFN_CLIENT_ID"], config["GATEWAY_PGFN_CLIENT_SECRET"]), timeout=10)
    assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
    assert httpx.post(mocks["pgf"]["url"] + "/api/v1/inscricoes/consulta", json={"documento": devedores["pgf"][0]},
                      headers={"X-API-Key": config["GATEWAY_PGF_API_KEY"]}, timeout=10).status_code == 200


def test_cli_beside_the_sandbox_touches_its_data(sandbox: tuple[dict[str, object], Path]) -> None:
    """The sandbox prints the one line that points the CLI at its data; with it, a dead letter made through the
    TSE simulator's faults is found by ``gateway replay --destination TSE`` (which names the sandbox's database),
    delivered again once the fault is gone, and ``gateway audit verify`` checks the sandbox's audit log."""
    info, work = sandbox
    banner = (work / "sandbox.log").read_text()
    line = next(row.strip() for row in banner.splitlines() if row.strip().startswith("export GATEWAY_CONFIG_FILE="))
    config = line.split("=", 1)[1]
    assert config == info["config_file"] and stat.S_IMODE(os.stat(config).st_mode) == 0o600
    tse = info["mocks"]["tse"]["url"]  # type: ignore[index]
    database = Path(str(info["data_dir"])) / "gateway.db"
    httpx.post(tse + "/_mock/faults", json={"error_rate": 1.0, "status": 400}, timeout=10).raise_for_status()
    try:
        sample_ = info["samples"]["infodip"]["IV"]  # type: ignore[index]
        body = (Path(str(info["data_dir"])) / sample_["path"]).read_bytes()
        tree = etree.fromstring(body)
        tree.xpath(sample_["reference_xpath"])[0].text = "MORTA-TSE-0001"
        assert httpx.post(f"{info['gateway']}/soap/infodip", content=etree.tostring(tree),
                          headers={"Content-Type": "text/xml"}, timeout=30).status_code == 200

        def dead() -> int:
            with sqlite3.connect(database) as db:
                return int(db.execute("select count(*) from outbox where status = 'dead' and destination = 'TSE'"
                                      ).fetchone()[0])

        wait_until(dead, timeout=60, what="a dead letter towards TSE")
    finally:
        httpx.post(tse + "/_mock/reset", timeout=10).raise_for_status()
    env = clean_env(GATEWAY_CONFIG_FILE=config)
    replay = subprocess.run([sys.executable, "-m", "gateway.cli", "replay", "--destination", "TSE"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.splitlines()[0] == f"banco de dados: sqlite:///{database} (arquivo {config})"
    assert "1 entrega(s) recolocada(s) na fila" in replay.stdout
    wait_until(lambda: any(r["duplicate"] is False for r in httpx.get(tse + "/_mock/received", timeout=10).json()),
               timeout=60, what="the replayed message at the TSE simulator")
    verify = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and "íntegro" in verify.stdout and str(database) in verify.stdout, verify.stderr


def test_sandbox_honours_its_settings_and_fixes_its_own(tmp_path: Path) -> None:
    """``GATEWAY_RELAY_ENABLED=false`` reaches the sandbox's gateway (``/readyz`` reports the relay off, the banner
    says so), while ``GATEWAY_DATABASE_URL`` is the sandbox's own: reported as ignored, the database stays in its
    data directory."""
    info_path = tmp_path / "info.json"
    env = clean_env(PYTHONPATH=str(ROOT), GATEWAY_RELAY_ENABLED="false",
                    GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'outro.db'}")
    with open(tmp_path / "sandbox.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "sandbox", "--port", "0", "--info",
                                 str(info_path), "--data-dir", str(tmp_path / "data")], cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    try:
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "sandbox.log").read_text()
            return info_path.exists()

        wait_until(ready, timeout=120, interval=0.1, what="the sandbox with the relay off")
        info = json.loads(info_path.read_text())
        assert httpx.get(info["gateway"] + "/readyz", timeout=10).json()["relay"] == "desativado"
        assert info["settings"] == {"ignored": ["GATEWAY_DATABASE_URL"], "relay": "desativado"}
        assert (tmp_path / "data" / "gateway.db").exists() and not (tmp_path / "outro.db").exists()
        assert "entregador desativado" in (tmp_path / "sandbox.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_simulator_that_fails_to_start_shows_its_own_error() -> None:
    """A simulator that exits at start (here: an unknown profile) is reported as GATEWAY-E054 with its own last
    lines of error output, and its process is gone."""
    with pytest.raises(SimulatorError) as failed:
        start_mock("tribunal", "127.0.0.1", 0, args=("--profile", "inexistente"), name="tribunal-9.99")
    message = failed.value.message
    assert failed.value.code == "GATEWAY-E054" and "o simulador tribunal-9.99 não iniciou" in message
    assert "invalid choice: 'inexistente'" in message and "terminou com status 2" in message


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


def test_readme_consultation_example_runs(sandbox: tuple[dict[str, object], Path]) -> None:
    """The README's consultation example, run verbatim by bash in the sandbox's directory: the kind IV sample stored,
    the person's situation by CPF (its rule version, the conviction's suspension and inelegibility, the coverage),
    TJRJ's own listing of kind IV, and its lateness report as CSV."""
    _, work = sandbox
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Political-rights consultation and a sender's views", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    decoder = json.JSONDecoder()
    situation, end = decoder.raw_decode(done.stdout)
    listing, end2 = decoder.raw_decode(done.stdout, end)
    csv_lines = done.stdout[end2:].split()
    assert situation["regras"]["versao"] and situation["cobertura"]["desde"]
    assert {c["tipo"] for c in situation["comunicacoes"]} >= {"IV"}
    assert {i["tipo"] for i in situation["intervalos"]} >= {"suspensao_direitos_politicos", "inelegibilidade"}
    assert listing["itens"] and all(i["tipo"] == "IV" for i in listing["itens"])
    assert csv_lines[0] == "remetente;tipo;mes;noPrazo;emAtraso;atrasoMedianoDias;piorAtrasoDias"
    assert any(line.startswith("TJRJ;IV;") for line in csv_lines[1:])
def test_the_cnj_simulator_consumes_the_feed_and_the_readme_feed_example_runs(
        sandbox: tuple[dict[str, object], Path]) -> None:
    """The TSE and CNJ organs hold ``feed:ler``; the README's feed example, run verbatim by bash in the sandbox's
    directory, prints a page of the CNJ's feed with a cursor; the CNJ simulator, subscribed by webhook at start,
    receives the CNJ's slice of the feed (a kind I sent now reaches it, the signature checked), never a death."""
    info, work = sandbox
    grants = {c["organ"]: c["grants"] for c in info["credentials"]}  # type: ignore[attr-defined]
    assert grants["TSE"] == grants["CNJ"] == ["feed:ler"]
    samples = info["samples"]["infodip"]  # type: ignore[index]
    data = Path(info["data_dir"])  # type: ignore[arg-type]
    sent = []
    for kind in ("I", "VI"):
        tree = etree.fromstring((data / samples[kind]["path"]).read_bytes())
        tree.xpath(samples[kind]["reference_xpath"])[0].text = f"FEED-{kind}-{os.urandom(4).hex()}"
        r = httpx.post(f"{info['gateway']}/soap/infodip", content=etree.tostring(tree), timeout=30)
        assert r.status_code == 200, r.text
        sent.append(re.search(r"idMensagem>([^<]+)<", r.text).group(1))  # type: ignore[union-attr]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The change feed", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", blocks[0]], cwd=work, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert set(page) == {"itens", "proximo", "fim"} and 1 <= len(page["itens"]) <= 2 and page["proximo"]
    assert all(i["tipo"] != "VI" for i in page["itens"])
    received = info["mocks"]["cnj"]["feed"]["recebidos"]  # type: ignore[index]

    def pushed() -> dict[str, object]:
        return dict(httpx.get(received, timeout=10).json())

    wait_until(lambda: sent[0] in {i["idMensagem"] for i in pushed()["itens"]}, what="the CNJ simulator's feed")
    got = pushed()
    assert sent[1] not in {i["idMensagem"] for i in got["itens"]} and got["recusados"] == 0  # type: ignore[union-attr]


def test_readme_divida_example_runs_against_the_sandbox(sandbox: tuple[dict[str, object], Path]) -> None:
    """The README's dívida example (a TJRJ token with ``divida:ler``, then one debtor owing at both partners), run
    verbatim by bash in the sandbox's directory, answers that debtor's inscriptions at PGFN and at PGF, both sources
    ``ok``, not partial, money as decimal strings."""
    _info, work = sandbox
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Dívida ativa (PGFN/PGF)", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "/api/v1/devedores/inscricoes" in b]
    assert len(blocks) == 1
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", blocks[0]], cwd=work, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["resultados"]
    assert result["parcial"] is False
    assert [(f["credor"], f["estado"]) for f in result["fontes"]] == [("PGFN", "ok"), ("PGF", "ok")]
    assert {i["credor"] for i in result["inscricoes"]} == {"PGFN", "PGF"}
    assert all(re.fullmatch(r"\d+\.\d\d", i["valorConsolidado"]) for i in result["inscricoes"])
