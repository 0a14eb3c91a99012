"""Section ``overload``: intake offered more than it can take, with the relay delivering inside ``gateway serve``.

Issue 9 measured, at 500 requests/s offered against an intake-only maximum of 752/s (relay inside serve), 338/s
achieved with p50 1.3 s and p99 30 s, 6,165 failures and more messages stored than acknowledged. Beyond capacity
the gateway now sheds load at once (INFODIP-E092 with ``Retry-After``, ``gateway/admission.py``), so what it
accepts keeps a p99 under :data:`TARGET_P99_MS`.

Procedure: a fresh gateway with both partner URLs (the TSE and CNJ simulators; the relay inside ``serve``, as in
production) — its capacity is the closed-loop maximum at C=64 with shedding turned off; then, on a fresh gateway
each (default settings: shedding on), open-loop load at 1.5 and 2 times that capacity for 20 seconds. Reported
per run: offered and achieved (200 answers per second), refused (E092 answers per second), other errors, p50/p99
of the accepted requests (measured from their scheduled send time), and whether the database holds exactly the
messages acknowledged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.delivery import Mock, OutboxReader, RoutedGateway, _template
from bench.procs import loadgen
from bench.run import Context, fmt, run_line, slim

TARGET_P99_MS = 1000.0
FACTORS = (1.5, 2.0)
DURATION_S = 20.0
CONCURRENCY = 64
NO_SHEDDING = {"GATEWAY_INTAKE_MAX_INFLIGHT": "0", "GATEWAY_INTAKE_TARGET_MS": "0", "GATEWAY_INTAKE_MAX_LAG_MS": "0",
               "GATEWAY_COMMIT_QUEUE_MAX": "0"}


def _messages(db_path: Path) -> int:
    reader = OutboxReader(db_path)
    try:
        return len(reader.message_ids())
    finally:
        reader.close()


def _run(ctx: Context, tse: Mock, cnj: Mock, tag: str, env: dict[str, str] | None = None,
         **load: Any) -> tuple[dict[str, Any], int]:
    """One load run on a fresh routed gateway (its environment changed by *env*); the load generator's result and
    the messages stored."""
    tse.reset()
    cnj.reset()
    gw = RoutedGateway(ctx, ctx.workdir / f"overload-{tag}", tse, cnj)
    if env:
        assert gw.server.env is not None
        gw.server.env.update(env)
    template = _template(ctx, gw.password)
    try:
        gw.start()
        result = loadgen(ctx.pinning, gw.server.url + "/soap/infodip", template=template, warmup=ctx.args.warmup,
                         ref_prefix=f"V{tag}-", **load)
        time.sleep(1.0)  # a commit that outlived its caller's wait (answered E091) would show now
        stored = _messages(gw.db_path)
    finally:
        gw.stop()
    return result, stored


def _row(r: dict[str, Any], capacity: float, stored: int) -> dict[str, Any]:
    duration = r["duration_s"]
    status = r["status"]
    refused = sum(n for code, n in status.items() if code in ("500", "503"))
    shed = sum(1 for s in r["error_samples"] if "INFODIP-E092" in s)
    other = r["requests"] - r["ok"] - refused
    p99 = r["latency_ms"]["p99"]
    return {
        "offered_rate": r["offered_rate"], "factor": r["offered_rate"] / capacity if capacity else None,
        "achieved_rate": r["achieved_rate"], "refused_rate": refused / duration, "refused": refused,
        "refusal_samples_e092": shed, "other_errors": other, "status": status,
        "p50_ms": r["latency_ms"]["p50"], "p99_ms": p99, "max_ms": r["latency_ms"]["max"],
        "p99_ok": p99 is not None and p99 < TARGET_P99_MS,
        "db_messages": stored, "acknowledged": r["ok_all"], "db_matches_acknowledged": stored == r["ok_all"],
        "load": slim(r),
    }


def overload(ctx: Context) -> dict[str, Any]:
    """The overload rows: offered above capacity → achieved, refused, p50/p99 of accepted vs. the 1 s target."""
    a = ctx.args
    factors, duration = FACTORS, DURATION_S
    ctx.say(f"overload: INFODIP kind IV, relay inside `gateway serve` delivering to the TSE and CNJ simulators; "
            f"capacity = closed-loop max at C={CONCURRENCY} ({a.duration:g} s); then open loop at "
            f"{', '.join(f'{f:g}' for f in factors)}× capacity for {duration:g} s each (+{a.warmup:g} s warm-up)")
    ctx.say(f"  {ctx.pinning.note}")
    tse = Mock("tse", "mocks.tse", ctx.pinning, ctx.workdir)
    cnj = Mock("cnj", "mocks.cnj", ctx.pinning, ctx.workdir)
    tse.start()
    cnj.start()
    rows = []
    try:
        # capacity with shedding off: what the gateway can do, not what it chooses to admit
        closed, _ = _run(ctx, tse, cnj, "cap", env=NO_SHEDDING, concurrency=CONCURRENCY, duration=a.duration)
        ctx.say(run_line("capacity", closed))
        capacity = closed["rps"]
        for f in factors:
            r, stored = _run(ctx, tse, cnj, f"{f:g}", mode="open", rate=f * capacity, duration=duration)
            rows.append(_row(r, capacity, stored))
    finally:
        cnj.stop()
        tse.stop()
    ctx.say()
    ctx.say("  ---------------------------------------------------------------------------")
    ctx.say(f"  {'overload':<22}{'offered/s':>10}{'achieved/s':>11}{'refused/s':>10}{'other err':>10}"
            f"{'p50 ms':>9}{'p99 ms':>9}   target p99 < {TARGET_P99_MS:.0f} ms")
    for row in rows:
        ctx.say(f"  {format(row['factor'], '.1f') + '× capacity':<22}{fmt(row['offered_rate'], 10, 0)}"
                f"{fmt(row['achieved_rate'], 11, 0)}{fmt(row['refused_rate'], 10, 0)}{row['other_errors']:>10}"
                f"{fmt(row['p50_ms'], 9, 1)}{fmt(row['p99_ms'], 9, 1)}   {'PASS' if row['p99_ok'] else 'FAIL'}"
                f"   stored = acknowledged: {'yes' if row['db_matches_acknowledged'] else 'NO'}"
                f" ({row['db_messages']}/{row['acknowledged']})")
    ctx.say(f"  capacity (closed loop, C={CONCURRENCY}, relay running): {capacity:.0f} req/s, p99 "
            f"{fmt(closed['latency_ms']['p99'], 1, 1)} ms; refusals are INFODIP-E092 with Retry-After "
            f"({sum(r['refusal_samples_e092'] for r in rows)} of the sampled error answers)")
    verdict = "PASS" if rows and all(r["p99_ok"] for r in rows) else "FAIL"
    return {"capacity_rps": capacity, "capacity_run": slim(closed), "runs": rows, "target_p99_ms": TARGET_P99_MS,
            "summary": {"capacity_rps": capacity, "verdict": verdict,
                        "errors": sum(r["other_errors"] for r in rows),
                        **{f"p99_ms_at_{r['factor']:.1f}x": r["p99_ms"] for r in rows}}}
