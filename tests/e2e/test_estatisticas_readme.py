"""The README's example of the public statistics and certificates, run verbatim by bash against ``gateway sandbox``
(a real process): the statistics of kind I this year in JSON and CSV, a certidão issued (negativa: the sandbox has
no kind I about that CPF), its record by code, and its PDF checked against the stored hash; then a kind I sent by the
sandbox's TJRJ makes the next certificate a positiva, while the first still verifies as issued."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
from signxml import XMLVerifier

from tests.e2e.test_sandbox import sandbox  # noqa: F401 - the module-scoped sandbox fixture, reused
from tests.integration.test_consulta import as_person
from tests.support import ROOT, recent_day


def _block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Public statistics and certificates (estatísticas públicas, certidões)", 1)[1]
    [block] = re.findall(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    return str(block)


def test_readme_statistics_and_certificates_example_runs(sandbox: tuple[dict[str, object], Path]) -> None:  # noqa: F811
    info, work = sandbox
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", _block()], cwd=work, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    totals = json.loads(lines[0])
    assert totals["tipo"] == "I" and set(totals["porSituacao"]) == {"ativa", "cancelada", "total"}
    assert lines[1] == "ano;tipo;tabela;uf;orgao;mes;pessoas" and lines[2].split(";")[2] == "total"
    code, kind = lines[4].split()
    assert kind == "negativa" and len(code) == 12
    record = json.loads(lines[5])
    assert (record["codigo"], record["tipo"], record["nome"], record["cpf"]) == (
        code, "negativa", "Maria da Conceição Araújo", "***.982.247-**")
    assert lines[6] == "True"
    # the XML the example wrote verifies with the certificate inside it (any XML-DSig verifier can do this)
    xml = (work / "certidao.xml").read_bytes()
    XMLVerifier().verify(xml, ignore_ambiguous_key_info=True, x509_cert=_cert(work))

    # a conviction arrives from the sandbox's TJRJ: the next certificate is a positiva, the first stays as issued
    gateway = str(info["gateway"])
    sample_info = info["samples"]["infodip"]["I"]  # type: ignore[index]
    body = (work / "data" / sample_info["path"]).read_bytes()
    body = re.sub(rb"<inf:referenciaRemetente>[^<]*<", b"<inf:referenciaRemetente>README-15<", body)
    r = httpx.post(f"{gateway}/soap/infodip", content=as_person(body, cpf="52998224725", process=None), timeout=30,
                   headers={"Content-Type": "text/xml; charset=utf-8"})
    assert r.status_code == 200, r.text
    again = subprocess.run(["bash", "-euo", "pipefail", "-c", _block()], cwd=work, capture_output=True, text=True,
                           timeout=90)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[4].split()[1] == "positiva"
    first = httpx.get(f"{gateway}/api/v1/certidoes/{code}", timeout=30).json()
    assert first["tipo"] == "negativa" and first["sha256"] == record["sha256"]
    assert f"{recent_day(0).year}" in first["emitidaEm"]


def _cert(work: Path) -> str:
    return (work / "data" / "certidoes-certificado.pem").read_text()
