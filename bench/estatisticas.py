"""Issue 15's benchmark sections.

``estatisticas``: the public statistics over a store filled by the consultation's generator (gateway/datagen.py,
``--scale`` communications; the issue's figure is 1,000,000: ``make bench BENCH_ARGS="--only estatisticas --scale
1000000"``). A real ``gateway serve`` on SQLite answers ``GET /api/v1/estatisticas`` at a fixed rate (open loop,
latency from the scheduled instant) over every year × (all kinds | one kind | one kind and UF), JSON and CSV:

- ``cached``: the service's default (a kind-year's suppressed tables reused for 60 s) — what the public sees;
- ``recheck``: ``GATEWAY_ESTATISTICAS_CACHE_S=0`` — every request reads its kind-year's atomic counts again and
  compares them with the cached tables' (the cost when the counts did not change);
- ``recompute``: the suppression itself (layout + primary + complementary, :func:`gateway.estatisticas.domain.build`)
  for every kind-year of the store, in process — what a request pays once after the counts changed.

Target: p99 < 200 ms for the requests (``cached`` and ``recheck``).

``certidoes``: certificates issued per second through ``POST /api/v1/certidoes`` (PDF signed PAdES + XML signed
XML-DSig, stored and audited), one client then four, on the same kind of generated store (``--certidoes-scale``),
and each document step's cost in process.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select

from bench.loadgen import percentiles
from gateway.clock import SystemClock
from gateway.datagen import generate, person_cpf
from gateway.db import migrate
from gateway.db.engine import make_engine
from gateway.db.tables import estatisticas_contagens, estatisticas_pessoas
from gateway.estatisticas import store
from gateway.estatisticas.domain import KINDS, build

if TYPE_CHECKING:
    from bench.run import Context

TARGET_P99_MS = 200.0


def _store(ctx: Context, scale: int, name: str) -> tuple[str, dict[str, Any]]:
    url = f"sqlite:///{ctx.workdir / name}"
    writer = make_engine(url, writer=True)
    migrate.upgrade(writer, "head")
    gen = generate(writer, SystemClock(), scale, deliveries=False)
    writer.dispose()
    ctx.say(f"    generated {gen.communications:,} communications in {gen.seconds:.0f} s")
    return url, vars(gen)


def _open_loop(call: Any, paths: list[str], rate: float, duration: float) -> dict[str, Any]:
    total = int(rate * duration)
    latencies: list[float] = []
    errors = 0
    t0 = time.perf_counter() + 0.05
    for i, path in zip(range(total), itertools.cycle(paths), strict=False):
        scheduled = t0 + i / rate
        wait = scheduled - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        if not call(path):
            errors += 1
        latencies.append(time.perf_counter() - scheduled)
    elapsed = time.perf_counter() - t0
    return {"requests": total, "errors": errors, "achieved_rate": total / elapsed,
            "latency_ms": percentiles(latencies)}


def _server(ctx: Context, url: str, name: str, extra: dict[str, str]) -> Any:
    from bench.procs import Server, free_port
    from bench.run import _gateway_env

    port = free_port()
    env = {**_gateway_env(url, ctx.workdir), **extra}
    return Server(name, [*ctx.pinning.server, sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
                         "--port", str(port)], port, ctx.workdir / f"{name}.log", env=env)


def estatisticas(ctx: Context) -> dict[str, Any]:
    """The section (module docstring)."""
    scale = ctx.args.scale
    rate, duration = ctx.args.estatisticas_rate, ctx.args.estatisticas_duration
    ctx.say(f"  {scale:,} generated communications (SQLite); {rate:.0f} req/s for {duration:.0f} s per mode; "
            f"target p99 < {TARGET_P99_MS:.0f} ms")
    url, gen = _store(ctx, scale, "estatisticas.db")
    engine = make_engine(url)
    with engine.connect() as conn:
        years = store.years(conn)
        rows = conn.execute(select(func.count()).select_from(estatisticas_contagens)).scalar_one()
        markers = conn.execute(select(func.count()).select_from(estatisticas_pessoas)).scalar_one()
    ctx.say(f"    {rows:,} atomic count rows ({markers:,} people markers); years {years[0]}–{years[-1]}")
    paths = [f"/api/v1/estatisticas?ano={y}" for y in years]
    paths += [f"/api/v1/estatisticas?ano={y}&tipo={k}" for y in years for k in KINDS]
    paths += [f"/api/v1/estatisticas?ano={y}&tipo=I&uf=SP" for y in years]
    out: dict[str, Any] = {"scale": scale, "generation": gen, "count_rows": rows, "marker_rows": markers,
                           "years": years, "modes": {}}
    verdicts = []
    for mode, extra in (("cached", {}), ("recheck", {"GATEWAY_ESTATISTICAS_CACHE_S": "0"})):
        with _server(ctx, url, f"estatisticas-{mode}", extra) as gw, httpx.Client(base_url=gw.url, timeout=30) as c:
            first_ms = []  # every path once, in order: each kind-year computed on its first request
            for path in paths:
                t = time.perf_counter()
                first = c.get(path)
                first_ms.append(time.perf_counter() - t)
                assert first.status_code == 200, first.text

            def call(path: str, c: httpx.Client = c) -> bool:
                csv = path.endswith("SP")
                r = c.get(path, headers={"Accept": "text/csv"} if csv else None)
                return r.status_code == 200

            run = _open_loop(call, paths, rate, duration)
        p99 = run["latency_ms"]["p99"]
        verdict = "PASS" if run["errors"] == 0 and p99 is not None and p99 < TARGET_P99_MS else "FAIL"
        verdicts.append(verdict)
        cold = percentiles(first_ms)
        out["modes"][mode] = {"first_requests": cold, "run": run, "verdict": verdict}
        lat = run["latency_ms"]
        ctx.say(f"    {mode:<9} first request of each path (computes): p50 {cold['p50']:.1f} ms max "
                f"{cold['max']:.1f} ms; then "
                f"{run['achieved_rate']:.0f} req/s p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms max "
                f"{lat['max']:.1f} ms errors {run['errors']}  {verdict}")
    # the suppression's own cost per kind-year, in process
    costs = []
    with engine.connect() as conn:
        organs = store.organ_infos(conn, {})
        for y in years:
            counts = store.read_year(conn, y)
            for k in KINDS:
                t = time.perf_counter()
                build(k, y, [c for c in counts if c.kind == k], organs, 5)
                costs.append(time.perf_counter() - t)
    engine.dispose()
    out["recompute_per_kind_year"] = percentiles(costs)
    lat = out["recompute_per_kind_year"]
    ctx.say(f"    recompute one kind-year (layout + suppression, {len(costs)} of them): p50 {lat['p50']:.1f} ms "
            f"p99 {lat['p99']:.1f} ms max {lat['max']:.1f} ms")
    out["summary"] = {"verdict": "FAIL" if "FAIL" in verdicts else "PASS", "errors": 0,
                      "load": f"{os.getloadavg()[0]:.2f}"}
    return out


def certidoes(ctx: Context) -> dict[str, Any]:
    """Certificates per second through the API (module docstring)."""
    from gateway.certidoes import documents
    from gateway.certidoes.domain import Content, new_code

    scale = ctx.args.certidoes_scale
    duration = ctx.args.certidoes_duration
    ctx.say(f"  {scale:,} generated communications (SQLite); {duration:.0f} s per client count")
    url, gen = _store(ctx, scale, "certidoes.db")
    persons = int(gen["persons"])
    out: dict[str, Any] = {"scale": scale, "runs": {}}
    with _server(ctx, url, "certidoes", {"GATEWAY_CERTIDOES_LIMITE_POR_MINUTO": "1000000"}) as gw:
        for clients in (1, 4):
            run = _issue(gw.url, clients, duration, persons)
            out["runs"][str(clients)] = run
            ctx.say(f"    {clients} client(s): {run['per_second']:.1f} certificates/s (PDF + XML, signed, stored, "
                    f"audited), p50 {run['latency_ms']['p50']:.0f} ms p99 {run['latency_ms']['p99']:.0f} ms, "
                    f"{run['kinds']}, errors {run['errors']}")
    key = documents.generate()
    from datetime import UTC, datetime

    content = Content(new_code(), "bench", "52998224725", "Pessoa", datetime.now(UTC), datetime.now(UTC))
    steps: dict[str, list[float]] = {"pdf_layout": [], "pdf_pades": [], "xml_dsig": []}
    for _ in range(20):
        t = time.perf_counter()
        pdf = documents.render_pdf(content, "http://127.0.0.1/certidoes/verificar?codigo=X")
        steps["pdf_layout"].append(time.perf_counter() - t)
        t = time.perf_counter()
        documents.sign_pdf(pdf, key)
        steps["pdf_pades"].append(time.perf_counter() - t)
        t = time.perf_counter()
        documents.sign_xml(documents.render_xml(content, "http://x"), key)
        steps["xml_dsig"].append(time.perf_counter() - t)
    out["steps_ms"] = {k: percentiles(v)["p50"] for k, v in steps.items()}
    ctx.say("    in process, p50: " + ", ".join(f"{k} {v:.1f} ms" for k, v in out["steps_ms"].items()))
    errors_total = sum(r["errors"] for r in out["runs"].values())
    out["summary"] = {"verdict": "PASS" if errors_total == 0 else "FAIL", "errors": errors_total,
                      "load": f"{os.getloadavg()[0]:.2f}"}
    return out


def _issue(gw_url: str, clients: int, duration: float, persons: int) -> dict[str, Any]:
    """*clients* threads issuing certificates back to back for *duration* seconds."""
    done: list[float] = []
    errors = [0]
    kinds: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def worker(n: int) -> None:
        with httpx.Client(base_url=gw_url, timeout=60) as c:
            i = n
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = c.post("/api/v1/certidoes", json={"cpf": person_cpf(i % persons), "nome": "Pessoa"})
                with lock:
                    if r.status_code == 201:
                        done.append(time.perf_counter() - t)
                        kind = r.json()["tipo"]
                        kinds[kind] = kinds.get(kind, 0) + 1
                    else:
                        errors[0] += 1
                i += clients

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=duration + 120)
    elapsed = time.perf_counter() - t0
    return {"clients": clients, "issued": len(done), "per_second": len(done) / elapsed, "errors": errors[0],
            "kinds": kinds, "latency_ms": percentiles(done)}


def add_arguments(p: Any) -> None:
    """The sections' options on the runner's parser (``--scale`` is the consultation section's, shared)."""
    p.add_argument("--estatisticas-rate", type=float, default=50.0, help="estatisticas: requests per second")
    p.add_argument("--estatisticas-duration", type=float, default=20.0, help="estatisticas: seconds per mode")
    p.add_argument("--certidoes-scale", type=int, default=20_000,
                   help="certidoes: communications generated before issuing")
    p.add_argument("--certidoes-duration", type=float, default=15.0, help="certidoes: seconds per client count")
