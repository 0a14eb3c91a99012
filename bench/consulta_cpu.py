"""CPU per consultation of a real ``gateway serve`` (issue 14): the process CPU time the gateway spends per
``POST /api/v1/pessoas/situacao`` by CPF under an open-loop load, on a database generated once — robust to a shared
machine's noise where latency is not.

    .venv/bin/python -m bench.consulta_cpu generate --url sqlite:////tmp/cpu.db --scale 100000
    .venv/bin/python -m bench.consulta_cpu generate --url postgresql://postgres@127.0.0.1:5432/cpu_ab
    .venv/bin/python -m bench.consulta_cpu measure --url sqlite:////tmp/cpu.db --rate 200 --duration 15 --label after
    .venv/bin/python -m bench.consulta_cpu measure --url … --py-spy /tmp/profile.txt   # and a py-spy profile

``generate`` migrates the database (which must exist and be empty), fills it with ``gateway.datagen`` (*scale*
communications, seed 1) and gives it the sandbox's organs and grants. ``measure`` starts ``gateway serve`` on it
(pinned to the server CPU as the bench does; the per-client rate limit raised), takes TJRJ's bearer token, runs
5 s of the same load to warm it, then reads the server's CPU time (``/proc/PID/stat``: user + system, every
thread), runs *duration* seconds at *rate* req/s through ``bench.loadgen`` (open loop, latency from the scheduled
instant), reads it again, and prints one JSON line: ``cpu_ms_per_consultation`` (CPU delta / answers), the load's
p50/p90/p99/max in ms, the achieved rate, errors, and the load average. Run from another checkout (``cd
/tmp/before && python -m bench.consulta_cpu measure …``) it measures that code on the same data, for an A/B.
With ``--py-spy FILE`` a ``py-spy record --format raw`` (collapsed stacks, GIL holder only with ``--gil``) covers
the measured window. ``inproc`` runs *n* consultations one after another through the ASGI application in this
process and prints the CPU per consultation: steadier, without the HTTP server's share.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PURPOSE = "0045218-09.2024.8.19.0001"
ACTING = "52998224725"


def generate(url: str, scale: int) -> None:
    """Migrate *url*, fill it with *scale* generated communications, give it the sandbox's organs and grants."""
    from gateway.clock import SystemClock
    from gateway.datagen import generate as fill
    from gateway.db import migrate
    from gateway.db.engine import make_engine

    writer = make_engine(url, writer=True)
    migrate.upgrade(writer, "head")
    t0 = time.perf_counter()
    report = fill(writer, SystemClock(), scale)
    writer.dispose()
    print(json.dumps({"generated": scale, "seconds": round(time.perf_counter() - t0, 1), "report": str(report)}))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, rate: float, duration: float, label: str, py_spy: str | None, gil: bool,
            trace: str | None = None) -> dict[str, Any]:
    """The gateway's CPU per consultation and the load's latency (module docstring)."""
    from bench.consulta import _authorizations, _cpfs, _grant_bench_clients
    from bench.procs import Pinning, Server, free_port, loadgen
    from bench.run import _gateway_env

    work = Path(tempfile.mkdtemp(prefix="consulta-cpu-"))
    pinning = Pinning.detect()
    clients = _grant_bench_clients(url, "TJRJ")
    env = {**_gateway_env(url, work), "GATEWAY_CONSULTA_RATE_PER_MINUTE": "1000000",
           "GATEWAY_PASSWORD_KDF_N": str(2**10)}
    port = free_port()
    gw = Server("gateway", [*pinning.server, sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
                            "--port", str(port)], port, work / "gateway.log", env=env)
    from sqlalchemy import func, select

    from gateway.db.engine import make_engine
    from gateway.db.tables import consulta_pessoas

    engine = make_engine(url)
    with engine.connect() as conn:
        persons = int(conn.execute(select(func.count()).select_from(consulta_pessoas)).scalar_one() * 0.7)
    engine.dispose()
    cpf_file = work / "cpfs.txt"
    cpf_file.write_text("\n".join(_cpfs(max(persons, 100), 20_000, 7)) + "\n")
    template = work / "body.json"
    template.write_text(f'{{"cpf": "BENCH-CPF-PLACEHOLDER", "finalidade": "{PURPOSE}"}}')
    with gw:
        assert gw.proc is not None
        pid = gw.proc.pid
        authorization = _authorizations(gw.url, {"consulta": clients["consulta"]})["consulta"]
        extra = ["--content-type", "application/json", "--cpf-list", str(cpf_file), "--header",
                 f"Authorization: {authorization}", "--header", f"On-Behalf-Of: {ACTING}"]
        target = gw.url + "/api/v1/pessoas/situacao"
        loadgen(pinning, target, template=template, mode="open", rate=rate, duration=5, warmup=0, extra=extra)
        spy = None
        if py_spy:
            exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(duration) + 1),
                                    "--format", "raw", "--rate", "500", "--output", py_spy, "--nonblocking"]
                                   + (["--gil"] if gil else []),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load0 = os.getloadavg()[0]
        cpu0 = _cpu_seconds(pid)
        result = loadgen(pinning, target, template=template, mode="open", rate=rate, duration=duration, warmup=0,
                         extra=extra + (["--trace", trace] if trace else []))
        cpu1 = _cpu_seconds(pid)
        if spy is not None:
            spy.wait(timeout=duration + 60)
    answers = result.get("ok", result["requests"])
    lat = result["latency_ms"]
    out = {"label": label, "url": url.split("@")[-1], "rate": rate, "duration": duration, "answers": answers,
           "errors": result.get("errors", 0), "achieved_rate": result.get("achieved_rate"),
           "cpu_ms_per_consultation": round((cpu1 - cpu0) * 1000 / max(answers, 1), 3),
           "p50": round(lat["p50"], 2), "p90": round(lat["p90"], 2), "p99": round(lat["p99"], 2),
           "max": round(lat["max"], 2), "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}
    shutil.rmtree(work, ignore_errors=True)
    return out


def inproc(url: str, n: int, label: str) -> dict[str, Any]:
    """*n* consultations by CPF one after another through the whole ASGI application in this process (Starlette's
    test client: no sockets, no uvicorn), after 300 to warm it; the process CPU time per consultation (every
    thread: the read's worker, the group committer) — a steadier figure of the application's own cost than
    ``measure`` on a busy machine, though it leaves out the HTTP server's."""
    from fastapi.testclient import TestClient

    from bench.consulta import _cpfs, _grant_bench_clients
    from gateway.bootstrap import create_app
    from tests.support import test_settings

    work = Path(tempfile.mkdtemp(prefix="consulta-inproc-"))
    clients = _grant_bench_clients(url, "TJRJ")
    user, secret = clients["consulta"]
    settings = test_settings(url, work, consulta_rate_per_minute=10_000_000, audit_checkpoint_every=1000)
    from sqlalchemy import func, select

    from gateway.db.engine import make_engine
    from gateway.db.tables import consulta_pessoas

    engine = make_engine(url)
    with engine.connect() as conn:
        persons = int(conn.execute(select(func.count()).select_from(consulta_pessoas)).scalar_one() * 0.7)
    engine.dispose()
    cpfs = _cpfs(max(persons, 100), n + 300, 7)
    with TestClient(create_app(settings)) as client:
        r = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": user,
                                              "client_secret": secret})
        headers = {"Authorization": "Bearer " + r.json()["access_token"], "On-Behalf-Of": ACTING}

        def ask(cpf: str) -> None:
            answer = client.post("/api/v1/pessoas/situacao", json={"cpf": cpf, "finalidade": PURPOSE},
                                 headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(answer.text)

        for cpf in cpfs[:300]:
            ask(cpf)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for cpf in cpfs[300:]:
            ask(cpf)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    return {"label": label, "url": url.split("@")[-1], "consultations": n,
            "cpu_ms_per_consultation": round(cpu * 1000 / n, 3), "wall_ms_per_consultation": round(wall * 1000 / n, 3),
            "load": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> None:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--url", required=True)
    g.add_argument("--scale", type=int, default=100_000)
    m = sub.add_parser("measure")
    m.add_argument("--url", required=True)
    m.add_argument("--rate", type=float, default=200.0)
    m.add_argument("--duration", type=float, default=15.0)
    m.add_argument("--label", default="")
    m.add_argument("--py-spy", default=None, help="write py-spy's collapsed stacks of the measured window here")
    m.add_argument("--gil", action="store_true", help="py-spy: only the thread holding the GIL")
    m.add_argument("--trace", default=None, help="write each consultation's scheduled time (system-wide monotonic "
                   "clock), latency and status here as CSV (bench.loadgen --trace)")
    i = sub.add_parser("inproc")
    i.add_argument("--url", required=True)
    i.add_argument("-n", type=int, default=2000)
    i.add_argument("--label", default="")
    args = p.parse_args(argv)
    if args.cmd == "generate":
        generate(args.url, args.scale)
    elif args.cmd == "inproc":
        print(json.dumps(inproc(args.url, args.n, args.label)))
    else:
        print(json.dumps(measure(args.url, args.rate, args.duration, args.label, args.py_spy, args.gil, args.trace)))


if __name__ == "__main__":
    main()
