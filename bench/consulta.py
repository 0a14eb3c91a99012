"""Section ``consulta`` (issue 14): the store at scale — N communications written by the generator
(``gateway gerar-dados``, gateway/datagen.py), then, on SQLite and on PostgreSQL:

1. **consultation by CPF at 200 req/s** (open loop: request *i* is scheduled at t0 + i/R and its latency counted
   from then, so a stall cannot hide queueing), p50/p99, against a **floor** measured in the same run — the same
   indexed lookup of the person's communications with no checks and nothing else read. Targets: p99 < 20 ms and
   p99 within 3× of the floor's;
2. **listing a sender's month**: the busiest sender's busiest month, read in cursor pages of 100
   (``GET /api/v1/comunicacoes``), time per page and for the whole month;
3. **feed read rate**: every version read in commit order in pages of 1,000 with its payload
   (``GET /api/v1/feed?cursor=&limite=1000``), versions/s. Target ≥ 10,000/s.

How (``--via rest``, the default): after generation the database gets the sandbox's grants (TJRJ:
``direitos-politicos:consultar``; TSE: ``feed:ler``) and a credential for the busiest sender; a real ``gateway serve``
and the floors (bench/consulta_floor.py) run on it pinned to the server CPU (the per-client consultation limit raised
for the load), the load on the client CPU. The consultation is ``POST /api/v1/pessoas/situacao`` driven by
``bench.loadgen``'s open loop; its verdict's floor is ``floor_http``, the same indexed lookup behind a bare HTTP
endpoint (the answer must cross HTTP); ``floor`` (the lookup in this process) and ``floor_durable`` (``floor_http``
plus one committed row per request, what an audited answer costs at least) are printed for reference. The listing
is ``GET /api/v1/comunicacoes`` in pages of 100 with the sender's credential; the feed ``GET /api/v1/feed?limite=1000``
with TSE's token, and also its read function (``gateway.infodip.feed.read_page``) without HTTP.
``--via store`` keeps the store-level stand-ins of h14c (:class:`StoreTarget`, one call at a time by
:func:`open_loop`).

Scale: ``--scale`` (default 100,000: a few minutes in all). The issue's figure is 1,000,000:
``python -m bench.run --only consulta --scale 1000000`` (generation ≈ 3 min on SQLite, longer on PostgreSQL; the
SQLite file is about 1.3 GB). PostgreSQL from ``--pg-url`` or ``GATEWAY_TEST_PG_URL`` (a schema of its own, dropped
afterwards); without one, only SQLite is measured and the output says so.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, func, select, text, tuple_
from sqlalchemy.engine import Connection, Engine

from bench.loadgen import percentiles
from gateway.clock import SystemClock, utc
from gateway.datagen import generate, person_cpf
from gateway.db import migrate
from gateway.db.engine import make_engine
from gateway.db.tables import communications, messages, organs, outbox
from gateway.history.service import CoverageCache

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.run import Context

RATE = 200.0
P99_TARGET_MS = 20.0
FLOOR_RATIO_TARGET = 3.0
FEED_TARGET = 10_000.0
#: seconds of load before each measured half (every path alike): the first seconds of a gateway on a cold 1,000,000
#: database stall on pages not yet cached (the 1M run of 2026-11-30 with 1 s: first half p99 86/208 ms, second 14/11)
WARMUP_S = 4.0


class Target(Protocol):
    """The three reads the section measures."""

    def consult(self, cpf: str) -> int: ...  # communications about the person
    def month_page(self, organ_id: int, start: datetime, end: datetime, cursor: Any, limit: int) -> tuple[int, Any]: ...
    def feed_page(self, cursor: Any, limit: int) -> tuple[int, Any]: ...


# -- the floor: the same indexed lookup, no checks -------------------------------------------------------------

_FLOOR = select(communications.c.protocol).where(communications.c.person_key == bindparam("k"))


class StoreTarget:
    """The store-level stand-ins of the endpoints (see the module's docstring)."""

    #: the person's communications with every version (two round trips in all, with the deliveries)
    _VERSIONS = select(communications, messages.c.version, messages.c.operation, messages.c.message_id,
                       messages.c.sender_reference, messages.c.received_at, messages.c.late, messages.c.cancel_reason,
                       messages.c.payload).join(messages, messages.c.protocol == communications.c.protocol).where(
        communications.c.person_key == bindparam("k")).order_by(communications.c.protocol, messages.c.version)
    _DELIVERIES = select(outbox.c.protocol, outbox.c.version, outbox.c.destination, outbox.c.status,
                         outbox.c.attempts, outbox.c.receipt, outbox.c.updated_at).join(
        communications, communications.c.protocol == outbox.c.protocol).where(
        communications.c.person_key == bindparam("k"))

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.coverage = CoverageCache(engine, SystemClock(), ttl_s=3600)
        self.coverage.get()

    def consult(self, cpf: str) -> int:
        key = {"k": "cpf:" + cpf}
        with self.engine.connect() as conn:
            versions = conn.execute(self._VERSIONS, key).all()
            if versions:
                conn.execute(self._DELIVERIES, key).all()
        self.coverage.get()
        return len({v.protocol for v in versions})

    def month_page(self, organ_id: int, start: datetime, end: datetime, cursor: Any, limit: int) -> tuple[int, Any]:
        q = select(messages.c.protocol, messages.c.version, messages.c.operation, messages.c.received_at,
                   messages.c.sender_reference, messages.c.late, communications.c.kind, communications.c.status).join(
            communications, communications.c.protocol == messages.c.protocol).where(
            messages.c.organ_id == organ_id, messages.c.received_at >= start, messages.c.received_at < end)
        if cursor is not None:
            q = q.where(tuple_(messages.c.received_at, messages.c.protocol, messages.c.version) > tuple_(*cursor))
        q = q.order_by(messages.c.received_at, messages.c.protocol, messages.c.version).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return len(rows), ((rows[-1].received_at, rows[-1].protocol, rows[-1].version) if len(rows) == limit
                           else None)

    def feed_page(self, cursor: Any, limit: int) -> tuple[int, Any]:
        q = select(messages.c.protocol, messages.c.version, messages.c.operation, messages.c.organ_id,
                   messages.c.received_at, messages.c.payload)
        if cursor is not None:  # a row-value comparison: PostgreSQL walks the index from the cursor (with OR it
            # would scan the index from its start on every page)
            q = q.where(tuple_(messages.c.protocol, messages.c.version) > tuple_(*cursor))
        q = q.order_by(messages.c.protocol, messages.c.version).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return len(rows), ((rows[-1].protocol, rows[-1].version) if len(rows) == limit else None)


class FeedReadTarget:
    """The feed's read function (``gateway.infodip.feed.read_page``, what ``GET /api/v1/feed`` runs before its
    audit entry and JSON) for the TSE's destination: the rate without HTTP."""

    def __init__(self, engine: Engine, organ_code: str = "TSE") -> None:
        from gateway.infodip.feed import subscriber_destination

        self.engine = engine
        self.destination = subscriber_destination(organ_code)

    def feed_page(self, cursor: Any, limit: int) -> tuple[int, Any]:
        from gateway.infodip.feed import read_page

        with self.engine.connect() as conn:
            page = read_page(conn, self.destination, cursor or 0, limit)
        return len(page.items), (None if page.end or not page.items else page.position)


class RestTarget:
    """The same reads through a running gateway's REST endpoints (``--via rest``, the default):
    ``POST /api/v1/pessoas/situacao`` with ``{"cpf", "finalidade"}`` and ``On-Behalf-Of`` (a token of an organ granted
    ``direitos-politicos:consultar``), ``GET /api/v1/comunicacoes?desde=&ate=&cursor=&limite=`` (a token of the
    sender), ``GET /api/v1/feed?cursor=&limite=`` (a token holding ``feed:ler``). Every call is the whole endpoint:
    authentication, the audit entry, the timeline and the JSON rendering."""

    def __init__(self, url: str, authorization: dict[str, str], on_behalf_of: str = "52998224725") -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=30)
        self.authorization = authorization  # role -> Authorization header value
        self.on_behalf_of = on_behalf_of

    def _auth(self, role: str) -> dict[str, str]:
        return {"Authorization": self.authorization[role]}

    def consult(self, cpf: str) -> int:
        r = self.http.post("/api/v1/pessoas/situacao", json={"cpf": cpf, "finalidade": "0045218-09.2024.8.19.0001"},
                           headers={"On-Behalf-Of": self.on_behalf_of, **self._auth("consulta")})
        if r.status_code == 404:  # a CPF no communication is about (a coded answer, counted as found nothing)
            return 0
        r.raise_for_status()
        return len(r.json()["comunicacoes"])

    def month_page(self, organ_id: int, start: datetime, end: datetime, cursor: Any, limit: int) -> tuple[int, Any]:
        # the token is the sender's (organ_id is who it is); ``ate`` is inclusive
        params: dict[str, Any] = {"desde": start.date().isoformat(),
                                  "ate": (end - timedelta(days=1)).date().isoformat(), "limite": limit}
        if cursor:
            params["cursor"] = cursor
        r = self.http.get("/api/v1/comunicacoes", params=params, headers=self._auth("listagem"))
        r.raise_for_status()
        body = r.json()
        return len(body["itens"]), body.get("proximo")

    def feed_page(self, cursor: Any, limit: int) -> tuple[int, Any]:
        r = self.http.get("/api/v1/feed", params={"limite": limit, **({"cursor": cursor} if cursor else {})},
                          headers=self._auth("feed"))
        r.raise_for_status()
        body = r.json()
        return len(body["itens"]), (None if body["fim"] or not body["itens"] else body["proximo"])


# -- measurements ------------------------------------------------------------------------------------------------

def open_loop(call: Callable[[int], object], rate: float, duration: float) -> dict[str, Any]:
    """Call ``call(i)`` for i scheduled at t0 + i/rate during *duration* seconds, one at a time; latency from the
    scheduled instant (a slow call delays the next ones, and their latency says so)."""
    total = int(rate * duration)
    latencies: list[float] = []
    t0 = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = t0 + i / rate
        wait = scheduled - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        call(i)
        latencies.append(time.perf_counter() - scheduled)
    elapsed = time.perf_counter() - t0
    return {"requests": total, "achieved_rate": total / elapsed, "latency_ms": percentiles(latencies)}


def _cpfs(persons: int, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [person_cpf(rng.randrange(persons)) for _ in range(n)]


def consultation(engine: Engine, target: Target, persons: int, duration: float, say: Callable[[str], None],
                 seed: int = 7) -> dict[str, Any]:
    """(``--via store``) The store-level consultation by CPF at :data:`RATE` vs. the in-process indexed lookup,
    alternated twice each, one call at a time (see :func:`open_loop`)."""
    cpfs = _cpfs(persons, int(RATE * duration) + 200, seed)

    def floor_call(i: int) -> None:
        with engine.connect() as conn:
            conn.execute(_FLOOR, {"k": "cpf:" + cpfs[i]}).all()

    found = [0]

    def target_call(i: int) -> None:
        found[0] += target.consult(cpfs[i])

    for i in range(200):  # warm both paths' caches
        floor_call(i)
        target_call(i)
    found[0] = 0
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "consulta": []}
    for _ in range(2):
        runs["floor"].append(open_loop(floor_call, RATE, duration / 2))
        runs["consulta"].append(open_loop(target_call, RATE, duration / 2))
    merged = {name: _merge(rs) for name, rs in runs.items()}
    merged["communications_per_consultation"] = found[0] / max(1, sum(r["requests"] for r in runs["consulta"]))
    return _verdict(merged, "floor", say)


def _verdict(merged: dict[str, Any], floor: str, say: Callable[[str], None]) -> dict[str, Any]:
    p99, floor99 = merged["consulta"]["latency_ms"]["p99"], merged[floor]["latency_ms"]["p99"]
    ratio = p99 / floor99 if floor99 else None
    merged["ratio_p99"] = ratio
    merged["ratio_floor"] = floor
    errors = merged["consulta"].get("errors", 0)
    merged["verdict"] = "PASS" if (p99 < P99_TARGET_MS and ratio is not None and ratio <= FLOOR_RATIO_TARGET
                                   and not errors) else "FAIL"
    for name in [k for k in ("floor", "floor_http", "floor_durable", "consulta") if k in merged]:
        lat = merged[name]["latency_ms"]
        say(f"    {name:<13} {RATE:.0f} req/s offered, {merged[name]['achieved_rate']:.0f} achieved   "
            f"p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms  max {lat['max']:.1f} ms"
            + (f"  errors {merged[name]['errors']}" if merged[name].get("errors") else ""))
    per = merged.get("communications_per_consultation")
    say(f"    consulta/{floor} p99 ×{ratio:.2f} (target ≤ {FLOOR_RATIO_TARGET:g}), p99 target < {P99_TARGET_MS:g} ms"
        + (f", {per:.2f} communications per person" if per is not None else "") + f" → {merged['verdict']}")
    return merged


def consultation_rest(ctx: Context, engine: Engine, persons: int, gateway_url: str, floor_url: str,
                      authorization: str, seed: int = 7, durable_floor_url: str | None = None,
                      gateway_pid: int | None = None) -> dict[str, Any]:
    """(``--via rest``) ``POST /api/v1/pessoas/situacao`` by CPF at :data:`RATE`, open loop by ``bench.loadgen``
    (its own process on the client CPU; requests scheduled at t0 + i/R on a pool of connections, latency from the
    scheduled instant), CPFs of generated persons taken in turn; against ``floor_http``, the same indexed lookup
    behind a bare HTTP endpoint (bench/consulta_floor.py) with the same loop — the verdict's floor, since the
    gateway's answer crosses HTTP — and, for reference, ``floor``, the lookup in this process with no HTTP, and
    ``floor_durable``, the HTTP floor that also commits one row per request before answering (as the gateway must
    for the audit entry). Alternated twice each."""
    from bench.procs import loadgen

    duration = ctx.args.consulta_duration
    cpf_file = ctx.workdir / "consulta-cpfs.txt"
    cpf_file.write_text("\n".join(_cpfs(persons, 20_000, seed)) + "\n")
    template = ctx.workdir / "consulta-body.json"
    template.write_text('{"cpf": "BENCH-CPF-PLACEHOLDER", "finalidade": "0045218-09.2024.8.19.0001"}')
    cpfs = _cpfs(persons, int(RATE * duration) + 200, seed + 1)

    def floor_call(i: int) -> None:
        with engine.connect() as conn:
            conn.execute(_FLOOR, {"k": "cpf:" + cpfs[i]}).all()

    common = ["--content-type", "application/json", "--cpf-list", str(cpf_file)]
    calls: dict[str, Callable[[], dict[str, Any]]] = {
        "floor": lambda: open_loop(floor_call, RATE, duration / 2),
        "floor_http": lambda: loadgen(ctx.pinning, floor_url + "/situacao", template=template, mode="open",
                                      rate=RATE, duration=duration / 2, warmup=WARMUP_S, extra=common),
        **({"floor_durable": lambda: loadgen(ctx.pinning, durable_floor_url + "/situacao", template=template,
                                             mode="open", rate=RATE, duration=duration / 2, warmup=WARMUP_S,
                                             extra=common)} if durable_floor_url else {}),
        "consulta": lambda: _with_cpu(gateway_pid, lambda: loadgen(
            ctx.pinning, gateway_url + "/api/v1/pessoas/situacao", template=template, mode="open", rate=RATE,
            duration=duration / 2, warmup=WARMUP_S, extra=[*common, "--header", f"Authorization: {authorization}",
                                                           "--header", "On-Behalf-Of: 52998224725"]))}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in calls}
    for _ in range(2):
        for name, call in calls.items():
            runs[name].append(call())
    merged = {name: _merge(rs) for name, rs in runs.items()}
    if gateway_pid is not None:
        # the gateway's process CPU time (every thread) per answer of its runs: issue 14's lever, steadier than latency
        cpu = [r["gateway_cpu_ms_per_request"] for r in runs["consulta"] if "gateway_cpu_ms_per_request" in r]
        merged["consulta"]["gateway_cpu_ms_per_request"] = cpu
        ctx.say("    gateway CPU per consultation (process CPU time / answers, each half): "
                + " / ".join(f"{c:.2f} ms" for c in cpu))
    for name in [n for n in ("floor_http", "floor_durable", "consulta") if n in merged]:
        merged[name]["errors"] = sum(r.get("errors", 0) for r in runs[name])
        merged[name]["error_samples"] = [e for r in runs[name] for e in r.get("error_samples", [])][:3]
        for e in merged[name]["error_samples"]:
            ctx.say(f"    {name} error: {e[:200]}")
    out = _verdict(merged, "floor_http", ctx.say)
    if "floor_durable" in merged:
        d99 = merged["floor_durable"]["latency_ms"]["p99"]
        out["ratio_p99_vs_durable_floor"] = merged["consulta"]["latency_ms"]["p99"] / d99 if d99 else None
        ctx.say(f"    (reference) consulta/floor_durable p99 ×{out['ratio_p99_vs_durable_floor']:.2f}: the lookup plus "
                "one committed row per request, the least an audited answer costs")
    return out


def _with_cpu(pid: int | None, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """*run*'s result, with ``gateway_cpu_ms_per_request``: the CPU time process *pid* spent during it (warm-up
    included: ``bench.loadgen`` reports the answers of the measured window only, so this slightly overstates) per
    answer counted."""
    if pid is None:
        return run()
    from bench.consulta_cpu import _cpu_seconds

    before = _cpu_seconds(pid)
    result = run()
    spent = _cpu_seconds(pid) - before
    answers = (result.get("ok") or result.get("requests") or 0) + int(RATE * WARMUP_S)
    result["gateway_cpu_ms_per_request"] = spent * 1000 / max(answers, 1)
    return result


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    # percentiles of the union are not those of the parts; the worse of each percentile is reported (conservative)
    lat = {k: max((r["latency_ms"][k] or 0.0) for r in runs) for k in runs[0]["latency_ms"]}
    return {"requests": sum(r["requests"] for r in runs), "achieved_rate": min(r["achieved_rate"] for r in runs),
            "latency_ms": lat, "runs": [{k: v for k, v in r.items() if k != "timeline"} for r in runs]}


LISTING_INDEX = "bench_ix_messages_organ_received"


def month_listing_both(engine: Engine, target: Target, say: Callable[[str], None]) -> dict[str, Any]:
    """:func:`month_listing` on the schema as it is, then again with an index on ``messages (organ_id,
    received_at)`` — what the listing of h14a needs; this branch's schema has none — created for the measurement and
    dropped after."""
    out = {"as_is": month_listing(engine, target, say)}
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX {LISTING_INDEX} ON messages (organ_id, received_at)"))
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE messages"))
    try:
        say("    with an index on messages (organ_id, received_at):")
        out["with_index"] = month_listing(engine, target, say)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP INDEX {LISTING_INDEX}"))
    return out


def month_listing(engine: Engine, target: Target, say: Callable[[str], None],
                  organ_id: int | None = None) -> dict[str, Any]:
    """The busiest sender's (or *organ_id*'s) busiest month, read in pages of 100."""
    if organ_id is None:
        organ_id = _busiest_sender(engine)[0]
    with engine.connect() as conn:
        received = [utc(r) for (r,) in conn.execute(select(messages.c.received_at).where(
            messages.c.organ_id == organ_id))]
    by_month: dict[tuple[int, int], int] = {}
    for r in received:
        by_month[(r.year, r.month)] = by_month.get((r.year, r.month), 0) + 1
    (year, month), _n = max(by_month.items(), key=lambda kv: kv[1])
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    pages: list[float] = []
    rows = 0
    cursor: Any = None
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        n, cursor = target.month_page(organ_id, start, end, cursor, 100)
        pages.append(time.perf_counter() - t)
        rows += n
        if cursor is None:
            break
    total = time.perf_counter() - t0
    lat = percentiles(pages)
    say(f"    sender {organ_id}, {year}-{month:02d}: {rows} versions in {len(pages)} pages of 100, "
        f"{total * 1000:.0f} ms in all; per page p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms")
    return {"organ_id": organ_id, "month": f"{year}-{month:02d}", "rows": rows, "pages": len(pages),
            "total_ms": total * 1000, "page_ms": lat}


def feed_rate(target: Target | FeedReadTarget, limit_versions: int, say: Callable[[str], None],
              label: str = "feed") -> dict[str, Any]:
    """Versions/s reading the feed in pages of 1,000 from the start (up to *limit_versions*)."""
    cursor: Any = None
    read = 0
    t0 = time.perf_counter()
    while read < limit_versions:
        n, cursor = target.feed_page(cursor, 1000)
        read += n
        if cursor is None:
            break
    seconds = time.perf_counter() - t0
    rate = read / seconds if seconds else 0.0
    verdict = "PASS" if rate >= FEED_TARGET else "FAIL"
    say(f"    {label}: {read} versions in {seconds:.2f} s = {rate:,.0f} versions/s (target ≥ {FEED_TARGET:,.0f}) → "
        f"{verdict}")
    return {"versions": read, "seconds": seconds, "rate": rate, "verdict": verdict}


# -- databases ---------------------------------------------------------------------------------------------------

@contextmanager
def database(kind: str, ctx: Context) -> Iterator[str]:
    """A fresh database URL: a SQLite file in the section's directory, or a PostgreSQL schema (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{ctx.workdir / 'consulta.db'}"
        return
    base = ctx.args.pg_url or os.environ.get("GATEWAY_TEST_PG_URL", "")
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        if not ctx.args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def settle(engine: Engine, backend: str, probe_dir: Path, say: Callable[[str], None], *, quiet_ms: float = 10.0,
           limit_s: float = 300.0) -> dict[str, Any]:
    """Let the disk settle after generating, before measuring: PostgreSQL's ``CHECKPOINT`` (its dirty buffers
    written), ``sync`` (the kernel's), then a 4 KiB write + ``fsync`` in *probe_dir* every 50 ms until 20 in a row
    each took under *quiet_ms* ms, or *limit_s* seconds passed; says how it went. Returns the seconds it took,
    whether it settled and the last probes' p50/max in ms.

    Why: right after writing a million communications (several GB) the virtual disk stays slow for minutes even with
    no dirty page left in the guest (``sync`` returns at once) — every fsync waits behind writes still being
    absorbed below. Measured here: the consultation's p99 at 200 req/s on the same SQLite file was 213–1,030 ms in
    the minutes after generating and 16 ms once the disk was quiet; the in-process floor, which writes nothing,
    had a p99 of 253 ms too. The section measures the steady state, not the generator's wake."""
    started = time.monotonic()
    if backend == "postgres":
        try:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("CHECKPOINT"))
        except Exception as exc:  # CHECKPOINT needs a superuser or pg_checkpoint; the probes still wait
            say(f"    (CHECKPOINT refused: {type(exc).__name__}; the server's own checkpoints will flush)")
    os.sync()
    probe = probe_dir / "settle.probe"
    recent: list[float] = []
    settled = False
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"\0" * 4096
        while time.monotonic() - started < limit_s:
            t = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fsync(fd)
            recent = [*recent, (time.perf_counter() - t) * 1000][-20:]
            if len(recent) == 20 and max(recent) < quiet_ms:
                settled = True
                break
            time.sleep(0.05)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)
    ordered = sorted(recent) or [0.0]
    out = {"seconds": time.monotonic() - started, "settled": settled, "fsync_p50_ms": ordered[len(ordered) // 2],
           "fsync_max_ms": ordered[-1]}
    say(f"    disk {'settled' if settled else 'NOT settled (measuring anyway)'} after {out['seconds']:.0f} s: the "
        f"last 20 fsync probes p50 {out['fsync_p50_ms']:.2f} ms, max {out['fsync_max_ms']:.2f} ms")
    return out


def _busiest_sender(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        organ_id = conn.execute(select(messages.c.organ_id, func.count().label("n")).group_by(messages.c.organ_id)
                                .order_by(text("n DESC")).limit(1)).one().organ_id
        code = conn.execute(select(organs.c.code).where(organs.c.id == organ_id)).scalar_one()
    return int(organ_id), str(code)


def _grant_bench_clients(url: str, sender_code: str) -> dict[str, tuple[str, str]]:
    """The sandbox's organs, credentials and grants (TJRJ: ``direitos-politicos:consultar``; TSE: ``feed:ler``),
    and a credential for the busiest sender (its own listing); the client id and secret of each role."""
    from gateway.bootstrap import console
    from gateway.demo_grants import seed_sandbox
    from gateway.sandbox import DEMO_ORGANS
    from gateway.settings import Settings
    from tests.support import KDF_N, password_of, seed

    seed(url)  # migrations (already at head), the demo organs and their credentials (TJRJ, TSE, ...)
    with console(Settings.from_env({}, database_url=url, password_kdf_n=KDF_N)) as con:
        seed_sandbox(con.admin, {o.username: password_of(o.username) for o in DEMO_ORGANS}, DEMO_ORGANS)
        con.admin.set_credential("bench-remetente", sender_code, password_of("bench-remetente"))
    return {"consulta": ("tjrj-sistema", password_of("tjrj-sistema")),
            "feed": ("tse-repositorio", password_of("tse-repositorio")),
            "listagem": ("bench-remetente", password_of("bench-remetente"))}


def _authorizations(base: str, clients: dict[str, tuple[str, str]]) -> dict[str, str]:
    """An OAuth bearer token per role (client credentials); the sender's listing with HTTP Basic — a sender with no
    grant has no scope to put in a token, and ``GET /api/v1/comunicacoes`` takes its credential as INFODIP does."""
    import base64

    import httpx

    out = {}
    for role, (user, secret) in clients.items():
        if role == "listagem":
            out[role] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
            continue
        r = httpx.post(base + "/oauth/token", data={"grant_type": "client_credentials", "client_id": user,
                                                    "client_secret": secret}, timeout=30)
        if r.status_code != 200:
            raise RuntimeError(f"token for {user}: {r.status_code} {r.text}")
        out[role] = "Bearer " + str(r.json()["access_token"])
    return out


def _measure_rest(ctx: Context, backend: str, url: str, engine: Engine, gen: Any) -> dict[str, Any]:
    """Start the HTTP floor and a real ``gateway serve`` on *url* (rate limit raised), get the tokens, measure."""
    import sys

    from bench.procs import Server, free_port
    from bench.run import _gateway_env

    organ_id, code = _busiest_sender(engine)
    clients = _grant_bench_clients(url, code)
    py = sys.executable
    env = {**_gateway_env(url, ctx.workdir), "GATEWAY_CONSULTA_RATE_PER_MINUTE": "1000000",
           "GATEWAY_PASSWORD_KDF_N": str(2**10)}
    fport, gport = free_port(), free_port()
    floor = Server("consulta-floor", [*ctx.pinning.server, py, "-m", "bench.consulta_floor", "--url", url,
                                      "--port", str(fport)], fport, ctx.workdir / f"consulta-floor-{backend}.log",
                   env=env)
    dport = free_port()
    durable = Server("consulta-floor-durable", [*ctx.pinning.server, py, "-m", "bench.consulta_floor", "--url", url,
                                                "--port", str(dport), "--durable"], dport,
                     ctx.workdir / f"consulta-floor-durable-{backend}.log", env=env)
    gw = Server("gateway", [*ctx.pinning.server, py, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
                            "--port", str(gport)], gport, ctx.workdir / f"consulta-gateway-{backend}.log", env=env)
    before = os.sched_getaffinity(0)
    client_cpu = {int(ctx.pinning.client[2])} if ctx.pinning.client else before
    with floor, durable, gw:
        authorization = _authorizations(gw.url, clients)
        target = RestTarget(gw.url, authorization)
        found = sum(target.consult(c) for c in _cpfs(gen.persons, 50, 3))  # the answers have the communications
        os.sched_setaffinity(0, client_cpu)  # the clients on the client CPU, the servers on theirs
        try:
            ctx.say(f"    gateway and HTTP floor on {gw.url}, {floor.url}; listing as {code} (the busiest sender); "
                    f"{found / 50:.2f} communications per consulted person")
            return {"consultation": consultation_rest(ctx, engine, gen.persons, gw.url, floor.url,
                                                      authorization["consulta"], durable_floor_url=durable.url,
                                                      gateway_pid=gw.proc.pid if gw.proc else None),
                    "listing": month_listing(engine, target, ctx.say, organ_id),
                    "feed": feed_rate(target, ctx.args.consulta_feed_versions, ctx.say),
                    "feed_read_function": feed_rate(FeedReadTarget(engine), ctx.args.consulta_feed_versions, ctx.say,
                                            label="feed (read function, no HTTP)")}
        finally:
            os.sched_setaffinity(0, before)


def consulta(ctx: Context) -> dict[str, Any]:
    """The section: generate, then the three measurements, per backend."""
    scale = ctx.args.scale
    backends = ["sqlite"] + (["postgres"] if (ctx.args.pg_url or os.environ.get("GATEWAY_TEST_PG_URL")) else [])
    if "postgres" not in backends:
        ctx.say("  PostgreSQL: not measured (no --pg-url nor GATEWAY_TEST_PG_URL)")
    asked = [b.strip() for b in ctx.args.backends.split(",") if b.strip()]
    unknown = sorted(set(asked) - {"sqlite", "postgres"})
    if unknown:
        raise SystemExit(f"--backends: {', '.join(unknown)} unknown (sqlite, postgres)")
    backends = [b for b in backends if b in asked]
    ctx.say(f"  {scale:,} communications per backend; measured "
            + ("through a running gateway's REST endpoints" if ctx.args.via == "rest" else "at store level"))
    out: dict[str, Any] = {"scale": scale, "via": ctx.args.via, "backends": {}}
    verdicts = []
    for backend in backends:
        with database(backend, ctx) as url:
            ctx.say(f"  -- {backend}")
            writer = make_engine(url, writer=True)
            migrate.upgrade(writer, "head")
            gen = generate(writer, SystemClock(), scale)
            writer.dispose()
            ctx.say(f"    generated {gen.communications:,} communications, {gen.versions:,} versions, "
                    f"{gen.deliveries:,} deliveries in {gen.seconds:.0f} s ({gen.communications / gen.seconds:,.0f}/s)")
            engine = make_engine(url, pool_size=4)
            if backend == "postgres":
                with engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
            quiet = settle(engine, backend, ctx.workdir, ctx.say)
            try:
                if ctx.args.via == "rest":
                    result = {"generation": vars(gen), "settle": quiet, **_measure_rest(ctx, backend, url, engine, gen)}
                else:
                    target = StoreTarget(engine)
                    result = {"generation": vars(gen), "settle": quiet,
                              "consultation": consultation(engine, target, gen.persons, ctx.args.consulta_duration,
                                                           ctx.say),
                              "listing": month_listing_both(engine, target, ctx.say),
                              "feed": feed_rate(target, ctx.args.consulta_feed_versions, ctx.say)}
            finally:
                engine.dispose()
            verdicts += [result["consultation"]["verdict"], result["feed"]["verdict"]]
            out["backends"][backend] = result
    out["summary"] = {"verdict": "FAIL" if "FAIL" in verdicts else "PASS", "errors": 0}
    return out


def add_arguments(p: Any) -> None:
    """The section's options on the runner's parser."""
    p.add_argument("--scale", type=int, default=100_000,
                   help="consulta: communications generated per backend (the issue's figure: 1000000)")
    p.add_argument("--pg-url", default=None, help="consulta: PostgreSQL base URL (default GATEWAY_TEST_PG_URL)")
    p.add_argument("--via", choices=["store", "rest"], default="rest",
                   help="consulta: the REST endpoints of a running gateway (default) or store-level functions")
    p.add_argument("--consulta-duration", type=float, default=20.0,
                   help="consulta: measured seconds of the 200 req/s consultation (and as many of the floor)")
    p.add_argument("--backends", default="sqlite,postgres", help="consulta: which of sqlite,postgres to measure")
    p.add_argument("--consulta-feed-versions", type=int, default=200_000,
                   help="consulta: versions read from the feed for its rate")


__all__ = ["Connection", "RestTarget", "StoreTarget", "add_arguments", "consulta"]
