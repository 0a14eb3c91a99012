"""Section ``divida``: the dívida ativa API (``POST /api/v1/devedores/inscricoes``) in front of the PGFN and PGF
simulators, both answering in 50 ms (their ``/_mock/faults`` latency).

Two figures (issue 11, "Tests and benchmark"):

1. *Added latency at concurrency 1*: one document owing at both partners, asked N seconds of closed loop at C=1
   straight to each simulator (PGFN's ``GET …/devedor/{doc}`` with a bearer token, PGF's ``POST
   …/inscricoes/consulta``) and through the gateway (a bearer token of TJRJ, ``On-Behalf-Of``, ``finalidade``);
   added p50 = gateway p50 − the slower partner's p50 (target < 10 ms).
2. *Throughput*: closed loop at each ``--concurrency`` through the gateway and through the floor
   (``bench/divida_floor.py``: a bare FastAPI + aiohttp fan-out to both partners that merges their JSON without
   checks), best of each; ratio gateway/floor (target ≥ 0.5).

The gateway runs as ``gateway serve`` on SQLite with everything a request does in production — token check,
``On-Behalf-Of``, the purpose, the per-client limit (set high enough never to refuse), normalisation, totals and one
durable audit entry per request — except PGFN's per-inscription detail (``GATEWAY_PGFN_DETALHES=false``), so that
the gateway and the floor make the same two partner calls; and with ``GATEWAY_DIVIDA_CONCORRENCIA`` at the largest
concurrency (the default, 16 lookups in flight per partner, would cap it at 320 req/s against 50 ms partners).
The gateway and the floor are pinned to one CPU, the simulators and the load generator to the other.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from bench.mni import proc_cpu_s
from bench.procs import Server, free_port, loadgen
from gateway.identifiers import processo_cnj_check_digits

LATENCY_TARGET_MS = 10.0
RATIO_TARGET = 0.5
PARTNER_LATENCY_MS = 50
#: the purpose of every benchmark request: a valid CNJ process number
PROCESSO = "0001234" + processo_cnj_check_digits("0001234", "2024", "8", "19", "0001") + "20248190001"
JUIZ = "52998224725"
ROUTE = "/api/v1/devedores/inscricoes"


def _http(url: str, payload: Any = None, headers: dict[str, str] | None = None, data: bytes | None = None) -> Any:
    body = data if data is not None else (None if payload is None else json.dumps(payload).encode())
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def _prepare_db(workdir: Path, secret: str) -> str:
    from gateway.bootstrap import console
    from gateway.settings import Settings
    from tests.support import seed

    url = f"sqlite:///{workdir / 'gateway.db'}"
    seed(url)
    with console(Settings.from_env({}, database_url=url, secret_key=secret)) as con:
        con.admin.grant("TJRJ", ["divida:ler"])
    return url


def divida(ctx: Any) -> dict[str, Any]:
    """The dívida API against the partners directly and the fan-out floor (see the module docstring)."""
    from bench.run import _gateway_env, best_of, fmt, run_line, slim
    from tests.support import password_of

    a = ctx.args
    py = sys.executable
    pin = ctx.pinning
    work: Path = ctx.workdir
    top = max(a.concurrency)
    result: dict[str, Any] = {"pinning": pin.note, "concurrency": a.concurrency, "duration_s": a.duration,
                              "warmup_s": a.warmup, "partner_latency_ms": PARTNER_LATENCY_MS}
    ctx.say(f"divida: POST {ROUTE}, one document at both partners, the PGFN and PGF simulators answering in "
            f"{PARTNER_LATENCY_MS} ms")
    ctx.say(f"  {pin.note}; the simulators run on the load generator's CPU")
    servers: list[Server] = []
    try:
        sims: dict[str, Server] = {}
        for name in ("pgfn", "pgf"):
            port = free_port()
            sims[name] = Server(name, [*pin.client, py, "-m", f"mocks.{name}", "--port", str(port)], port,
                                work / f"{name}.log", ready_path="/_mock/demo")
            servers.append(sims[name].start())
        demo = {n: _http(s.url + "/_mock/demo") for n, s in sims.items()}
        pgfn_c, pgf_key = demo["pgfn"]["credentials"], demo["pgf"]["credentials"]["api_key"]
        doc = demo["pgfn"]["devedores"]["ambos"][1]
        for s in sims.values():
            _http(s.url + "/_mock/faults", {"latency_ms": PARTNER_LATENCY_MS})

        # -- gateway and floor --------------------------------------------------------------------------------
        genv = _gateway_env("", work)
        db_url = _prepare_db(work, genv["GATEWAY_SECRET_KEY"])
        genv.update({
            "GATEWAY_DATABASE_URL": db_url, "GATEWAY_RELAY_ENABLED": "false", "GATEWAY_TOKEN_TTL_S": "3600",
            "GATEWAY_PGFN_URL": sims["pgfn"].url, "GATEWAY_PGFN_CLIENT_ID": pgfn_c["consumer_key"],
            "GATEWAY_PGFN_CLIENT_SECRET": pgfn_c["consumer_secret"], "GATEWAY_PGF_URL": sims["pgf"].url,
            "GATEWAY_PGF_API_KEY": pgf_key, "GATEWAY_PGFN_DETALHES": "false",
            "GATEWAY_DIVIDA_CONCORRENCIA": str(max(top, 16)), "GATEWAY_DIVIDA_LIMITE_POR_MINUTO": "1000000000"})
        port = free_port()
        gw = Server("gateway", [*pin.server, py, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port",
                                str(port)], port, work / "gateway.log", env=genv)
        servers.append(gw.start())
        port = free_port()
        floor = Server("floor", [*pin.server, py, "-m", "bench.divida_floor", "--port", str(port), "--pgfn",
                                 sims["pgfn"].url, "--pgfn-key", pgfn_c["consumer_key"], "--pgfn-secret",
                                 pgfn_c["consumer_secret"], "--pgf", sims["pgf"].url, "--pgf-key", pgf_key],
                       port, work / "floor.log")
        servers.append(floor.start())

        user = "tjrj-sistema"
        basic = base64.b64encode(f"{user}:{password_of(user)}".encode()).decode()
        token = _http(gw.url + "/oauth/token", headers={"Authorization": f"Basic {basic}", "Content-Type":
                                                        "application/x-www-form-urlencoded"},
                      data=b"grant_type=client_credentials")["access_token"]
        pgfn_token = _http(sims["pgfn"].url + "/token", headers={
            "Authorization": "Basic " + base64.b64encode(
                f"{pgfn_c['consumer_key']}:{pgfn_c['consumer_secret']}".encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded"}, data=b"grant_type=client_credentials")[
            "access_token"]

        body = work / "devedores.json"
        body.write_text(json.dumps({"documentos": [doc], "finalidade": PROCESSO}))
        pgf_body = work / "pgf.json"
        pgf_body.write_text(json.dumps({"documento": doc, "pagina": 1, "tamanho_pagina": 100}))
        json_ct = ["--content-type", "application/json"]
        gw_headers = [*json_ct, "--header", f"Authorization: Bearer {token}", "--header", f"On-Behalf-Of: {JUIZ}"]
        targets: dict[str, tuple[str, Path | None, str, list[str]]] = {
            "pgfn": (f"{sims['pgfn'].url}/consulta-divida-ativa-df/api/v1/devedor/{doc}", None, "GET",
                     ["--header", f"Authorization: Bearer {pgfn_token}"]),
            "pgf": (f"{sims['pgf'].url}/api/v1/inscricoes/consulta", pgf_body, "POST",
                    [*json_ct, "--header", f"X-API-Key: {pgf_key}"]),
            "floor": (floor.url + ROUTE, body, "POST", json_ct),
            "gateway": (gw.url + ROUTE, body, "POST", gw_headers),
        }

        # warm-up and a check of the gateway's answer
        answer = _http(gw.url + ROUTE, {"documentos": [doc], "finalidade": PROCESSO},
                       headers={"Authorization": f"Bearer {token}", "On-Behalf-Of": JUIZ})
        [r0] = answer["resultados"]
        if r0["parcial"] or not r0["inscricoes"]:
            raise RuntimeError(f"gateway warm-up answer is partial or empty: {json.dumps(r0)[:500]}")
        result["request"] = {"documento_inscricoes": len(r0["inscricoes"]),
                             "por_credor": {c: sum(1 for i in r0["inscricoes"] if i["credor"] == c)
                                            for c in ("PGFN", "PGF")}}
        ctx.say(f"  the document has {result['request']['por_credor']} inscriptions; the gateway's warm-up answer "
                "is complete (both sources ok)")

        # -- 1. latency at concurrency 1 --------------------------------------------------------------------------
        lat: dict[str, dict[str, Any]] = {}
        for name, (url, tmpl, method, extra) in targets.items():
            lat[name] = loadgen(pin, url, template=tmpl, concurrency=1, duration=a.duration, warmup=a.warmup,
                                method=method, extra=extra)
            ctx.say(run_line(name, lat[name]))
        p50 = {k: v["latency_ms"]["p50"] for k, v in lat.items()}
        slower = max(p50["pgfn"], p50["pgf"])
        added = p50["gateway"] - slower
        floor_added = p50["floor"] - slower
        lat_verdict = "PASS" if added < LATENCY_TARGET_MS and not lat["gateway"]["errors"] else "FAIL"
        result["latency"] = {k: slim(v) for k, v in lat.items()}
        ctx.say(f"  added p50 at C=1 = {fmt(added, 0, 2)} ms over the slower partner ({fmt(slower, 0, 2)} ms); "
                f"the floor adds {fmt(floor_added, 0, 2)} ms   target < {LATENCY_TARGET_MS:g} ms   {lat_verdict}")

        # -- 2. throughput ----------------------------------------------------------------------------------------
        runs: dict[str, list[dict[str, Any]]] = {"floor": [], "gateway": []}
        pids = {"floor": floor.proc.pid if floor.proc else None, "gateway": gw.proc.pid if gw.proc else None}
        for c in a.concurrency:
            for name in ("floor", "gateway"):
                url, tmpl, method, extra = targets[name]
                pid = pids[name]
                c0 = proc_cpu_s(pid) if pid else None
                r = loadgen(pin, url, template=tmpl, concurrency=c, duration=a.duration, warmup=a.warmup,
                            method=method, extra=extra)
                c1 = proc_cpu_s(pid) if pid else None
                if c0 is not None and c1 is not None and r["answers_all"]:
                    r["server_cpu_ms_per_request"] = (c1 - c0) * 1000 / r["answers_all"]
                cpu_note = (f"  cpu {r['server_cpu_ms_per_request']:.3f} ms/req"
                            if "server_cpu_ms_per_request" in r else "")
                ctx.say(run_line(name, r) + cpu_note)
                runs[name].append(r)
        best = {k: best_of(v) for k, v in runs.items()}
        ratio = best["gateway"]["rps"] / best["floor"]["rps"] if best["floor"]["rps"] else 0.0
        tp_verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
        at_top = {k: next((r for r in v if r["concurrency"] == top), None) for k, v in runs.items()}
        ratio_top = (at_top["gateway"]["rps"] / at_top["floor"]["rps"]
                     if at_top["gateway"] and at_top["floor"] and at_top["floor"]["rps"] else None)
        result["throughput"] = {k: [slim(r) for r in v] for k, v in runs.items()}
        # a sample of answers after the load: complete, both sources ok
        sample_ok = 0
        for _ in range(10):
            ans = _http(gw.url + ROUTE, {"documentos": [doc], "finalidade": PROCESSO},
                        headers={"Authorization": f"Bearer {token}", "On-Behalf-Of": JUIZ})
            sample_ok += int(not ans["resultados"][0]["parcial"])
        audit = _audit_count(db_url)
        result["gateway_log_tail"] = gw.log_tail(2000)
    finally:
        for s in reversed(servers):
            s.stop()

    errors = sum(r["errors"] for v in runs.values() for r in v) + lat["gateway"]["errors"]
    result["summary"] = summary = {
        "pgfn_p50_ms": p50["pgfn"], "pgf_p50_ms": p50["pgf"], "gateway_p50_ms": p50["gateway"],
        "floor_p50_ms": p50["floor"], "added_p50_ms": added, "floor_added_p50_ms": floor_added,
        "added_p50_target_ms": LATENCY_TARGET_MS, "latency_verdict": lat_verdict,
        "floor_rps": best["floor"]["rps"], "floor_best_concurrency": best["floor"]["concurrency"],
        "gateway_rps": best["gateway"]["rps"], "gateway_best_concurrency": best["gateway"]["concurrency"],
        "ratio": ratio, "ratio_at_top_concurrency": ratio_top, "top_concurrency": top, "ratio_target": RATIO_TARGET,
        "throughput_verdict": tp_verdict, "errors": errors,
        "floor_cpu_ms_per_request": best["floor"].get("server_cpu_ms_per_request"),
        "gateway_cpu_ms_per_request": best["gateway"].get("server_cpu_ms_per_request"),
        "sample_complete": f"{sample_ok}/10",
        "audit_entries": audit,
    }
    summary["verdict"] = "PASS" if lat_verdict == tp_verdict == "PASS" and not errors else "FAIL"
    ctx.say()
    ctx.say("  ---------------------------------------------------------------------------")
    ctx.say(f"  partners alone at C=1: PGFN p50 {fmt(p50['pgfn'], 0, 2)} ms, PGF p50 {fmt(p50['pgf'], 0, 2)} ms; "
            f"gateway p50 {fmt(p50['gateway'], 0, 2)} ms → added {fmt(added, 0, 2)} ms   target < "
            f"{LATENCY_TARGET_MS:g} ms   {lat_verdict}")
    ctx.say(f"  best: floor {fmt(best['floor']['rps'], 0)} req/s (C={best['floor']['concurrency']}), gateway "
            f"{fmt(best['gateway']['rps'], 0)} req/s (C={best['gateway']['concurrency']}); ratio = {ratio:.2f}"
            + (f" (at C={top}: {ratio_top:.2f})" if ratio_top is not None else "")
            + f"   target >= {RATIO_TARGET}   {tp_verdict}")
    fc, gc = summary["floor_cpu_ms_per_request"], summary["gateway_cpu_ms_per_request"]
    if fc and gc:
        ctx.say(f"  server CPU per answer: floor {fc:.3f} ms, gateway {gc:.3f} ms → ratio if both were bound by their "
                f"CPU alone = {fc / gc:.2f} (informational: less sensitive to the machine's other load)")
    ctx.say(f"  answers sampled after the load: {sample_ok}/10 complete; audit entries written: {audit}")
    if errors:
        ctx.say(f"  FLAGGED: {errors} error answers (see the JSON for samples)")
    return result


def _audit_count(db_url: str) -> int:
    from sqlalchemy import func, select

    from gateway.db.engine import make_engine
    from gateway.db.tables import audit_log

    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)
                                    .where(audit_log.c.event == "divida.devedores")).scalar_one())
    finally:
        engine.dispose()


if __name__ == "__main__":
    print("the section runs through: python -m bench.run --only divida", file=sys.stderr)
    raise SystemExit(2)
