"""The callbacks announcing new intimations (DESIGN.md "Callbacks and webhooks"): one URL per procuradoria,
registered by ``PUT /api/v1/intimacoes/callback``, pushed by :class:`CallbackPusher` beside the relay.

The change feed's webhook pattern (:mod:`gateway.infodip.webhooks`), reusing its signature (:func:`sign`), URL check
and :class:`~gateway.infodip.webhooks.PushPolicy` (batch, timeout, backoff): the callback keeps the last intimation
position its receiver acknowledged; each push is a JSON POST ``{"evento": "intimacoes.novas", "orgao", "itens":
[<intimation as listed>…]}`` of what follows it, with ``X-Gateway-Evento-Id`` (``intimacoes:<organ>:<first>-<last>``;
receivers deduplicate by it and by each item's ``id``), ``X-Gateway-Timestamp`` and ``X-Gateway-Assinatura``
(``sha256=`` HMAC-SHA256 of ``"timestamp.body"`` with the callback's secret). A 2xx moves the position past the
batch; anything else, or no answer within the timeout, is retried with exponential backoff until a 2xx. A callback
is leased while a batch is in flight, so two gateway processes never push the same one at once. The items carry no
content: announcing does not take notice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import httpx
from sqlalchemy.engine import Row

from gateway.auth import Caller
from gateway.db.committer import GroupCommitter
from gateway.divida.intimacoes import contract, store
from gateway.divida.intimacoes.service import IntimacoesService
from gateway.errors import NotFound
from gateway.infodip.webhooks import PushPolicy, check_url, sign

log = logging.getLogger("gateway.intimacoes")


class Callbacks:
    """Register and read a procuradoria's callback."""

    def __init__(self, service: IntimacoesService, committer: GroupCommitter) -> None:
        self.service = service
        self.committer = committer
        #: called after a callback is set (bootstrap adds the pusher's wake-up)
        self.listeners: list[Callable[[], None]] = []

    async def set(self, caller: Caller, url: str, actor: str) -> contract.Callback:
        """Make *url* the callback of *caller*'s organ (announcing from the next new intimation); returns it with its
        secret (shown only now). Errors: ``GATEWAY-E103`` (not an absolute http(s) URL)."""
        url = check_url(url)
        secret = secrets.token_urlsafe(32)
        await self.committer.run(store.set_callback(caller.organ_id, url, secret, self.service.clock.now(), actor))
        for listener in self.listeners:
            listener()
        got = await self.get(caller)
        return got.model_copy(update={"segredo": secret})

    async def get(self, caller: Caller) -> contract.Callback:
        """The callback of *caller*'s organ. Errors: NotFound ``INTIM-E012``."""
        row = await anyio.to_thread.run_sync(store.callback, self.service.reader, caller.organ_id)
        if row is None:
            raise NotFound("INTIM-E012")
        return contract.Callback(url=row.url, posicao=row.position, tentativas=row.attempts,
                                 ultimoErro=row.last_error)


class CallbackPusher:
    """Pushes each due callback's new intimations (module docstring). One per gateway process."""

    def __init__(self, service: IntimacoesService, policy: PushPolicy, client: httpx.AsyncClient | None = None,
                 owner: str | None = None) -> None:
        self.service = service
        self.policy = policy
        self.client = client or httpx.AsyncClient(timeout=policy.timeout_s)
        self.owner = owner or f"intimacoes-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Push now (new intimations were stored, or a callback was set)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._wake.set)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds until *stop* is set: push every due callback, then wait for a wake-up or the poll period."""
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                busy = await self.round()
            except Exception:  # one bad round must not end the pusher; logged, retried next round
                log.exception("intimações: rodada de callbacks falhou")
                busy = False
            if busy:
                continue
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=self.policy.poll_s, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
        await self.client.aclose()

    async def round(self) -> bool:
        """Push one batch to every due callback; True when any sent a full batch (more may be waiting)."""
        svc = self.service
        if not await anyio.to_thread.run_sync(store.any_callback, svc.reader):
            return False
        due = await svc.committer.run(store.lease_due(self.owner, self.policy.lease_s), background=True)
        if not due:
            return False
        return any(await asyncio.gather(*(self._push(r) for r in due)))

    async def _push(self, cb: Row[Any]) -> bool:
        svc = self.service
        organ_id, organ_code = cb.organ_id, cb.code
        rows = await anyio.to_thread.run_sync(store.after, svc.reader, organ_id, cb.position,
                                              self.policy.batch)
        if not rows:
            await svc.committer.run(store.record_push(organ_id, self.owner, None, None, self.policy.backoff),
                                    background=True)
            return False
        first, last = rows[0].seq, rows[-1].seq
        today = svc.today()
        body = json.dumps({"evento": "intimacoes.novas", "orgao": organ_code,
                           "itens": [svc.view(r, today).model_dump() for r in rows]}, ensure_ascii=False).encode()
        stamp = int(svc.clock.now().timestamp())
        headers = {"Content-Type": "application/json", "X-Gateway-Evento-Id": f"intimacoes:{organ_code}:{first}-{last}",
                   "X-Gateway-Timestamp": str(stamp),
                   "X-Gateway-Assinatura": sign(cb.secret, stamp, body)}
        error: str | None = None
        try:
            answer = await self.client.post(cb.url, content=body, headers=headers,
                                            timeout=self.policy.timeout_s)
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:  # the receiver is unreachable, slow or broke the answer off: retried
            error = f"{type(exc).__name__}: {exc}"[:500]
        await svc.committer.run(store.record_push(organ_id, self.owner, None if error else last, error,
                                                  self.policy.backoff), background=True)
        return error is None and len(rows) == self.policy.batch
