"""The change feed (Res. Conjunta 6/2020 art. 12: the TSE shares with the CNJ what it receives): every accepted version,
in commit order, per destination, resumable from an opaque cursor.

**No gap under several writers.** A feed ordered by an identity or a sequence assigned at *insert* skips rows on
PostgreSQL with several writers: transaction A takes number 7, B takes 8 and commits first, a reader sees 8, moves
its cursor past it, and never sees 7 once A commits. Here a number is assigned at the *end* of the writer's
transaction, just before its commit (:meth:`WriteContext.before_commit`): on PostgreSQL under a transaction-scoped
advisory lock (:data:`FEED_LOCK`), taking ``max(seq) + 1``; the lock is released only once the commit is visible
(PostgreSQL makes a transaction visible before it releases its locks), so the numbers are contiguous and in commit
order, and a reader that sees N sees every number below N. The lock is held only for that last insert and the
commit — one per group-commit batch, not per request. On SQLite there is one writer at a time (the database lock,
held from the transaction's first write), so ``max(seq) + 1`` is commit order already.

**Minimisation.** Each row is one version × one destination its outbox rows name — what the routing table
(:mod:`gateway.infodip.routing`) sends there, including the earlier versions of a history a destination joins — so a
subscriber (the organ whose code is a destination: ``TSE``, ``CNJ``) reads only its own slice.

**Backfill.** A subscriber without a cursor starts at position 0; migration 0009 numbered the versions accepted before
it in the outbox's order.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import Connection, Engine

from gateway.auth import Caller
from gateway.clock import Clock, utc
from gateway.db.bulk import insert_many
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import communications, feed_entries, messages, organs
from gateway.errors import ClientError, NotAllowed
from gateway.infodip.routing import DESTINATIONS

#: the PostgreSQL advisory lock under which feed numbers are assigned (``pg_advisory_xact_lock``; "feed" in ASCII)
FEED_LOCK = 0x66656564
#: the most items one page may ask for (``limite``)
MAX_PAGE = 1000
_STATE = "feed.rows"


def record(ctx: WriteContext, rows: Iterable[tuple[str, str, int, str]]) -> None:
    """Queue feed rows — ``(message_id, protocol, version, destination)`` — to be numbered and inserted just before
    the transaction of *ctx* commits (module docstring). Call it wherever an outbox row is created."""
    pending: list[tuple[str, str, int, str]] = ctx.state.setdefault(_STATE, [])
    pending.extend(rows)
    if pending:
        ctx.before_commit(_STATE, lambda conn: _flush(conn, pending, ctx.clock.now()))


_MAX = select(func.coalesce(func.max(feed_entries.c.seq), 0))


def _flush(conn: Connection, pending: Sequence[tuple[str, str, int, str]], now: datetime) -> None:
    if not pending:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})
    start = int(conn.execute(_MAX).scalar_one())
    insert_many(conn, feed_entries, [{"seq": start + i, "message_id": m, "protocol": p, "version": v, "destination": d,
                                      "committed_at": now} for i, (m, p, v, d) in enumerate(pending, 1)])


# -- cursors ---------------------------------------------------------------------------------------------------------

def encode_cursor(destination: str, position: int) -> str:
    """The opaque cursor of *destination*'s feed after *position* (URL-safe base64 of a small JSON)."""
    raw = json.dumps({"v": 1, "d": destination, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, destination: str) -> int:
    """The position a cursor resumes after (0 for none: from the beginning). Errors: ClientError GATEWAY-E100 (not a
    cursor of this gateway, or one of another subscriber's feed)."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = data["p"]
        # a position is a BIGINT (not a bool, which json reads as int): a forged larger one would fail in the database
        ok = (data.get("v") == 1 and data.get("d") == destination and type(position) is int
              and 0 <= position < 2**63)
    except (ValueError, KeyError, TypeError, binascii.Error):
        ok = False
    if not ok:
        raise ClientError("GATEWAY-E100", field="cursor")
    return int(position)


def subscriber_destination(organ_code: str | None) -> str:
    """The destination whose slice of the feed an organ reads: its code when it is one (``TSE``, ``CNJ``). Errors:
    NotAllowed GATEWAY-E101 for any other organ (the feed shares only what the routing table gives each store)."""
    if organ_code not in DESTINATIONS:
        raise NotAllowed("GATEWAY-E101", field="Authorization")
    return str(organ_code)


# -- reading ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedItem:
    """One version in a destination's feed: ``position`` (commit order), the version's ids, its operation
    (``envio`` | ``retificacao`` | ``cancelamento``), kind (``I``…``IX``), sending organ's code, when the gateway
    accepted it (UTC) and the exact C14N bytes stored (``payload``)."""

    position: int
    message_id: str
    protocol: str
    version: int
    operation: str
    kind: str
    sender: str
    received_at: datetime
    payload: bytes


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed: its items, the position to resume after, and whether it reached the end for now."""

    items: tuple[FeedItem, ...]
    position: int
    end: bool


_Q_PAGE = (
    select(feed_entries.c.seq, feed_entries.c.message_id, feed_entries.c.protocol, feed_entries.c.version,
           messages.c.operation, communications.c.kind, organs.c.code, messages.c.received_at, messages.c.payload)
    .join(messages, messages.c.message_id == feed_entries.c.message_id)
    .join(communications, communications.c.protocol == feed_entries.c.protocol)
    .join(organs, organs.c.id == messages.c.organ_id)
    .where(feed_entries.c.destination == bindparam("destination"), feed_entries.c.seq > bindparam("after"))
    .order_by(feed_entries.c.seq)
    .limit(bindparam("limit"))
)


def read_page(conn: Connection, destination: str, after: int, limit: int) -> FeedPage:
    """Up to *limit* items of *destination*'s feed after position *after*, in commit order."""
    rows = conn.execute(_Q_PAGE, {"destination": destination, "after": after, "limit": limit + 1}).all()
    items = tuple(FeedItem(r.seq, r.message_id, r.protocol, r.version, r.operation, r.kind, r.code,
                           utc(r.received_at), bytes(r.payload)) for r in rows[:limit])
    return FeedPage(items, items[-1].position if items else after, len(rows) <= limit)


class FeedService:
    """Reads the feed on the reader engine: the pull of ``GET /api/v1/feed`` (audited) and the webhooks' pusher."""

    def __init__(self, reader: Engine, committer: GroupCommitter, clock: Clock) -> None:
        self.reader = reader
        self.committer = committer
        self.clock = clock

    async def pull(self, caller: Caller, cursor: str | None, limit: int, *, channel: str) -> tuple[str, FeedPage]:
        """The caller's destination and a page of its feed after *cursor*, then the audit entry ``feed.leitura``
        (who, which destination, the positions read), durable before the answer: the feed carries personal data
        (LGPD art. 37). Errors: GATEWAY-E101 (not a subscriber), GATEWAY-E100 (bad cursor), INFODIP-E091."""
        destination = subscriber_destination(caller.organ_code)
        page = await anyio.to_thread.run_sync(self.page, destination, cursor, limit)
        at = self.clock.now()
        first = page.items[0].position if page.items else None

        def job(ctx: WriteContext) -> None:
            ctx.audit.append(ctx.conn, "feed.leitura", at, organ_id=caller.organ_id, detail={
                "usuario": caller.username, "canal": channel, "destino": destination, "de": first,
                "ate": page.position, "itens": len(page.items)})

        await self.committer.run(job)
        return destination, page

    def page(self, destination: str, cursor: str | None, limit: int) -> FeedPage:
        """A page of *destination*'s feed after *cursor* (none: from the beginning). Errors: GATEWAY-E100."""
        after = decode_cursor(cursor, destination)
        with self.reader.connect() as conn:
            return read_page(conn, destination, after, limit)

    def after(self, destination: str, position: int, limit: int) -> FeedPage:
        """A page of *destination*'s feed after *position*."""
        with self.reader.connect() as conn:
            return read_page(conn, destination, position, limit)


def item_json(item: FeedItem) -> dict[str, Any]:
    """An item as the REST feed and the webhooks carry it (Portuguese members)."""
    return {"posicao": item.position, "idMensagem": item.message_id, "protocolo": item.protocol,
            "versao": item.version, "operacao": item.operation, "tipo": item.kind, "orgaoRemetente": item.sender,
            "dataRecebimento": item.received_at.isoformat(), "comunicacaoXml": item.payload.decode()}
