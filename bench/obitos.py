"""``make bench --only obitos``: a monthly death batch of 130,000 records (roughly a large state's month), sent as
one SOAP ``enviarLoteObitos`` to ``/soap/crc``, on SQLite and on PostgreSQL.

Printed per database: records/s from the POST to the batch's conclusion (validated, deduplicated, stored as kind VI
communications and queued for the TSE), the total seconds (target ≤ 60 s), the gateway's peak RSS growth during the
batch (VmHWM after − VmRSS before; target < 300 MB), the ratio to a floor measured in the same run on the same file
(``iterparse`` + ``executemany`` of the same records into one table, chunks of the same size, no checks; target ≥
0.25), and the p99 of a tribunal's INFODIP intake (open loop, ``bench.loadgen``) while the batch is stored (target
< 1 s).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from bench.procs import Server, free_port, loadgen

RECORDS = 130_000
CHUNK = 500
NS = "{urn:gateway-interop:crc:1.0}"


def _vm(pid: int, key: str) -> int:
    """VmRSS/VmHWM of *pid* in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _floor(path: Path, url: str, cpu: int | None) -> float:
    """Seconds to parse *path*'s records with iterparse and insert them with executemany (no checks), on the CPU
    the gateway is pinned to (*cpu*; the same share of a shared machine)."""
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        return _floor_run(path, url)
    finally:
        os.sched_setaffinity(0, before)


def _floor_run(path: Path, url: str) -> float:
    fields = ("matricula", "nome", "cpf", "tituloEleitor", "dataNascimento", "nomeMae", "nomePai", "sexo",
              "dataObito", "municipioObito", "cnsCartorio", "dataRegistro")
    cols = ", ".join(f'"{f}"' for f in fields)
    if url.startswith("sqlite"):
        import sqlite3
        db = url.split("///", 1)[1]
        conn: Any = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        marks = ", ".join("?" for _ in fields)
    else:
        import psycopg
        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        marks = ", ".join("%s" for _ in fields)
    conn.execute(f"CREATE TABLE floor_obitos ({', '.join(f'{chr(34)}{f}{chr(34)} TEXT' for f in fields)})")
    conn.commit()
    sql = f"INSERT INTO floor_obitos ({cols}) VALUES ({marks})"
    started = time.perf_counter()
    batch: list[tuple[str | None, ...]] = []
    with open(path, "rb") as f:
        for _ev, el in etree.iterparse(f, events=("end",), tag=NS + "registro", resolve_entities=False,
                                       no_network=True):
            values = {etree.QName(c).localname: c.text for c in el}
            batch.append(tuple(values.get(k) for k in fields))
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
            if len(batch) >= CHUNK:
                conn.cursor().executemany(sql, batch)
                conn.commit()
                batch = []
    if batch:
        conn.cursor().executemany(sql, batch)
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _one(ctx: Any, label: str, url: str, batch_file: Path, records: int, template: Path) -> dict[str, Any]:
    from bench.run import _gateway_env
    from gateway.db.engine import make_engine
    from tests.e2e.obitos_support import grant
    from tests.support import seed

    seed(url)
    grant(url)
    cpu = int(ctx.pinning.server[2]) if ctx.pinning.server else None
    floor_s = _floor(batch_file, url, cpu)
    floor_rate = records / floor_s
    ctx.say(f"  {label:<10} floor (iterparse + executemany, no checks): {floor_s:6.1f} s  {floor_rate:8.0f} rec/s")
    env = {**_gateway_env(url, ctx.workdir), "GATEWAY_OBITOS_MAX_RECORDS": str(records),
           "GATEWAY_OBITOS_SYNC_MAX": "0", "GATEWAY_OBITOS_CHUNK_RECORDS": str(CHUNK),
           "GATEWAY_OBITOS_MAX_BODY_BYTES": str(1 << 30), "GATEWAY_PASSWORD_KDF_N": str(2**10)}
    port = free_port()
    gw = Server("gateway", [*ctx.pinning.server, sys.executable, "-m", "gateway.cli", "serve",
                            "--host", "127.0.0.1", "--port", str(port)], port, ctx.workdir / f"gateway-{label}.log",
                env=env)
    result: dict[str, Any] = {"records": records, "floor_s": floor_s, "floor_rate": floor_rate}
    with gw:
        assert gw.proc is not None
        pid = gw.proc.pid
        rss0 = _vm(pid, "VmRSS")
        intake: dict[str, Any] = {}
        duration = max(10.0, min(60.0, floor_s * 3))

        def tribunal() -> None:
            intake.update(loadgen(ctx.pinning, gw.url + "/soap/infodip", template=template, mode="open", rate=20,
                                  duration=duration, warmup=0.5, ref_prefix=f"OB{label}-"))

        t = threading.Thread(target=tribunal)
        t.start()
        started = time.perf_counter()
        with open(batch_file, "rb") as f:
            r = httpx.post(gw.url + "/soap/crc", content=f, timeout=600,
                           headers={"Content-Type": "text/xml; charset=utf-8"})
        if r.status_code != 200:
            raise RuntimeError(f"batch refused: {r.status_code} {r.text[:500]}")
        posted = time.perf_counter() - started
        from tests.support import password_of
        status = {}
        while time.perf_counter() - started < 600:
            s = httpx.get(f"{gw.url}/api/v1/obitos/lotes/BENCH-{records}", params={"limite": 1},
                          auth=("crc-nacional", password_of("crc-nacional")), timeout=30)
            status = s.json()
            if status.get("situacao") == "concluido":
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        hwm = _vm(pid, "VmHWM")
        t.join()
    engine = make_engine(url)
    with engine.connect() as conn:
        from sqlalchemy import func, select

        from gateway.db.tables import communications, outbox
        stored = conn.execute(select(func.count()).select_from(communications).where(
            communications.c.kind == "VI")).scalar()
        queued = conn.execute(select(func.count()).select_from(outbox).where(outbox.c.destination == "TSE")).scalar()
    engine.dispose()
    rate = records / elapsed
    p99 = intake.get("latency_ms", {}).get("p99")
    result.update({"seconds": elapsed, "post_s": posted, "rate": rate, "ratio": rate / floor_rate,
                   "rss_growth_mb": (hwm - rss0) / 1024, "intake_p99_ms": p99, "intake_errors": intake.get("errors"),
                   "intake_ok": intake.get("ok_all"),
                   "intake_status": intake.get("status"), "intake_error_samples": intake.get("error_samples"),
                   "status": status.get("contagem"), "stored_vi": stored, "queued_tse": queued})
    ctx.say(f"  {label:<10} gateway: {elapsed:6.1f} s (target ≤ 60)  {rate:8.0f} rec/s  ratio {rate / floor_rate:5.2f}"
            f" (target ≥ 0.25)  RSS growth {(hwm - rss0) / 1024:6.1f} MB (target < 300)  "
            f"tribunal intake p99 {p99 if p99 is None else round(p99, 1)} ms (target < 1000), "
            f"errors {intake.get('errors')} {intake.get('status')}; stored VI {stored}, queued for TSE {queued}; "
            f"outcomes {status.get('contagem')} (POST answered 202 in {posted:.1f} s)")
    return result


def run(ctx: Any) -> dict[str, Any]:
    """The section (bench/run.py)."""
    from bench.payload import intake_template
    from gateway.obitos import synthetic
    from tests.support import password_of, postgres_schema, recent_day

    records = int(os.environ.get("BENCH_OBITOS_RECORDS", RECORDS))
    batch_file = ctx.workdir / "lote.xml"
    with open(batch_file, "w", encoding="utf-8") as out:
        synthetic.write_soap(out, f"BENCH-{records}", "2026-10",
                             synthetic.records(records, ["097543", "123456"], "2026-10"), "crc-nacional",
                             password_of("crc-nacional"))
    template = ctx.workdir / "request.xml"
    template.write_bytes(intake_template(password_of("tjrj-sistema"), recent_day(), distinct_persons=True))
    ctx.say(f"obitos: one SOAP batch of {records} records ({batch_file.stat().st_size / 1e6:.0f} MB), chunks of "
            f"{CHUNK}; tribunal intake at 20 req/s meanwhile. {ctx.pinning.note}")
    result: dict[str, Any] = {"sqlite": _one(ctx, "sqlite", f"sqlite:///{ctx.workdir / 'obitos.db'}", batch_file,
                                             records, template)}
    pg = os.environ.get("GATEWAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        with postgres_schema(pg) as url:
            result["postgresql"] = _one(ctx, "postgresql", url, batch_file, records, template)
    except Exception as exc:
        ctx.say(f"  postgresql: not measured ({type(exc).__name__}: {exc})")
        result["postgresql"] = {"error": str(exc)}
    return result
