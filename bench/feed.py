"""The change feed's read rate (issue 14: target ≥ 10,000 versions/s), against a floor measured in the same run.

- :func:`measure_feed_read` reads a destination's whole feed page by page through the gateway's own query
  (:func:`gateway.infodip.feed.read_page`: the feed rows joined with the versions, communications and organs, the
  payload included — what ``GET /api/v1/feed`` and the webhooks read) and, as the floor, the same pages of
  ``feed_entries`` joined with the payloads only, by the same index; returns versions/s of both and their ratio.
- :func:`number_unfed_versions` numbers the versions a generator wrote straight into the store (not through intake,
  so without feed rows): the outbox's rows in their order, then versions with no outbox row as TSE's (every kind goes
  to the TSE) — the same backfill as migration 0009. The statistics/consultation generator (issue 14, ``--scale``)
  calls it after writing, then :func:`measure_feed_read` on SQLite and PostgreSQL.
- :func:`populate` writes *n* versions straight into a database (for this section alone).

Section ``feed`` of ``make bench``: ``python -m bench.run --only feed`` (``--feed-versions N``, default 200,000).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.engine import Engine

from gateway.db.engine import make_engine
from gateway.db.tables import communications, feed_entries, messages, organs, outbox
from gateway.infodip.feed import read_page

TARGET_VERSIONS_PER_S = 10_000.0

_FLOOR = (
    select(feed_entries.c.seq, feed_entries.c.message_id, messages.c.payload)
    .join(messages, messages.c.message_id == feed_entries.c.message_id)
    .where(feed_entries.c.destination == bindparam("destination"), feed_entries.c.seq > bindparam("after"))
    .order_by(feed_entries.c.seq)
    .limit(bindparam("limit"))
)


def _read_all(engine: Engine, destination: str, page: int, floor: bool, limit_items: int | None) -> tuple[int, float]:
    read, after = 0, 0
    started = time.perf_counter()
    with engine.connect() as conn:
        while limit_items is None or read < limit_items:
            if floor:
                rows = conn.execute(_FLOOR, {"destination": destination, "after": after, "limit": page}).all()
                if not rows:
                    break
                read += len(rows)
                after = rows[-1].seq
            else:
                got = read_page(conn, destination, after, page)
                read += len(got.items)
                after = got.position
                if got.end:
                    break
    return read, time.perf_counter() - started


def measure_feed_read(db_url: str, destination: str = "TSE", page: int = 1000, repeats: int = 3,
                      limit_items: int | None = None) -> dict[str, Any]:
    """Read *destination*'s feed (at most *limit_items*) *repeats* times through the gateway's query and through the
    floor, best of each; returns ``{"versions", "gateway_per_s", "floor_per_s", "ratio", "target_per_s", "ok"}``
    (``ok``: the gateway's rate reaches :data:`TARGET_VERSIONS_PER_S`)."""
    engine = make_engine(db_url)
    try:
        _read_all(engine, destination, page, False, limit_items)  # warm-up: the same cache for both
        gateway = [_read_all(engine, destination, page, False, limit_items) for _ in range(repeats)]
        floor = [_read_all(engine, destination, page, True, limit_items) for _ in range(repeats)]
    finally:
        engine.dispose()
    n = gateway[0][0]
    g = max(count / max(secs, 1e-9) for count, secs in gateway)
    f = max(count / max(secs, 1e-9) for count, secs in floor)
    return {"destination": destination, "versions": n, "page": page, "gateway_per_s": round(g),
            "floor_per_s": round(f), "ratio": round(g / f, 3) if f else None,
            "target_per_s": TARGET_VERSIONS_PER_S, "ok": g >= TARGET_VERSIONS_PER_S}


def number_unfed_versions(db_url: str) -> int:
    """Give feed positions to the versions without any (written straight into the store): outbox rows first, in
    their order, then versions with no outbox row as the TSE's. Returns how many rows were added. Run it alone (no
    gateway writing meanwhile)."""
    engine = make_engine(db_url, writer=True)
    try:
        with engine.begin() as conn:
            before = conn.execute(text("SELECT COUNT(*) FROM feed_entries")).scalar_one()
            conn.execute(text(
                "INSERT INTO feed_entries (seq, destination, message_id, protocol, version, committed_at) "
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM feed_entries) + ROW_NUMBER() OVER (ORDER BY o.id), "
                "o.destination, o.message_id, o.protocol, o.version, o.created_at FROM outbox o "
                "WHERE NOT EXISTS (SELECT 1 FROM feed_entries f WHERE f.message_id = o.message_id "
                "AND f.destination = o.destination)"))
            conn.execute(text(
                "INSERT INTO feed_entries (seq, destination, message_id, protocol, version, committed_at) "
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM feed_entries) + ROW_NUMBER() OVER "
                "(ORDER BY m.received_at, m.message_id), 'TSE', m.message_id, m.protocol, m.version, m.received_at "
                "FROM messages m WHERE NOT EXISTS (SELECT 1 FROM feed_entries f WHERE f.message_id = m.message_id) "
                "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.message_id)"))
            after = conn.execute(text("SELECT COUNT(*) FROM feed_entries")).scalar_one()
        with engine.begin() as conn:  # planner statistics after a bulk load, as autovacuum would gather later
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return int(after - before)


_PAYLOAD = ("<i:comunicacao xmlns:i=\"urn:gateway-interop:infodip:1.0\" tipo=\"I\"><i:pessoa><i:nome>PESSOA {n}"
            "</i:nome><i:cpf>{cpf}</i:cpf></i:pessoa><i:processo>{n:020d}</i:processo>" + "<i:x/>" * 40 +
            "</i:comunicacao>")


def populate(db_url: str, n: int, batch: int = 5000) -> None:
    """Write *n* versions (kind I, to TSE and CNJ: one outbox row each, delivered) straight into a migrated database
    with an organ ``TJRJ``, and number them in the feed. About 1 KB of payload each."""
    engine = make_engine(db_url, writer=True)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            organ_id = conn.execute(select(organs.c.id).where(organs.c.code == "TJRJ")).scalar_one()
        for start in range(0, n, batch):
            comms, msgs, rows = [], [], []
            for i in range(start, min(n, start + batch)):
                protocol = f"20250101-{i:012d}"
                message_id = str(uuid.uuid4())
                at = now - timedelta(seconds=n - i)
                comms.append({"protocol": protocol, "kind": "I", "organ_id": organ_id, "person_key": f"p{i}",
                              "process_number": f"{i:020d}", "fact_date": date(2025, 1, 1), "status": "ativa",
                              "current_version": 1, "duplicate_of": None, "created_at": at, "updated_at": at})
                msgs.append({"message_id": message_id, "protocol": protocol, "version": 1, "operation": "envio",
                             "organ_id": organ_id, "sender_reference": f"BENCH-{i}", "payload_digest": "0" * 64,
                             "payload": _PAYLOAD.format(n=i, cpf=f"{i:011d}").encode(), "received_at": at,
                             "due_date": None, "late": False, "days_late": 0, "cancel_reason": None})
                rows += [{"message_id": message_id, "protocol": protocol, "version": 1, "destination": d,
                          "status": "delivered", "attempts": 1, "next_attempt_at": at, "created_at": at,
                          "updated_at": at} for d in ("TSE", "CNJ")]
            with engine.begin() as conn:
                conn.execute(insert(communications), comms)
                conn.execute(insert(messages), msgs)
                conn.execute(insert(outbox), rows)
    finally:
        engine.dispose()
    number_unfed_versions(db_url)
