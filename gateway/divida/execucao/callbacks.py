"""The execuções fiscais' status callbacks (issue 12 point 5; DESIGN.md "Callbacks and webhooks"): each change of a
filing that named a ``callbackUrl`` is stored as an event in the transaction of the change (``execucao_eventos``)
and POSTed by :class:`CallbackPusher` — JSON ``{"evento": "execucao.situacao", "id", "situacao", "numeroProcesso",
"protocolo", "motivo"}`` with ``X-Gateway-Evento-Id`` (the event's id: receivers deduplicate by it),
``X-Gateway-Timestamp`` and ``X-Gateway-Assinatura`` (``sha256=`` HMAC of ``"timestamp.body"`` with the filing's
``segredoCallback``) — retried with a doubling backoff until a 2xx. Events go out in their order per filing; two
gateway processes may both send one event, which the receiver's deduplication absorbs."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
import httpx
from sqlalchemy import select, update
from sqlalchemy.engine import Engine, Row

from gateway.clock import Clock
from gateway.db.committer import GroupCommitter, Job, WriteContext
from gateway.db.tables import execucao_eventos, execucoes
from gateway.errors import GatewayError
from gateway.infodip.webhooks import sign

log = logging.getLogger("gateway.execucao.callbacks")


def due(reader: Engine, now: datetime, limit: int) -> list[Row[Any]]:
    """Up to *limit* undelivered events due at *now*, oldest first, with their filing's secret."""
    e = execucao_eventos.c
    q = (select(e.id, e.execucao_id, e.url, e.body, e.attempts, execucoes.c.callback_secret)
         .join(execucoes, execucoes.c.id == e.execucao_id)
         .where(e.delivered_at.is_(None), e.next_attempt_at <= now).order_by(e.seq).limit(limit))
    with reader.connect() as conn:
        return list(conn.execute(q).all())  # type: ignore[arg-type]


def mark(ident: str, now: datetime, ok: bool, error: str | None, retry_at: datetime | None) -> Job[None]:
    """A job recording one delivery attempt."""

    def job(ctx: WriteContext) -> None:
        e = execucao_eventos.c
        values: dict[str, Any] = {"attempts": e.attempts + 1, "last_error": error}
        if ok:
            values["delivered_at"] = now
        else:
            values["next_attempt_at"] = retry_at
        ctx.conn.execute(update(execucao_eventos).where(e.id == ident).values(**values))
    return job


class CallbackPusher:
    """Delivers the due events (module docstring); each POST bounded by *timeout_s*."""

    def __init__(self, reader: Engine, committer: GroupCommitter, clock: Clock, *, timeout_s: float = 10.0,
                 poll_s: float = 1.0, base_backoff_s: float = 1.0, max_backoff_s: float = 300.0) -> None:
        self.reader = reader
        self.committer = committer
        self.clock = clock
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds every *poll_s* until *stop* is set."""
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            while not stop.is_set():
                try:
                    await self.round(client)
                except GatewayError:
                    log.exception("callbacks de execuções: rodada falhou")
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_s)
                except TimeoutError:
                    pass

    async def round(self, client: httpx.AsyncClient) -> int:
        """Send what is due; returns how many were delivered."""
        rows = await anyio.to_thread.run_sync(due, self.reader, self.clock.now(), 100)
        sent: set[str] = set()
        delivered = 0
        for r in rows:
            if r.execucao_id in sent:  # one event per filing per round: their order holds
                continue
            sent.add(r.execucao_id)
            body = json.dumps({"evento": "execucao.situacao", **json.loads(r.body)}, ensure_ascii=False,
                              separators=(",", ":")).encode()
            stamp = int(self.clock.now().timestamp())
            headers = {"Content-Type": "application/json", "X-Gateway-Evento-Id": r.id,
                       "X-Gateway-Timestamp": str(stamp), "X-Gateway-Assinatura": sign(r.callback_secret or "",
                                                                                        stamp, body)}
            error = None
            try:
                answer = await client.post(r.url, content=body, headers=headers)
                ok = 200 <= answer.status_code < 300
                error = None if ok else f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
            delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** min(r.attempts, 12))
            now = self.clock.now()
            await self.committer.run(mark(r.id, now, ok, error, None if ok else now + timedelta(seconds=delay)))
            delivered += ok
        return delivered
