"""Profile the death-batch writer in process: N synthetic records (default 20,000) stored through
``ObitosService.process`` on a fresh database, under cProfile; prints wall and CPU seconds and the top functions.

    .venv/bin/python -m bench.obitos_profile [--records N] [--pg-url URL] [--top 25]

A diagnostic for the writer's CPU (issue 13, point 3), not a benchmark section: the SOAP edge, HTTP and the
tribunals' load are left out. The CPU figure is the process's (every thread: the reader, the preparation and the
group committer's writer).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import select


def main() -> None:
    """Parse the options, build a gateway on a fresh database, store one batch under the profiler."""
    from gateway.auth import Caller
    from gateway.bootstrap import build
    from gateway.db.tables import organs
    from gateway.infodip.domain import Kind
    from gateway.obitos import contract, synthetic
    from gateway.organs import OrganType
    from tests.e2e.obitos_support import grant
    from tests.support import password_of, postgres_schema, seed, test_settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--pg-url", default="")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--cache-mb", type=int, default=0,
                    help="SQLite: the writer's page cache (GATEWAY_SQLITE_WRITER_CACHE_MB; 0: SQLite's 2 MB)")
    ap.add_argument("--no-profile", action="store_true", help="time only (the profiler's overhead left out)")
    ap.add_argument("--floor", action="store_true",
                    help="SQLite: also time the bench's floor (bench/obitos.py: iterparse + executemany into one "
                         "narrow table) on the same file, and print the ratios")
    ap.add_argument("--upper-bound", action="store_true",
                    help="SQLite: also replay the rows the writer inserted with bare sqlite3 executemany into a "
                         "fresh database of the same schema, chunk by chunk, one commit per chunk")
    args = ap.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tmp_root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(postgres_schema(args.pg_url)) if args.pg_url else f"sqlite:///{tmp / 'p.db'}"
        seed(url)
        grant(url)
        path = tmp / "lote.xml"
        with open(path, "w", encoding="utf-8") as out:
            synthetic.write_soap(out, "PROF-1", "2026-10", synthetic.records(args.records, ["097543", "123456"],
                                                                             "2026-10"),
                                 "crc-nacional", password_of("crc-nacional"))
        g = build(test_settings(url, tmp, obitos_chunk_records=args.chunk, obitos_max_records=args.records,
                                obitos_sync_max=0, sqlite_writer_cache_mb=args.cache_mb), relay_wanted=False)
        g.start()
        try:
            with g.reader_engine.connect() as conn:
                oid = conn.execute(select(organs.c.id).where(organs.c.code == "CRC")).scalar_one()
            caller = Caller("crc-nacional", oid, "CRC", OrganType.CRC, frozenset({Kind.VI}))
            call = contract.read_call(path)
            batch = contract.XmlBatch(path, call)
            svc = g.obitos
            state, covered = svc.open(caller, batch, "soap")
            prof, writer_prof = cProfile.Profile(), cProfile.Profile()
            committer = g.committer
            original = committer._commit_batch

            def profiled(batch: list[Any]) -> None:  # the writer thread's own profile, merged below
                if args.no_profile:
                    original(batch)
                    return
                writer_prof.enable()
                try:
                    original(batch)
                finally:
                    writer_prof.disable()

            committer._commit_batch = profiled  # type: ignore[method-assign]
            captured: list[tuple[str, list[dict[str, Any]]]] = []
            if args.upper_bound:
                from gateway.consulta import store as consulta_store
                from gateway.db import bulk
                from gateway.infodip import feed as infodip_feed
                from gateway.obitos import service as obitos_service
                plain = bulk.insert_many

                def capture(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
                    captured.append((table.name, rows))
                    plain(conn, table, rows)

                for module in (obitos_service, consulta_store, infodip_feed):
                    module.insert_many = capture  # type: ignore[attr-defined]
            wall0, cpu0 = time.perf_counter(), time.process_time()
            if not args.no_profile:
                prof.enable()
            svc.process(caller, batch, state, covered)
            prof.disable()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        finally:
            g.stop()
        bound_s = _replay(captured, tmp_root) if args.upper_bound else None
        if bound_s is not None:
            print(f"upper bound: the same {sum(len(r) for _, r in captured)} rows, bare sqlite3 executemany, "
                  f"{bound_s:.2f} s ({args.records / bound_s:.0f} rec/s)")
        if args.floor:
            from bench.obitos import _floor_run
            floor_s = _floor_run(path, f"sqlite:///{tmp_root / 'floor.db'}")
            print(f"floor: {floor_s:.2f} s ({args.records / floor_s:.0f} rec/s); writer/floor "
                  f"{floor_s / wall:.2f}" + (f", upper bound/floor {floor_s / bound_s:.2f}" if bound_s else ""))
    print(f"{args.records} records on {url.split(':')[0]}: wall {wall:.2f} s, process CPU {cpu:.2f} s "
          f"({args.records / wall:.0f} rec/s)")
    if args.no_profile:
        return
    stats = pstats.Stats(prof)
    stats.add(writer_prof)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


def _replay(captured: list[tuple[str, list[dict[str, Any]]]], tmp: Path) -> float:
    """Seconds to insert *captured* (table, rows) with bare sqlite3 into a freshly migrated database (same
    schema and indexes, same pragmas as the gateway's writer: WAL, synchronous=FULL), one transaction per chunk
    (the six tables of one chunk), values converted beforehand."""
    import sqlite3

    from gateway.db.engine import make_engine
    from gateway.db.tables import metadata
    from tests.support import seed

    url = f"sqlite:///{tmp / 'bound.db'}"
    seed(url)
    engine = make_engine(url)
    dialect = engine.dialect
    prepared = []
    for name, rows in captured:
        table = metadata.tables[name]
        cols = tuple(rows[0])
        procs = [table.c[c].type._cached_bind_processor(dialect) for c in cols]
        sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        params = [tuple(p(r[c]) if p and r[c] is not None else r[c] for p, c in zip(procs, cols, strict=True))
                  for r in rows]
        prepared.append((name, sql, params))
    engine.dispose()
    conn = sqlite3.connect(tmp / "bound.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for name, sql, params in prepared:
        if name == "communications" and conn.in_transaction:  # a chunk starts with its communications
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, params)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


if __name__ == "__main__":
    main()
