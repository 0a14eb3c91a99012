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
