"""A/B of the consultation's latency in process (issue 14): the service and its JSON rendering driven at a fixed
rate by the same event loop, no HTTP, on a database generated once.

    .venv/bin/python -m bench.consulta_ab generate --db /tmp/ab.db --scale 100000
    .venv/bin/python -m bench.consulta_ab measure --db /tmp/ab.db --rate 200 --duration 15 --label after

``measure`` builds the gateway on that database (``gateway.bootstrap.build``: the real group committer with signed
audit checkpoints, the real reader engine), warms it as ``gateway serve`` does (when the code has
``Gateway.warm_up``), then schedules consultation *i* by CPF at t0 + i/rate (open loop: latency from the scheduled
instant, a late start counts), each one the whole use case — grant, keys, the read, the timeline, the audit entry
committed, the JSON of ``POST /api/v1/pessoas/situacao`` — and prints p50/p90/p99/max in ms, the p99 of each half,
and the process's CPU per consultation (every thread; less sensitive to a shared machine's load) as one JSON line.
Run from another checkout (``cd ../before && python -m bench.consulta_ab measure …``) it measures that code on the
same data: what the A/B in bench/README.md did, alternating before/after runs. On code without
``ConsultaService.consult`` the answer is rendered after the commit, as that code did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any


def generate(db: Path, scale: int) -> None:
    """A fresh SQLite file at *db*: migrated, *scale* generated communications, the sandbox's organs and grants."""
    from gateway.bootstrap import console
    from gateway.clock import SystemClock
    from gateway.datagen import generate as fill
    from gateway.db import migrate
    from gateway.db.engine import make_engine
    from gateway.demo_grants import seed_sandbox
    from gateway.sandbox import DEMO_ORGANS
    from gateway.settings import Settings
    from tests.support import KDF_N, password_of, seed

    for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        f.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    writer = make_engine(url, writer=True)
    migrate.upgrade(writer, "head")
    t0 = time.perf_counter()
    report = fill(writer, SystemClock(), scale)
    writer.dispose()
    seed(url)
    with console(Settings.from_env({}, database_url=url, password_kdf_n=KDF_N)) as con:
        seed_sandbox(con.admin, {o.username: password_of(o.username) for o in DEMO_ORGANS}, DEMO_ORGANS)
    print(json.dumps({"generated": scale, "seconds": round(time.perf_counter() - t0, 1),
                      "report": str(report)}))


#: the purpose (a valid CNJ process number) and the acting person's CPF of every consultation
PURPOSE, ACTING = "0045218-09.2024.8.19.0001", "52998224725"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(db: Path, rate: float, duration: float, persons: int, tmp: Path, no_overlap: bool = False,
                   extra: dict[str, Any] | None = None, sequential: bool = False) -> dict[str, Any]:
    from sqlalchemy import select

    from gateway.auth import Caller
    from gateway.bootstrap import build
    from gateway.consulta.service import PersonQuery
    from gateway.datagen import person_cpf
    from gateway.db.tables import organs
    from gateway.edges.rest_consulta import situation_json
    from gateway.infodip.domain import Kind
    from gateway.organs import OrganType
    from tests.support import test_settings

    # production's checkpoint interval (the tests sign every 50 entries); the per-client limit out of the way
    overrides: dict[str, Any] = {"consulta_rate_per_minute": 10_000_000, "audit_checkpoint_every": 1000,
                                 **(extra or {})}
    settings = test_settings(f"sqlite:///{db}", tmp, **overrides)
    gw = build(settings, relay_wanted=False)
    gw.start()
    warm_s = 0.0
    try:
        if hasattr(gw, "warm_up"):
            t = time.perf_counter()
            await gw.warm_up()
            warm_s = time.perf_counter() - t
        with gw.reader_engine.connect() as conn:
            oid = conn.execute(select(organs.c.id).where(organs.c.code == "TJRJ")).scalar_one()
        caller = Caller("tjrj-sistema", oid, "TJRJ", OrganType.TRIBUNAL, frozenset(Kind))
        scopes = frozenset({"direitos-politicos:consultar"})
        service = gw.consulta
        assert service is not None
        overlap = hasattr(service, "consult") and not no_overlap
        rng = random.Random(7)
        total = int(rate * duration)
        cpfs = [person_cpf(rng.randrange(persons)) for _ in range(total)]
        latencies: list[float] = []
        order: list[int] = []
        errors = 0

        async def one(cpf: str, scheduled: float, index: int = 0) -> None:
            nonlocal errors
            q = PersonQuery(cpf=cpf)
            try:
                if overlap:
                    answer = await service.consult(caller, scopes, ACTING, PURPOSE, q, None,
                                                   channel="bench")
                    body = situation_json(answer.situation).model_dump_json().encode()
                    await answer.durable()
                else:
                    found = await service.situation(caller, scopes, ACTING, PURPOSE, q, None,
                                                    channel="bench")
                    body = situation_json(found).model_dump_json().encode()
                assert body
            except Exception:
                errors += 1
                return
            latencies.append(time.perf_counter() - scheduled)
            order.append(index)

        tasks = []
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for i, cpf in enumerate(cpfs):
            if sequential:  # one at a time: no queue, each latency is the path's own
                await one(cpf, time.perf_counter())
                continue
            scheduled = t0 + i / rate
            wait = scheduled - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(cpf, scheduled, i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        gw.stop()
    ms = [x * 1000 for x in latencies]
    by_index = [x for _, x in sorted(zip(order, ms, strict=True))] if len(order) == len(ms) else ms
    first, second = by_index[: len(ms) // 2], by_index[len(ms) // 2:]
    worst = sorted(range(len(by_index)), key=lambda k: by_index[k])[-10:]
    return {"requests": total, "ok": len(ms), "errors": errors, "achieved": round(len(ms) / elapsed, 1),
            "warm_up_s": round(warm_s, 2), "overlap": overlap,
            "cpu_ms_per_request": round(cpu * 1000 / max(1, total), 3),
            "p50": round(statistics.median(ms), 2), "p90": round(_pct(ms, 0.90), 2),
            "p99": round(_pct(ms, 0.99), 2), "max": round(max(ms), 2),
            "first_half_p99": round(_pct(first, 0.99), 2), "second_half_p99": round(_pct(second, 0.99), 2),
            "worst_10_at": sorted(worst)}


def main() -> None:
    """``generate`` or ``measure`` (module docstring)."""
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["generate", "measure"])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--scale", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--label", default="")
    ap.add_argument("--sequential", action="store_true",
                    help="rate × duration consultations one after the other (closed loop, one in flight)")
    ap.add_argument("--no-overlap", action="store_true", help="render after the commit even where consult() exists")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting for this run (e.g. reader_pool_size=5, consulta_warmup_s=0)")
    args = ap.parse_args()
    if args.action == "generate":
        generate(args.db, args.scale)
        return
    with tempfile.TemporaryDirectory() as tmp:
        extra = dict(item.split("=", 1) for item in args.set)
        result = asyncio.run(_measure(args.db, args.rate, args.duration, int(args.scale * 0.7), Path(tmp),
                                      args.no_overlap, extra, args.sequential))
    import os
    print(json.dumps({"label": args.label, "load": os.getloadavg(), "set": args.set, **result}))


if __name__ == "__main__":
    main()
