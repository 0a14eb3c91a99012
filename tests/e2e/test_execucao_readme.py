"""The README's execução fiscal example, run verbatim by bash against ``gateway sandbox`` (a real process): the
sandbox's sample (a PGFN CDA of a debtor in Belo Horizonte) is filed through the hub at the simulated TRF6 and its
new process number read back; the info file lists every TRF and the sample; posting the sample again answers the same
id, and the same CDA under another reference is refused with its process."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from tests.e2e.test_sandbox import sandbox  # noqa: F401 - the module-scoped sandbox fixture, reused
from tests.support import ROOT


def test_readme_execucao_example_runs(sandbox: tuple[dict[str, object], Path]) -> None:  # noqa: F811
    """The example prints the filing protocolled in TRF6 with a new class-1116 number of that court (J.TR 4.06), and
    the TRF6 simulator received exactly one petition."""
    info, work = sandbox
    mocks = info["mocks"]
    assert isinstance(mocks, dict)
    assert {f"tribunal-4.0{n}" for n in range(1, 7)} <= set(mocks)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Execuções fiscais filed from structured CDAs (ajuizamento)", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    filing = json.loads(done.stdout.strip().splitlines()[-1])
    assert filing["situacao"] == "protocolada", filing
    assert filing["tribunal"] == "4.06" and filing["numeroProcesso"][13:16] == "406"
    received = httpx.get(mocks["tribunal-4.06"]["url"] + "/_mock/received", timeout=10).json()
    assert sum(1 for e in received if e["operation"] == "entregarManifestacaoProcessual") == 1
    sample = info["samples"]
    assert isinstance(sample, dict)
    s = sample["execucao_fiscal"]
    body = json.loads((Path(str(info["data_dir"])) / s["path"]).read_text())
    tok = httpx.post(str(info["gateway"]) + "/oauth/token", auth=(s["username"], s["password"]),
                     data={"grant_type": "client_credentials"}, timeout=30).json()["access_token"]
    headers = {"Authorization": f"Bearer {tok}"}
    again = httpx.post(str(info["gateway"]) + "/api/v1/execucoes-fiscais", json=body, headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["id"] == filing["id"]
    body["referencia"] = "OUTRA"
    refused = httpx.post(str(info["gateway"]) + "/api/v1/execucoes-fiscais", json=body, headers=headers, timeout=60)
    assert refused.status_code == 409 and filing["numeroProcesso"] in refused.json()["mensagem"]


def test_sandbox_files_in_every_trf_for_pgf(sandbox: tuple[dict[str, object], Path]) -> None:  # noqa: F811
    """In the sandbox, PGF (the INSS as creditor) files one execução in each of the six TRFs (the debtor's State
    decides it) and each is protocolled there with a number of that court."""
    import time

    from gateway.divida.execucao import samples
    from gateway.divida.execucao.documents import load_signatario

    info, _work = sandbox
    data = Path(str(info["data_dir"]))
    signer = load_signatario(str(data / "procuradoria-key.pem"), str(data / "procuradoria-cert.pem"))
    cred = next(c for c in info["credentials"] if c["username"] == "pgf-mni")  # type: ignore[attr-defined]
    assert "execucao-fiscal:ajuizar" in cred["grants"]
    gw = str(info["gateway"])
    tok = httpx.post(gw + "/oauth/token", auth=(cred["username"], cred["password"]),
                     data={"grant_type": "client_credentials"}, timeout=30).json()["access_token"]
    headers = {"Authorization": f"Bearer {tok}"}
    ids = {}
    for n, jtr in enumerate(sorted(samples.MUNICIPIOS), start=500):
        r = httpx.post(gw + "/api/v1/execucoes-fiscais", headers=headers, timeout=60,
                       json=samples.request(signer, f"PGF-SANDBOX-{jtr}", n=n, jtr=jtr, procuradoria="PGF"))
        assert r.status_code == 202, r.text
        ids[jtr] = r.json()["id"]
    deadline = time.monotonic() + 60
    pending = dict(ids)
    while pending and time.monotonic() < deadline:
        for jtr, ident in list(pending.items()):
            got = httpx.get(f"{gw}/api/v1/execucoes-fiscais/{ident}", headers=headers, timeout=30).json()
            if got["situacao"] == "protocolada":
                assert got["numeroProcesso"][13:16] == jtr.replace(".", "")
                del pending[jtr]
        time.sleep(0.3)
    assert not pending, pending
