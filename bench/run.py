"""``make bench``: run the benchmark sections, print their tables and write their JSON results.

Sections are named entries of :data:`SECTIONS`; ``--only NAME`` (repeatable or comma-separated) selects some,
``--list`` names them. Each section gets a :class:`Context` (options, CPU pinning, its own temporary directory)
and returns a JSON-able dict, written to ``bench/results/<section>-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import ROOT, Pinning, Server, free_port, loadgen, stop_all

RESULTS = Path(__file__).resolve().parent / "results"
#: intake: gateway max req/s ÷ floor max req/s (issue 17; issue 2 asked for 0.4)
RATIO_TARGET = 0.7
#: intake: the sandbox as shipped ÷ ``gateway serve``, same request and concurrency (issue 17: within 10 %)
SANDBOX_TARGET = 0.9
SANDBOX_CONCURRENCY = 16


@dataclass
class Context:
    """What a section receives."""

    args: argparse.Namespace
    pinning: Pinning
    workdir: Path
    stamp: str
    #: results of the sections already run in this invocation, by name (a later section may reuse them)
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)

    def say(self, text: str = "") -> None:
        print(text, flush=True)


@dataclass(frozen=True)
class Section:
    """A named benchmark."""

    name: str
    help: str
    run: Callable[[Context], dict[str, Any]]


# -- helpers shared by sections ---------------------------------------------------------------------------------


def fmt(value: float | None, width: int = 8, digits: int = 1) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def run_line(target: str, r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    load = f"C={r['concurrency']}" if r["mode"] == "closed" else f"R={r['offered_rate']:.0f}/s"
    flag = "" if r["errors"] == 0 else f"  ERRORS {r['errors']} {r['status']}  <-- FLAGGED"
    tl = r["timeline"] or [0]
    return (f"  {target:<8} {load:<11} {fmt(r['rps'], 9)} req/s  p50 {fmt(lat['p50'], 7, 2)} ms  "
            f"p99 {fmt(lat['p99'], 7, 2)} ms  max {fmt(lat['max'], 7, 1)} ms  per-second {tl[0]}→{tl[-1]} "
            f"(min {min(tl)}){flag}")


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The closed-loop run with the highest throughput (runs with errors only if every run has errors)."""
    clean = [r for r in runs if r["errors"] == 0] or runs
    return max(clean, key=lambda r: r["rps"])


def slim(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "error_samples" or v}


def environment() -> dict[str, Any]:
    """Machine facts recorded with every result."""
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                            "cpus": os.cpu_count(), "loadavg": os.getloadavg()}
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), None)
        info["cpu_model"] = model
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=5).stdout.strip()
        info["git_dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--", "gateway"], cwd=ROOT,
                                                capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


# -- section: intake --------------------------------------------------------------------------------------------


def _prepare_gateway_db(workdir: Path) -> tuple[str, str]:
    """A SQLite DB seeded like the tests, with the benchmark credential at the production KDF cost."""
    from bench.payload import USERNAME
    from gateway.bootstrap import console
    from gateway.settings import Settings
    from tests.support import password_of, seed

    url = f"sqlite:///{workdir / 'gateway.db'}"
    seed(url)  # organs and credentials of the tests (cheap KDF) ...
    # ... then the credential the benchmark uses, at the production default cost (2**14)
    with console(Settings.from_env({}, database_url=url, password_kdf_n=2**14)) as con:
        con.admin.set_credential(USERNAME, "TJRJ", password_of(USERNAME))
    return url, password_of(USERNAME)


def _gateway_env(url: str, workdir: Path) -> dict[str, str]:
    from gateway.audit import create_signing_key

    key = workdir / "signing-key.pem"
    if not key.exists():
        create_signing_key(str(key))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_ENVIRONMENT": "test",
        "GATEWAY_SECRET_KEY": "bench-secret-" + "x" * 32,
        "GATEWAY_SIGNING_KEY_PATH": str(key),  # signed audit checkpoints, as in production
        "GATEWAY_LOG_LEVEL": "WARNING",
    })
    return env


def _count_rows(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from gateway.db.engine import make_engine
    from gateway.db.tables import audit_log, communications, messages, outbox

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            def count(q: Any) -> int:
                return int(conn.execute(q).scalar_one())
            return {
                "messages": count(select(func.count()).select_from(messages)),
                "communications": count(select(func.count()).select_from(communications)),
                "outbox": count(select(func.count()).select_from(outbox)),
                "audit_log": count(select(func.count()).select_from(audit_log)),
                "audit_log_infodip": count(select(func.count()).select_from(audit_log)
                                           .where(audit_log.c.event.like("infodip.%"))),
            }
    finally:
        engine.dispose()


def _floor_rows(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        conn.close()


def _measure(ctx: Context, name: str, server: Server, template: Path, tag: str) -> dict[str, Any]:
    """Closed-loop runs at each concurrency, then an open-loop run at half the best rate."""
    a = ctx.args
    url = server.url + "/soap/infodip"
    runs = []
    for i, c in enumerate(a.concurrency):
        r = loadgen(ctx.pinning, url, template=template, concurrency=c, duration=a.duration, warmup=a.warmup,
                    ref_prefix=f"{tag}{i}-")
        ctx.say(run_line(name, r))
        runs.append(r)
    best = best_of(runs)
    half = best["rps"] / 2
    opened = None
    if half >= 1:
        opened = loadgen(ctx.pinning, url, template=template, mode="open", rate=half, duration=a.open_duration,
                         warmup=a.warmup, ref_prefix=f"{tag}o-")
        ctx.say(run_line(name, opened) + f"   (open loop, achieved {opened['achieved_rate']:.0f}/s, "
                f"generator send lag p99 {fmt(opened['send_lag_ms']['p99'], 1, 2)} ms)")
    ok_all = sum(r["ok_all"] for r in runs) + (opened["ok_all"] if opened else 0)
    return {"closed": [slim(r) for r in runs], "best": best, "open_half": slim(opened) if opened else None,
            "ok_all": ok_all}


def intake(ctx: Context) -> dict[str, Any]:
    """INFODIP intake: the gateway's ``enviarComunicacao`` against the floor (DESIGN.md)."""
    from bench.payload import intake_template
    from tests.support import recent_day

    a = ctx.args
    py = sys.executable
    url, password = _prepare_gateway_db(ctx.workdir)
    template = ctx.workdir / "request.xml"
    template.write_bytes(intake_template(password, recent_day(), distinct_persons=a.distinct_persons))
    size = len(template.read_bytes())
    ctx.say(f"intake: INFODIP enviarComunicacao, kind IV, ~{size} bytes, unique referenciaRemetente per request, "
            + ("a distinct person (CPF) per request" if a.distinct_persons
               else "same person and fact in every request (the gateway flags them as duplicates)"))
    ctx.say(f"  {ctx.pinning.note}")
    ctx.say(f"  closed loop at C={','.join(map(str, a.concurrency))} for {a.duration:g} s each "
            f"(+{a.warmup:g} s warm-up); open loop at half the best rate for {a.open_duration:g} s")
    result: dict[str, Any] = {"request_bytes": size, "distinct_persons": a.distinct_persons,
                              "concurrency": a.concurrency, "duration_s": a.duration,
                              "warmup_s": a.warmup, "pinning": ctx.pinning.note}

    # 1. the generator's own ceiling: a server that answers at once, the same request
    port = free_port()
    null = Server("null server", [*ctx.pinning.server, py, "-m", "bench.nullserver", "--port", str(port)],
                  port, ctx.workdir / "nullserver.log", ready_path="/")
    with null:
        ceiling = loadgen(ctx.pinning, null.url + "/soap/infodip", template=template, concurrency=max(a.concurrency),
                          duration=a.ceiling_duration, warmup=1.0, ref_prefix="N-")
    ctx.say(run_line("null", ceiling) + "   (generator ceiling)")
    result["generator_ceiling"] = slim(ceiling)

    # 2. the floor
    floor_db = ctx.workdir / "floor.db"
    port = free_port()
    floor = Server("floor", [*ctx.pinning.server, py, "-m", "bench.floor_app", "--db", str(floor_db),
                             "--port", str(port)], port, ctx.workdir / "floor.log")
    with floor:
        result["floor"] = _measure(ctx, "floor", floor, template, "F")
    result["floor"]["rows"] = _floor_rows(floor_db)

    # 3. the gateway
    port = free_port()
    gw = Server("gateway", [*ctx.pinning.server, py, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
                            "--port", str(port)], port, ctx.workdir / "gateway.log", env=_gateway_env(url, ctx.workdir))
    with gw:
        result["gateway"] = _measure(ctx, "gateway", gw, template, "G")
    result["gateway"]["rows"] = _count_rows(url)
    result["gateway"]["log_tail"] = gw.log_tail(2000)

    # 4. the sandbox as shipped against gateway serve: kind I, C=16, relay off (issue 17)
    if not a.no_sandbox:
        result["sandbox"] = _sandbox_against_serve(ctx, url, password)

    # summary
    fb, gb = result["floor"]["best"], result["gateway"]["best"]
    ratio = gb["rps"] / fb["rps"] if fb["rps"] else 0.0
    verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
    result["summary"] = summary = {
        "floor_rps": fb["rps"], "floor_p50_ms": fb["latency_ms"]["p50"], "floor_p99_ms": fb["latency_ms"]["p99"],
        "floor_best_concurrency": fb["concurrency"],
        "gateway_rps": gb["rps"], "gateway_p50_ms": gb["latency_ms"]["p50"],
        "gateway_p99_ms": gb["latency_ms"]["p99"], "gateway_best_concurrency": gb["concurrency"],
        "ratio": ratio, "ratio_target": RATIO_TARGET, "verdict": verdict,
        "generator_ceiling_rps": ceiling["rps"],
    }
    for who in ("floor", "gateway"):
        o = result[who]["open_half"]
        if o:
            summary[f"{who}_half_rate"] = o["offered_rate"]
            summary[f"{who}_half_achieved"] = o["achieved_rate"]
            summary[f"{who}_half_p50_ms"] = o["latency_ms"]["p50"]
            summary[f"{who}_half_p99_ms"] = o["latency_ms"]["p99"]
            summary[f"{who}_half_errors"] = o["errors"]
    rows = result["gateway"]["rows"]
    ok = result["gateway"]["ok_all"]
    summary["rows_consistent"] = rows["messages"] == ok and rows["audit_log_infodip"] == ok
    summary["floor_rows_consistent"] = result["floor"]["rows"] == result["floor"]["ok_all"]
    errors = sum(r["errors"] for who in ("floor", "gateway") for r in result[who]["closed"]) + sum(
        (result[who]["open_half"] or {}).get("errors", 0) for who in ("floor", "gateway"))
    summary["errors"] = errors

    ctx.say()
    ctx.say("  ---------------------------------------------------------------------------")
    ctx.say(f"  {'':<26}{'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    ctx.say(f"  {'floor at max (C=' + str(fb['concurrency']) + ')':<26}{fmt(fb['rps'], 9)} "
            f"{fmt(fb['latency_ms']['p50'], 8, 2)} {fmt(fb['latency_ms']['p99'], 8, 2)}")
    ctx.say(f"  {'gateway at max (C=' + str(gb['concurrency']) + ')':<26}{fmt(gb['rps'], 9)} "
            f"{fmt(gb['latency_ms']['p50'], 8, 2)} {fmt(gb['latency_ms']['p99'], 8, 2)}")
    for who in ("floor", "gateway"):
        o = result[who]["open_half"]
        if o:
            ctx.say(f"  {who + ' at half max (' + format(o['offered_rate'], '.0f') + '/s)':<26}"
                    f"{fmt(o['achieved_rate'], 9)} {fmt(o['latency_ms']['p50'], 8, 2)} "
                    f"{fmt(o['latency_ms']['p99'], 8, 2)}")
    ctx.say(f"  {'generator ceiling':<26}{fmt(ceiling['rps'], 9)}   (null server, same request, "
            f"C={ceiling['concurrency']})")
    ctx.say(f"  ratio gateway/floor = {ratio:.2f}   target >= {RATIO_TARGET}   {verdict}")
    for who, b in (("floor", fb), ("gateway", gb)):
        if b["rps"] > 0.7 * ceiling["rps"]:
            ctx.say(f"  WARNING: {who} reached {b['rps'] / ceiling['rps']:.0%} of the generator ceiling: "
                    "the generator may have limited it")
    ctx.say(f"  gateway rows: messages={rows['messages']} audit_log={rows['audit_log']} "
            f"(infodip.*={rows['audit_log_infodip']}, outbox={rows['outbox']}); 200 answers={ok}   "
            + ("consistent" if summary["rows_consistent"] else "MISMATCH"))
    ctx.say(f"  floor rows: {result['floor']['rows']}; 200 answers={result['floor']['ok_all']}   "
            + ("consistent" if summary["floor_rows_consistent"] else "MISMATCH"))
    if errors:
        ctx.say(f"  FLAGGED: {errors} error answers in measured windows (see the JSON for samples)")
    sb = result.get("sandbox")
    if sb:
        summary["sandbox_ratio"] = sb["ratio"]
        summary["sandbox_verdict"] = sb["verdict"]
        ctx.say(f"  sandbox as shipped (kind I, C={SANDBOX_CONCURRENCY}, relay off): {sb['sandbox']['rps']:.0f} req/s "
                f"p50 {sb['sandbox']['latency_ms']['p50']:.2f} ms against gateway serve {sb['serve']['rps']:.0f} req/s "
                f"p50 {sb['serve']['latency_ms']['p50']:.2f} ms: ratio {sb['ratio']:.2f}   target >= "
                f"{SANDBOX_TARGET}   {sb['verdict']}")
    return result


def _kind_i_template(path: Path, password: str) -> Path:
    from bench.payload import PLACEHOLDER, USERNAME
    from gateway.infodip.domain import Kind
    from gateway.infodip.samples import render_sample
    from tests.support import recent_day

    path.write_bytes(render_sample(Kind.I, username=USERNAME, password=password, reference=PLACEHOLDER.decode(),
                                   fact_date=recent_day()))
    return path


def _sandbox_against_serve(ctx: Context, serve_url: str, serve_password: str) -> dict[str, Any]:
    """``gateway sandbox`` as a user starts it (its own data directory, defaults, INFO text logs, the simulators
    beside it; ``GATEWAY_RELAY_ENABLED=false``) and ``gateway serve`` on the intake section's database, each pinned
    to the server CPU, driven alike: the INFODIP kind I sample, closed loop at C=16, after a warm-up. The sandbox's
    simulators inherit its CPU but stay idle (nothing is delivered). Ratio: sandbox req/s ÷ serve req/s."""
    a = ctx.args
    py = sys.executable
    runs: dict[str, Any] = {}
    port = free_port()
    info = ctx.workdir / "sandbox-info.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_RELAY_ENABLED"] = "false"
    sandbox = Server("sandbox", [*ctx.pinning.server, py, "-m", "gateway.cli", "sandbox", "--port", str(port),
                                 "--info", str(info), "--data-dir", str(ctx.workdir / "sandbox-data")],
                     port, ctx.workdir / "sandbox.log", env=env)
    with sandbox:
        deadline = time.monotonic() + 120
        while not info.exists():  # written once the gateway and every simulator answer
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not write its info file within 120 s")
            time.sleep(0.2)
        password = {c["username"]: c["password"] for c in json.loads(info.read_text())["credentials"]}
        from bench.payload import USERNAME
        template = _kind_i_template(ctx.workdir / "request-i-sandbox.xml", password[USERNAME])
        runs["sandbox"] = loadgen(ctx.pinning, sandbox.url + "/soap/infodip", template=template,
                                  concurrency=SANDBOX_CONCURRENCY, duration=a.duration, warmup=a.warmup,
                                  ref_prefix="S-")
    ctx.say(run_line("sandbox", runs["sandbox"]))
    port = free_port()
    template = _kind_i_template(ctx.workdir / "request-i.xml", serve_password)
    gw = Server("gateway", [*ctx.pinning.server, py, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
                            "--port", str(port)], port, ctx.workdir / "gateway-i.log",
                env=_gateway_env(serve_url, ctx.workdir))
    with gw:
        runs["serve"] = loadgen(ctx.pinning, gw.url + "/soap/infodip", template=template,
                                concurrency=SANDBOX_CONCURRENCY, duration=a.duration, warmup=a.warmup,
                                ref_prefix="GI-")
    ctx.say(run_line("gateway", runs["serve"]))
    ratio = runs["sandbox"]["rps"] / runs["serve"]["rps"] if runs["serve"]["rps"] else 0.0
    clean = not runs["sandbox"]["errors"] and not runs["serve"]["errors"]
    return {"sandbox": slim(runs["sandbox"]), "serve": slim(runs["serve"]), "ratio": ratio,
            "ratio_target": SANDBOX_TARGET, "verdict": "PASS" if ratio >= SANDBOX_TARGET and clean else "FAIL"}


def delivery(ctx: Context) -> dict[str, Any]:
    """End-to-end delivery at fixed rates (bench/delivery.py)."""
    from bench.delivery import delivery as run_delivery

    return run_delivery(ctx)


SECTIONS: list[Section] = [
    Section("intake", "INFODIP intake throughput/latency vs. the FastAPI+lxml+one-INSERT floor", intake),
    Section("delivery", "end-to-end delivery to the TSE and CNJ simulators at fixed rates vs. intake-only max",
            delivery),
]


def mni(ctx: Context) -> dict[str, Any]:
    """The MNI hub: added latency, throughput vs. the pass-through floor, RSS with 50 MB (bench/mni.py)."""
    from bench.mni import mni as run_mni

    return run_mni(ctx)


SECTIONS.append(Section("mni", "MNI hub consultarProcesso: added latency vs. direct, throughput vs. the "
                               "FastAPI+aiohttp pass-through floor, RSS while 50 MB pass", mni))
SECTIONS.append(Section("overload", "intake beyond capacity (relay running): achieved, refused, p99 of accepted "
                                    "< 1 s", lambda ctx: __import__("bench.overload", fromlist=["x"]).overload(ctx)))


def flood(ctx: Context) -> dict[str, Any]:
    """Hostile bodies refused: time, server CPU and peak RSS growth of each (bench/flood.py)."""
    from bench.flood import flood as run_flood

    return run_flood(ctx)


def divida(ctx: Context) -> dict[str, Any]:
    """The dívida ativa API against the partners alone and the fan-out floor (bench/divida.py)."""
    from bench.divida import divida as run_divida

    return run_divida(ctx)


SECTIONS.append(Section("divida", "dívida API (PGFN+PGF at 50 ms): added p50 at C=1 vs. the slower partner (< 10 ms), "
                                  "throughput vs. the FastAPI+aiohttp fan-out floor (>= 0.5)", divida))
def execucao(ctx: Context) -> dict[str, Any]:
    """Execuções fiscais filed through the hub (bench/execucao.py)."""
    from bench.execucao import execucao as run_execucao

    return run_execucao(ctx)


SECTIONS.append(Section("execucao", "execuções fiscais: N CDAs (--cdas, default 1000) filed at a TRF simulator with "
                                    "200 ms latency and 10 % errors: time to all protocolled, exactly once, peak RSS",
                        execucao))
SECTIONS.append(Section("flood", "hostile bodies (16 MB element floods with wrong and valid passwords, gzip, a "
                                 "text node, a gzip bomb): time to refuse and peak RSS growth vs. 1 s / 64 MB", flood))


def feed(ctx: Context) -> dict[str, Any]:
    """The change feed's read rate on SQLite (and PostgreSQL when GATEWAY_TEST_PG_URL or --feed-pg-url is set) vs.
    the floor (bench/feed.py)."""
    from bench.feed import measure_feed_read, populate
    from tests.support import postgres_schema, seed

    n = ctx.args.feed_versions
    results: dict[str, Any] = {}
    targets = [("sqlite", f"sqlite:///{ctx.workdir / 'feed.db'}")]
    pg = ctx.args.feed_pg_url or os.environ.get("GATEWAY_TEST_PG_URL")
    for name, url in targets + ([("postgresql", pg)] if pg else []):
        with (postgres_schema(url) if name == "postgresql" else _same(url)) as db:
            seed(db)
            started = time.monotonic()
            populate(db, n)
            ctx.say(f"{name}: {n} versions written in {time.monotonic() - started:.1f} s")
            r = measure_feed_read(db)
            ctx.say(f"{name}: feed read {r['gateway_per_s']:>8} versions/s, floor {r['floor_per_s']:>8}/s, ratio "
                    f"{r['ratio']}, target ≥ {r['target_per_s']:.0f}/s: {'ok' if r['ok'] else 'MISSED'}")
            results[name] = r
    return results


class _same:
    """A context manager yielding *url* as is (SQLite needs no schema)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *_exc: object) -> None:
        return None


SECTIONS.append(Section("feed", "change feed read rate (versions/s, target ≥ 10,000) vs. a bare indexed read, "
                                "SQLite and PostgreSQL", feed))
def consulta(ctx: Context) -> dict[str, Any]:
    """Issue 14 at scale: consultation by CPF at 200 req/s vs. its floor, a sender's month, the feed rate
    (bench/consulta.py)."""
    from bench.consulta import consulta as run_consulta

    return run_consulta(ctx)


SECTIONS.append(Section("consulta", "N generated communications (--scale, default 100000; the issue's 1000000) on "
                                    "SQLite and PostgreSQL: consultation by CPF at 200 req/s vs. the indexed-lookup "
                                    "floor, a sender's month, feed versions/s", consulta))


def estatisticas(ctx: Context) -> dict[str, Any]:
    """Issue 15: the public statistics over the generator's store (bench/estatisticas.py)."""
    from bench.estatisticas import estatisticas as run_estatisticas

    return run_estatisticas(ctx)


def certidoes(ctx: Context) -> dict[str, Any]:
    """Issue 15: certificates issued per second (bench/estatisticas.py)."""
    from bench.estatisticas import certidoes as run_certidoes

    return run_certidoes(ctx)


SECTIONS.append(Section("estatisticas", "public statistics over N generated communications (--scale; the issue's "
                                        "1000000): p99 of GET /api/v1/estatisticas (target < 200 ms), cached and "
                                        "re-checked, and the suppression's cost per kind-year", estatisticas))
SECTIONS.append(Section("certidoes", "certificates per second (PDF signed PAdES + XML signed XML-DSig, stored, "
                                     "audited) through POST /api/v1/certidoes, 1 and 4 clients", certidoes))


# -- driver -----------------------------------------------------------------------------------------------------


def obitos(ctx: Context) -> dict[str, Any]:
    """A monthly death batch of 130,000 records on SQLite and PostgreSQL (bench/obitos.py)."""
    from bench import obitos as section
    return section.run(ctx)


SECTIONS.append(Section("obitos", "monthly death batch (130k records, SOAP): records/s, seconds, RSS growth, ratio to "
                        "iterparse+executemany, tribunal intake p99 meanwhile; SQLite and PostgreSQL", obitos))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", default=[], help="section name(s) to run (repeatable, comma-separated)")
    p.add_argument("--list", action="store_true", help="list the sections and exit")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds of each closed-loop run")
    p.add_argument("--open-duration", type=float, default=None, help="measured seconds of open-loop runs")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run")
    p.add_argument("--ceiling-duration", type=float, default=5.0, help="seconds of the generator-ceiling run")
    p.add_argument("--concurrency", default="16,64,128", help="closed-loop concurrencies, comma-separated")
    p.add_argument("--distinct-persons", action="store_true",
                   help="intake: a distinct valid CPF per request (default: the same person, i.e. duplicates)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="intake: skip the sandbox-as-shipped row (gateway sandbox against gateway serve, kind I)")
    p.add_argument("--cdas", type=int, default=1000, help="execucao: CDAs to file (one per request)")
    p.add_argument("--rates", default="200,400,600,800,1000",
                   help="delivery: offered rates (req/s), comma-separated, tried in order up to the first that fails")
    p.add_argument("--rate-duration", type=float, default=60.0, help="delivery: sustained seconds per rate")
    p.add_argument("--drain-window", type=float, default=5.0,
                   help="delivery: the outbox lag must be 0 this many seconds after the load stopped")
    p.add_argument("--drain-timeout", type=float, default=60.0,
                   help="delivery: how long to keep waiting for the lag to reach 0 (for the record) before checking")
    p.add_argument("--relay-process", action="store_true",
                   help="delivery: run `gateway relay` as its own process (serve with the relay disabled)")
    p.add_argument("--relay-cpu", choices=["server", "client"], default="server",
                   help="delivery, --relay-process: pin the relay with the server (default) or the generator")
    p.add_argument("--keep-going", action="store_true", help="delivery: try every rate, even after one fails")
    p.add_argument("--refine", type=int, default=1,
                   help="delivery: extra rates bisecting the highest that drains and the lowest that does not")
    p.add_argument("--lag-every", type=float, default=5.0, help="delivery: step of the printed lag series (s)")
    p.add_argument("--feed-versions", type=int, default=200_000, help="feed: versions written before reading")
    p.add_argument("--feed-pg-url", default=None, help="feed: PostgreSQL URL (default GATEWAY_TEST_PG_URL)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target or errors occur")
    from bench.consulta import add_arguments
    from bench.estatisticas import add_arguments as add_estatisticas_arguments
    from bench.mni import add_arguments as add_mni_arguments

    add_arguments(p)
    add_estatisticas_arguments(p)
    add_mni_arguments(p)
    return p


def _on_signal(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    args.rates = [float(r) for r in str(args.rates).split(",") if r.strip()]
    if args.open_duration is None:
        args.open_duration = args.duration
    if args.list:
        for s in SECTIONS:
            print(f"{s.name:<12} {s.help}")
        return 0
    wanted = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    names = {s.name for s in SECTIONS}
    unknown = [n for n in wanted if n not in names]
    if unknown:
        print(f"unknown section(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}", file=sys.stderr)
        return 2
    chosen = [s for s in SECTIONS if not wanted or s.name in wanted]
    # Ctrl-C and SIGTERM end the run through ``finally`` blocks that stop every server (even when the runner was
    # started with SIGINT ignored, as background jobs of a non-interactive shell are)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    pinning = Pinning.detect(not args.no_pin)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = environment()
    print(f"bench {stamp}: {env.get('cpu_model', '?')}, {env['cpus']} CPUs, Python {env['python']}, "
          f"load average {env['loadavg'][0]:.2f} (a shared, noisy machine: compare ratios, not absolute times)")
    status = 0
    done: dict[str, dict[str, Any]] = {}
    for section in chosen:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{section.name}-"))
        ctx = Context(args, pinning, workdir, stamp, previous=done)
        started = time.monotonic()
        print(f"\n== {section.name} ==", flush=True)
        try:
            result = section.run(ctx)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping servers", file=sys.stderr)
            return 130
        except Exception:
            traceback.print_exc()
            print(f"section {section.name} FAILED (work directory kept: {workdir})", file=sys.stderr)
            args.keep = True
            status = 1
            continue
        finally:
            stop_all()
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        result = {"section": section.name, "stamp": stamp, "elapsed_s": time.monotonic() - started,
                  "environment": {**env, "loadavg_after": os.getloadavg()}, "options": vars(args), **result}
        done[section.name] = result
        out = RESULTS / f"{section.name}-{stamp}.json"
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"  results: {out.relative_to(ROOT)}   ({result['elapsed_s']:.0f} s"
              + (f"; work directory kept: {workdir}" if args.keep else "") + ")", flush=True)
        summary = result.get("summary", {})
        if args.strict and (summary.get("verdict") == "FAIL" or summary.get("errors")):
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
