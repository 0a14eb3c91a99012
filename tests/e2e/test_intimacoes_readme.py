"""The README's intimations example, run verbatim by bash against ``gateway sandbox`` (a real process): the
simulated TJRJ intimates PGFN, the sandbox's collector brings the intimation back within seconds, and ciência is
taken through the court; run twice, the second ciência is answered from the store."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from tests.e2e.test_sandbox import sandbox  # noqa: F401 - the module-scoped sandbox fixture, reused
from tests.support import ROOT


def test_readme_intimations_example_runs(sandbox: tuple[dict[str, object], Path]) -> None:  # noqa: F811
    """The example prints the simulator's new aviso and the ciência's content (the teor of the citação attempt,
    ``situacao: ciente``); its POST run again answers the same content with ``repetida: true``; the court received
    one consultarTeorComunicacao for the process."""
    info, work = sandbox
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Intimations back to the procuradorias (intimações)", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr
    decoder = json.JSONDecoder()
    aviso, end = decoder.raw_decode(done.stdout)
    answer = json.loads(done.stdout[end:])
    assert aviso["numeroProcesso"] == "00042428620268190001" and aviso["consultant"] == "pgfn-tjrj"
    assert answer["repetida"] is False and "tentativa de citação" in answer["teor"], done.stdout
    assert answer["intimacao"]["situacao"] == "ciente" and answer["intimacao"]["classeProcessual"] == 1116
    again = subprocess.run(["bash", "-euo", "pipefail", "-c", block.rsplit("\ncurl", 1)[0].rsplit("\ncurl", 1)[0]
                            + f"\nID={answer['intimacao']['id']}\ncurl" + block.rsplit("\ncurl", 1)[1]],
                           cwd=work, capture_output=True, text=True, timeout=90)
    assert again.returncode == 0, again.stderr
    repeated = json.loads(again.stdout)
    assert repeated["repetida"] is True and repeated["comunicacaoXml"] == answer["comunicacaoXml"]
    mocks = info["mocks"]
    assert isinstance(mocks, dict)
    received = httpx.get(mocks["tribunal-8.19"]["url"] + "/_mock/received", timeout=10).json()
    assert sum(1 for e in received if e["operation"] == "consultarTeorComunicacao"
               and e["numeroProcesso"] == "00042428620268190001") == 1
