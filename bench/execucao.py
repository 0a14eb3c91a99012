"""Section ``execucao``: execuções fiscais filed through the gateway's MNI hub (issue 12, "Tests and benchmark").

N requests of one CDA each (``--cdas``, default 1,000; each a different debtor domiciled in Porto Alegre → TRF4) are
posted to ``POST /api/v1/execucoes-fiscais`` (16 at once) to ``gateway serve`` on SQLite, filing at the eproc TRF4
simulator with **200 ms latency and 10 % errors** (HTTP 503 before acting: nothing processed, so the sender retries).
Figures: acceptance throughput (every check, the signature verified, the petition rendered, signed and schema-checked
before each 202), **time until all are protocolled**, the **exactly-once check** (the court created exactly one
process per CDA: no duplicate, none missing, no filing left ``indeterminada``), and the gateway's **peak RSS**
(VmHWM). The gateway runs with a 50-call sender (``GATEWAY_EXECUCAO_CONCORRENCIA``).
"""

from __future__ import annotations

import base64
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.procs import Server, free_port

LATENCY_MS = 200
ERROR_RATE = 0.10
ACCEPT_CONCURRENCY = 16


def _http(url: str, payload: Any = None, headers: dict[str, str] | None = None, data: bytes | None = None,
          method: str | None = None) -> tuple[int, Any]:
    body = data if data is not None else (None if payload is None else json.dumps(payload).encode())
    req = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of *pid* in KiB."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def execucao(ctx: Any) -> dict[str, Any]:
    """See the module docstring."""
    from sqlalchemy import func, select

    from bench.run import _gateway_env
    from gateway.bootstrap import console
    from gateway.db.engine import make_engine
    from gateway.db.tables import execucoes
    from gateway.divida.execucao import samples
    from gateway.divida.execucao.documents import create_signatario
    from gateway.hub.demo import configure, describe
    from gateway.settings import Settings
    from tests.support import password_of, seed

    a = ctx.args
    n = int(getattr(a, "cdas", 1000) or 1000)
    py = sys.executable
    pin = ctx.pinning
    work: Path = ctx.workdir
    ctx.say(f"execucao: {n} CDAs (one per request, each its own debtor) filed at the eproc TRF4 simulator with "
            f"{LATENCY_MS} ms latency and {ERROR_RATE:.0%} errors (503, nothing processed)")
    ctx.say(f"  {pin.note}; the simulator runs on the load generator's CPU")
    servers: list[Server] = []
    result: dict[str, Any] = {"cdas": n, "latency_ms": LATENCY_MS, "error_rate": ERROR_RATE, "pinning": pin.note}
    try:
        port = free_port()
        court = Server("trf4", [*pin.client, py, "-m", "mocks.tribunal", "--profile", "eproc-trf4", "--port",
                                str(port)], port, work / "trf4.log", ready_path="/_mock/demo")
        servers.append(court.start())
        _http(court.url + "/_mock/intimacoes/config", {"intervalo_s": 0})
        genv = _gateway_env("", work)
        url = f"sqlite:///{work / 'execucao.db'}"
        seed(url)
        registry = work / "mni-registry.json"
        settings = Settings.from_env({}, database_url=url, secret_key=genv["GATEWAY_SECRET_KEY"])
        with console(settings) as con:
            con.admin.grant("PGFN", ["execucao-fiscal:ajuizar"])
            configure(con.admin, describe([court.url]), registry)
        signer = create_signatario(str(work / "proc-key.pem"), str(work / "proc-cert.pem"), "Procuradoria (bench)")
        genv.update({"GATEWAY_DATABASE_URL": url, "GATEWAY_RELAY_ENABLED": "true", "GATEWAY_TOKEN_TTL_S": "3600",
                     "GATEWAY_MNI_REGISTRY_PATH": str(registry), "GATEWAY_INTIMACOES_INTERVALO_S": "0",
                     "GATEWAY_EXECUCAO_CHAVE_PATH": str(work / "proc-key.pem"),
                     "GATEWAY_EXECUCAO_CERTIFICADO_PATH": str(work / "proc-cert.pem"),
                     "GATEWAY_EXECUCAO_CONCORRENCIA": "50", "GATEWAY_EXECUCAO_LOTE": "100",
                     "GATEWAY_EXECUCAO_TIMEOUT_S": "10"})
        port = free_port()
        gw = Server("gateway", [*pin.server, py, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port",
                                str(port)], port, work / "gateway.log", env=genv)
        servers.append(gw.start())
        _http(court.url + "/_mock/faults", {"latency_ms": LATENCY_MS, "error_rate": ERROR_RATE, "status": 503})
        basic = base64.b64encode(f"pgfn-mni:{password_of('pgfn-mni')}".encode()).decode()
        _s, tok = _http(gw.url + "/oauth/token", headers={"Authorization": f"Basic {basic}", "Content-Type":
                                                          "application/x-www-form-urlencoded"},
                        data=b"grant_type=client_credentials")
        headers = {"Authorization": f"Bearer {tok['access_token']}"}
        t0 = time.monotonic()
        bodies = [json.dumps(samples.request(signer, f"BENCH-{i}", n=1000 + i, jtr="4.04")).encode()
                  for i in range(n)]
        ctx.say(f"  {n} requests prepared in {time.monotonic() - t0:.1f} s (CDA PDFs rendered and signed)")

        overloaded = [0]

        def one(body: bytes) -> tuple[int, Any]:
            # a 503 (the gateway's admission bound, nothing stored) is retried with the same body, as clients do
            for _ in range(120):
                status, answer = _http(gw.url + "/api/v1/execucoes-fiscais", headers=headers, data=body)
                if status != 503:
                    return status, answer
                overloaded[0] += 1
                time.sleep(0.5)
            return status, answer

        started = time.monotonic()
        with ThreadPoolExecutor(ACCEPT_CONCURRENCY) as pool:
            answers = list(pool.map(one, bodies))
        accepted_s = time.monotonic() - started
        refused = [a for a in answers if a[0] != 202]
        if refused:
            ctx.say(f"  REFUSED {len(refused)}, e.g. {refused[0]}  <-- FLAGGED")
        engine = make_engine(url)

        def states() -> dict[str, int]:
            with engine.connect() as conn:
                return {s: c for s, c in conn.execute(select(execucoes.c.state, func.count()).group_by(
                    execucoes.c.state))}

        deadline = started + max(600.0, n * 1.0)
        while time.monotonic() < deadline:
            st = states()
            if st.get("protocolada", 0) + st.get("recusada", 0) + st.get("indeterminada", 0) >= n:
                break
            time.sleep(0.5)
        all_done_s = time.monotonic() - started
        st = states()
        _rss_kib, hwm_kib = _rss(gw.proc.pid) if gw.proc is not None else (0, 0)
        _s, received = _http(court.url + "/_mock/received")
        filed = [e for e in received if e["operation"] == "entregarManifestacaoProcessual"]
        created = [e["numeroProcessoCriado"] for e in filed if e.get("numeroProcessoCriado")]
        with engine.connect() as conn:
            numbers = [r for r in conn.execute(select(execucoes.c.numero_processo).where(
                execucoes.c.state == "protocolada")).scalars()]
        exactly_once = (len(created) == len(set(created)) == n and sorted(created) == sorted(numbers)
                        and st.get("protocolada", 0) == n)
        engine.dispose()
        result.update({
            "accepted": n - len(refused), "refused": len(refused), "overload_503_retried": overloaded[0],
            "accept_s": round(accepted_s, 2),
            "accept_rps": round(n / accepted_s, 1), "all_protocolled_s": round(all_done_s, 2), "states": st,
            "court_calls": len(filed), "processes_created": len(created), "exactly_once": exactly_once,
            "gateway_peak_rss_mib": round(hwm_kib / 1024, 1)})
        ctx.say(f"  accepted {n - len(refused)}/{n} in {accepted_s:.1f} s ({n / accepted_s:.1f} req/s, each 202 "
                f"after every check; {overloaded[0]} overload answers 503 retried by the client)")
        ctx.say(f"  all protocolled after {all_done_s:.1f} s from the first request; states {st}")
        ctx.say(f"  court: {len(filed)} petitions processed, {len(created)} processes created, "
                f"{len(set(created))} distinct — exactly once: {'YES' if exactly_once else 'NO  <-- FLAGGED'}")
        ctx.say(f"  gateway peak RSS (VmHWM): {hwm_kib / 1024:.1f} MiB")
        return result
    finally:
        for s in reversed(servers):
            s.stop()
