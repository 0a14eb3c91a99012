"""Adding a tribunal installation without a restart, with a real ``gateway serve`` process: the MNI registry file
is changed, SIGHUP (or the operators' route) makes the running gateway read it again, and the new installation is
used; an invalid file is refused loudly and the running registry stays. Meanwhile ``/readyz`` reports each
installation's reachability and ``/metrics`` the hub's calls per installation and operation (an installation
that refuses connections is ``inalcancavel``: tests/unit/test_hub_monitor.py)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep

from tests.support import GatewayProcess, Tribunals, configure_hub, password_of, test_settings, wait_until

pytestmark = pytest.mark.e2e
EPROC_PROCESS = "50123459520234047100"  # 4.04
PJE_PROCESS = "08123459320198190001"  # 8.19, installation 1
TOKEN = "token-de-operacao-" + "k7Qz" * 8
Hub = tuple[GatewayProcess, Path, dict[str, object]]


@pytest.fixture
def hub(sqlite_url: str, tribunals: Tribunals, tmp_path: Path) -> Iterator[Hub]:
    """A gateway whose registry file names only TJRJ (8.19), though credentials for TRF4 (4.04) are stored; yields
    the process, the registry file and the full registry (both tribunals)."""
    tribunals.reset()
    settings = configure_hub(sqlite_url, test_settings(sqlite_url, tmp_path, mni_timeout_s=30), tribunals, tmp_path)
    path = Path(settings.mni_registry_path)
    full = json.loads(path.read_text())
    path.write_text(json.dumps(without(full, "4.04")))
    proc = GatewayProcess(settings, tmp_path / "gateway.log", extra_env={
        "GATEWAY_MNI_PROBE_INTERVAL_S": "0.2", "GATEWAY_ADMIN_TOKEN": TOKEN}).start()
    yield proc, path, full
    proc.stop()
    tribunals.reset()


def without(registry: dict[str, object], jtr: str) -> dict[str, object]:
    """*registry* without tribunal *jtr* (and without it in its clients' lists)."""
    tribunais = [t for t in registry["tribunais"] if t["jtr"] != jtr]  # type: ignore[attr-defined]
    clientes = {code: {**c, "tribunais": [j for j in c["tribunais"] if j != jtr]}
                for code, c in registry["clientes"].items()}  # type: ignore[attr-defined]
    return {"tribunais": tribunais, "clientes": clientes}


def consult(gw: GatewayProcess, number: str) -> tuple[bool, str | None]:
    """(sucesso, mensagem) of PGFN's consultarProcesso of *number* through the hub."""
    s = zeep.Client(gw.url + "/soap/mni?wsdl", settings=zeep.Settings(strict=False)).service
    answer = s.consultarProcesso(idConsultante="pgfn-mni", senhaConsultante=password_of("pgfn-mni"),
                                 numeroProcesso=number)
    return bool(answer.sucesso), answer.mensagem


def metric(gw: GatewayProcess, line_start: str) -> float:
    """The value of the first /metrics sample starting with *line_start* (0 when absent)."""
    import httpx

    for line in httpx.get(gw.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_sighup_reloads_the_registry_and_an_invalid_file_changes_nothing(hub: Hub) -> None:
    """Before: TRF4's process is refused (MNI-E040, unknown tribunal). An invalid file + SIGHUP: still refused the
    same way, TJRJ still served, the reload counted as ``invalido`` and logged with GATEWAY-E003. The full file +
    SIGHUP: TRF4's process is found through the new installation, with no restart (same pid)."""
    import httpx

    gw, path, full = hub
    assert gw.proc is not None
    pid = gw.proc.pid
    ok, mensagem = consult(gw, EPROC_PROCESS)
    assert not ok and (mensagem or "").startswith("MNI-E040")

    path.write_text("{ isto não é JSON")
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: metric(gw, 'gateway_mni_registry_reloads_total{outcome="invalido"}') == 1, 15,
               what="the invalid reload counted")
    assert gw.alive() and "GATEWAY-E003" in gw.log_path.read_text()
    assert consult(gw, PJE_PROCESS)[0]
    assert consult(gw, EPROC_PROCESS)[1].startswith("MNI-E040")  # type: ignore[union-attr]

    path.write_text(json.dumps(full))
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: metric(gw, 'gateway_mni_registry_reloads_total{outcome="ok"}') == 1, 15,
               what="the reload counted")
    ok, mensagem = consult(gw, EPROC_PROCESS)
    assert ok, mensagem
    assert gw.proc.pid == pid and gw.alive()

    # the operators' route does the same on demand, and says what is now in force
    r = httpx.post(gw.url + "/api/v1/operacao/registro-mni/recarregar", headers={"Authorization": f"Bearer {TOKEN}"},
                   timeout=10)
    assert r.status_code == 200 and "4.04/1" in r.json()["instalacoes"], r.text
    path.write_text("[]")
    refused = httpx.post(gw.url + "/api/v1/operacao/registro-mni/recarregar",
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert refused.status_code == 422 and refused.json()["codigo"] == "GATEWAY-E003"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert consult(gw, EPROC_PROCESS)[0]  # the registry in force stayed


def test_readyz_reports_tribunals_and_metrics_count_hub_calls(hub: Hub, tribunals: Tribunals) -> None:
    """``/readyz`` stays 200 and lists each installation of the registry as reachable (the background probe);
    each call is counted per installation, operation and outcome and timed; a tribunal that drops the connection
    gives a failure counted by its MNI-E code, shown as the installation's last call — still 200."""
    import httpx

    gw, _path, _full = hub

    def tribunais() -> dict[str, dict[str, object]]:
        r = httpx.get(gw.url + "/readyz", timeout=10)
        assert r.status_code == 200
        return dict(r.json()["tribunais"])

    wait_until(lambda: {k: v["situacao"] for k, v in tribunais().items()} == {
        "8.19/1": "alcancavel", "8.19/2": "alcancavel"}, 15, what="both installations probed")
    assert consult(gw, PJE_PROCESS)[0]
    assert metric(gw, 'gateway_mni_calls_total{installation="8.19/1",operation="consultarProcesso",'
                      'outcome="sucesso"}') >= 1
    assert metric(gw, 'gateway_mni_call_duration_seconds_count{installation="8.19/1",'
                      'operation="consultarProcesso"}') >= 1
    assert metric(gw, 'gateway_mni_answers_total{code="OK",operation="consultarProcesso"}') >= 1

    tribunals.faults("8.19", down=True)  # the simulator drops the connection: no usable answer
    try:
        ok, mensagem = consult(gw, PJE_PROCESS)
        code = (mensagem or "")[:8]
        assert not ok and code in ("MNI-E041", "MNI-E042"), mensagem
        assert metric(gw, f'gateway_mni_errors_total{{code="{code}",installation="8.19/1",'
                          'operation="consultarProcesso"}') >= 1
        assert metric(gw, 'gateway_mni_calls_total{installation="8.19/1",operation="consultarProcesso",'
                          'outcome="erro"}') >= 1
        last = tribunais()["8.19/1"]["ultimaChamada"]
        assert last["resultado"] == "erro" and last["codigo"] == code  # type: ignore[index]
    finally:
        tribunals.faults("8.19", down=False)
