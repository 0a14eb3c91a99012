"""Push of the change feed: webhook subscriptions and their pusher (DESIGN.md "Callbacks and webhooks").

A subscription belongs to a subscriber organ (``TSE``, ``CNJ``: :func:`gateway.infodip.feed.subscriber_destination`)
and carries its position in that destination's feed. The pusher sends what follows the position, in commit order,
in batches: a JSON POST ``{"assinatura", "destino", "itens": [...], "proximo"}`` with

- ``X-Gateway-Evento-Id``: ``<subscription>:<first position>-<last position>`` (receivers deduplicate by it, and by
  each item's ``posicao``);
- ``X-Gateway-Timestamp``: Unix seconds;
- ``X-Gateway-Assinatura``: ``sha256=<hex HMAC-SHA256 of "timestamp.body" with the subscription's secret>``.

A 2xx moves the position past the batch; anything else (or no answer within ``GATEWAY_FEED_WEBHOOK_TIMEOUT_S``) is
retried with exponential backoff, and after ``GATEWAY_FEED_WEBHOOK_MAX_ATTEMPTS`` failures in a row the subscription
is paused (``pausada``, with the reason) until someone resumes it (REST or ``gateway feed resume``). A subscription is
leased while a batch is in flight, so two gateway processes never push the same subscription at once. Every
creation, pause and resume is an audit entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from gateway.auth import Caller
from gateway.clock import Clock, utc
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import feed_entries, feed_subscriptions, organs
from gateway.errors import ClientError, NotFound
from gateway.infodip.feed import FeedService, decode_cursor, encode_cursor, item_json, subscriber_destination
from gateway.infodip.routing import DESTINATIONS

log = logging.getLogger("gateway.webhooks")
ATIVA, PAUSADA = "ativa", "pausada"


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription as stored (``position``: the last feed position its receiver acknowledged)."""

    id: str
    organ_id: int
    organ_code: str
    destination: str
    url: str
    state: str
    paused_reason: str | None
    position: int
    attempts: int
    last_error: str | None
    next_attempt_at: datetime


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Gateway-Assinatura``'s value: ``sha256=`` + hex HMAC-SHA256 of ``"timestamp.body"`` with *secret*."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_url(url: str) -> str:
    """*url* when it is an absolute http(s) URL with a host. Errors: ClientError GATEWAY-E103."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise ClientError("GATEWAY-E103", field="url")
    return url.strip()


_Q_SUBS = select(feed_subscriptions, organs.c.code).join(organs, organs.c.id == feed_subscriptions.c.organ_id)


def _subscription(r: Any) -> Subscription:
    return Subscription(r.id, r.organ_id, r.code, r.destination, r.url, r.state, r.paused_reason, r.position,
                        r.attempts, r.last_error, utc(r.next_attempt_at))


class WebhookService:
    """Subscriptions' use cases: create, list, pause, resume (each change one committer job with its audit entry)."""

    def __init__(self, reader: Engine, committer: GroupCommitter, clock: Clock,
                 listeners: list[Callable[[], None]] | None = None) -> None:
        self.reader = reader
        self.committer = committer
        self.clock = clock
        #: called after a subscription is created or resumed (bootstrap adds the pusher's wake-up)
        self.listeners = listeners if listeners is not None else []

    async def create(self, caller: Caller, url: str, cursor: str | None, *, actor: str) -> tuple[Subscription, str]:
        """A new active subscription of *caller*'s slice of the feed, from the beginning (backfill) or after
        *cursor*; returns it and its secret (shown only now). Errors: GATEWAY-E101, GATEWAY-E103, GATEWAY-E100."""
        destination = subscriber_destination(caller.organ_code)
        url = check_url(url)
        position = decode_cursor(cursor, destination)
        ident, secret, now = uuid.uuid4().hex, secrets.token_urlsafe(32), self.clock.now()

        def job(ctx: WriteContext) -> None:
            ctx.conn.execute(insert(feed_subscriptions).values(
                id=ident, organ_id=caller.organ_id, destination=destination, url=url, secret=secret,
                position=position, state=ATIVA, attempts=0, next_attempt_at=now, created_at=now, updated_at=now))
            ctx.audit.append(ctx.conn, "feed.assinatura.criada", now, organ_id=caller.organ_id, detail={
                "assinatura": ident, "destino": destination, "url": url, "posicao": position, "usuario": actor})

        await self.committer.run(job)
        self._notify()
        return self.get(ident), secret

    def get(self, ident: str, organ_id: int | None = None) -> Subscription:
        """Subscription *ident* (of *organ_id* when given). Errors: NotFound GATEWAY-E102."""
        with self.reader.connect() as conn:
            row = conn.execute(_Q_SUBS.where(feed_subscriptions.c.id == ident)).first()
        if row is None or (organ_id is not None and row.organ_id != organ_id):
            raise NotFound("GATEWAY-E102", field="id")
        return _subscription(row)

    def list(self, organ_id: int | None = None) -> list[Subscription]:
        """The subscriptions of *organ_id* (None: every one), oldest first."""
        q = _Q_SUBS.order_by(feed_subscriptions.c.created_at, feed_subscriptions.c.id)
        if organ_id is not None:
            q = q.where(feed_subscriptions.c.organ_id == organ_id)
        with self.reader.connect() as conn:
            return [_subscription(r) for r in conn.execute(q)]

    async def pause(self, ident: str, organ_id: int | None, *, actor: str, reason: str | None = None) -> Subscription:
        """Stop pushing *ident* (its position stays). Errors: GATEWAY-E102."""
        return await self._set_state(ident, organ_id, PAUSADA, reason or f"pausada por {actor}", actor)

    async def resume(self, ident: str, organ_id: int | None, *, actor: str) -> Subscription:
        """Push *ident* again from its position, attempts reset. Errors: GATEWAY-E102."""
        sub = await self._set_state(ident, organ_id, ATIVA, None, actor)
        self._notify()
        return sub

    def pause_sync(self, ident: str, *, actor: str) -> Subscription:
        """:meth:`pause` for a command without an event loop (the CLI)."""
        return self._set_state_sync(ident, PAUSADA, f"pausada por {actor}", actor)

    def resume_sync(self, ident: str, *, actor: str) -> Subscription:
        """:meth:`resume` for a command without an event loop (the CLI)."""
        return self._set_state_sync(ident, ATIVA, None, actor)

    def _state_job(self, ident: str, state: str, reason: str | None, actor: str) -> Callable[[WriteContext], None]:
        now = self.clock.now()

        def job(ctx: WriteContext) -> None:
            values: dict[str, Any] = {"state": state, "paused_reason": reason, "updated_at": now}
            if state == ATIVA:
                values.update(attempts=0, next_attempt_at=now, last_error=None)
            ctx.conn.execute(update(feed_subscriptions).where(feed_subscriptions.c.id == ident).values(**values))
            ctx.audit.append(ctx.conn, "feed.assinatura.retomada" if state == ATIVA else "feed.assinatura.pausada",
                             now, detail={"assinatura": ident, "motivo": reason, "usuario": actor})
        return job

    async def _set_state(self, ident: str, organ_id: int | None, state: str, reason: str | None,
                         actor: str) -> Subscription:
        await anyio.to_thread.run_sync(self.get, ident, organ_id)  # GATEWAY-E102 before any write
        await self.committer.run(self._state_job(ident, state, reason, actor))
        return self.get(ident)

    def _set_state_sync(self, ident: str, state: str, reason: str | None, actor: str) -> Subscription:
        self.get(ident)
        self.committer.run_sync(self._state_job(ident, state, reason, actor))
        if state == ATIVA:
            self._notify()
        return self.get(ident)

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()


def sandbox_subscription(run: Callable[[Callable[[WriteContext], str]], str], organ_code: str, url: str,
                         secret: str, now: datetime) -> str:
    """The sandbox's webhook: replace *organ_code*'s subscriptions with one to *url* from the beginning (its
    simulator starts empty at every sandbox start), with *secret*; *run* runs the job in a transaction (the admin
    service's runner). Returns its id."""
    ident = uuid.uuid4().hex

    def job(ctx: WriteContext) -> str:
        organ_id = ctx.conn.execute(select(organs.c.id).where(organs.c.code == organ_code)).scalar_one()
        ctx.conn.execute(feed_subscriptions.delete().where(feed_subscriptions.c.organ_id == organ_id))
        ctx.conn.execute(insert(feed_subscriptions).values(
            id=ident, organ_id=organ_id, destination=subscriber_destination(organ_code), url=check_url(url),
            secret=secret, position=0, state=ATIVA, attempts=0, next_attempt_at=now, created_at=now,
            updated_at=now))
        ctx.audit.append(ctx.conn, "feed.assinatura.criada", now, organ_id=organ_id, detail={
            "assinatura": ident, "destino": organ_code, "url": url, "posicao": 0, "usuario": "sandbox"})
        return ident

    return run(job)


@dataclass(frozen=True)
class PushPolicy:
    """The pusher's timings: batch size, HTTP timeout, backoff (base doubling up to max), failures before pausing,
    the idle poll period and the lease of a subscription while a batch is in flight."""

    batch: int = 100
    timeout_s: float = 10.0
    base_backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    max_attempts: int = 10
    poll_s: float = 1.0
    lease_s: float = 60.0

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt *attempts* + 1."""
        return float(min(self.max_backoff_s, self.base_backoff_s * 2 ** max(0, attempts - 1)))


class WebhookPusher:
    """Pushes each active subscription's feed to its URL (module docstring). One per gateway process."""

    def __init__(self, feed: FeedService, committer: GroupCommitter, clock: Clock, policy: PushPolicy,
                 client: httpx.AsyncClient | None = None, owner: str | None = None) -> None:
        self.feed = feed
        self.committer = committer
        self.clock = clock
        self.policy = policy
        self.client = client or httpx.AsyncClient(timeout=policy.timeout_s)
        self.owner = owner or f"pusher-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: until when (the clock's monotonic seconds) "no subscription is active" is taken as known: intake wakes
        #: the pusher after every commit, and without this each wake cost a thread hop and a read (issue 17)
        self._none_active_until = float("-inf")

    def wake(self) -> None:
        """Push now (called after intake commits a version). When the last look, less than ``poll_s`` ago, found
        no active subscription, the round takes that answer instead of reading again: a subscription created or
        resumed elsewhere is seen within ``poll_s``, as it was before; here, :meth:`subscriptions_changed`."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._wake.set)

    def subscriptions_changed(self) -> None:
        """Push now and look again for active subscriptions (called when one is created, resumed or paused)."""
        self._none_active_until = float("-inf")
        self.wake()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds until *stop* is set: push every due subscription, then wait for a wake-up or the poll period."""
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                busy = await self.round()
            except Exception:  # one bad round must not end the pusher; logged, retried next round
                log.exception("webhook round failed")
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
        """Push one batch to every due active subscription with something to send; True when any sent a full
        batch (more may be waiting)."""
        if self.clock.monotonic() < self._none_active_until:
            return False
        if not await anyio.to_thread.run_sync(self._any_active):
            self._none_active_until = self.clock.monotonic() + self.policy.poll_s
            return False
        due = await self.committer.run(self._lease_job(), background=True)
        if not due:
            return False
        results = await asyncio.gather(*(self._push(s) for s in due))
        return any(results)

    def _any_active(self) -> bool:
        """Whether any subscription is active (a read, so an idle gateway writes nothing every period)."""
        with self.feed.reader.connect() as conn:
            return conn.execute(select(feed_subscriptions.c.id).where(
                feed_subscriptions.c.state == ATIVA).limit(1)).first() is not None

    def _lease_job(self) -> Callable[[WriteContext], list[Subscription]]:
        policy, owner = self.policy, self.owner

        def job(ctx: WriteContext) -> list[Subscription]:
            now = ctx.clock.now()
            conn = ctx.conn
            heads = {d: conn.execute(_Q_HEAD, {"destination": d}).scalar_one() or 0 for d in DESTINATIONS}
            rows = conn.execute(_Q_SUBS.where(
                feed_subscriptions.c.state == ATIVA, feed_subscriptions.c.next_attempt_at <= now,
                or_(feed_subscriptions.c.lease_until.is_(None), feed_subscriptions.c.lease_until < now))).all()
            due = [r for r in rows if heads.get(r.destination, 0) > r.position]
            for r in due:
                conn.execute(update(feed_subscriptions).where(feed_subscriptions.c.id == r.id).values(
                    lease_owner=owner, lease_until=now + timedelta(seconds=policy.lease_s)))
            return [_subscription(r) for r in due]
        return job

    async def _push(self, sub: Subscription) -> bool:
        page = await anyio.to_thread.run_sync(self.feed.after, sub.destination, sub.position, self.policy.batch)
        if not page.items:
            await self.committer.run(self._record(sub, None, None), background=True)
            return False
        first, last = page.items[0].position, page.position
        body = json.dumps({"assinatura": sub.id, "destino": sub.destination,
                           "itens": [item_json(i) for i in page.items],
                           "proximo": encode_cursor(sub.destination, last)}, ensure_ascii=False).encode()
        secret = await anyio.to_thread.run_sync(self._secret, sub.id)
        stamp = int(self.clock.now().timestamp())
        headers = {"Content-Type": "application/json", "X-Gateway-Evento-Id": f"{sub.id}:{first}-{last}",
                   "X-Gateway-Timestamp": str(stamp), "X-Gateway-Assinatura": sign(secret, stamp, body)}
        error: str | None = None
        try:
            answer = await self.client.post(sub.url, content=body, headers=headers, timeout=self.policy.timeout_s)
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:  # the receiver is unreachable, slow or broke the answer off: retried
            error = f"{type(exc).__name__}: {exc}"[:500]
        await self.committer.run(self._record(sub, None if error else last, error), background=True)
        return error is None and not page.end

    def _secret(self, ident: str) -> str:
        with self.feed.reader.connect() as conn:
            return str(conn.execute(select(feed_subscriptions.c.secret).where(
                feed_subscriptions.c.id == ident)).scalar_one())

    def _record(self, sub: Subscription, delivered_to: int | None,
                error: str | None) -> Callable[[WriteContext], None]:
        policy, owner = self.policy, self.owner

        def job(ctx: WriteContext) -> None:
            now = ctx.clock.now()
            mine = and_(feed_subscriptions.c.id == sub.id, feed_subscriptions.c.lease_owner == owner)
            values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "updated_at": now}
            if error is None:
                if delivered_to is not None:
                    values.update(position=delivered_to, attempts=0, last_error=None)
                ctx.conn.execute(update(feed_subscriptions).where(mine).values(**values))
                return
            attempts = _attempts(ctx.conn, sub.id) + 1
            values.update(attempts=attempts, last_error=error,
                          next_attempt_at=now + timedelta(seconds=policy.backoff(attempts)))
            if attempts >= policy.max_attempts:
                reason = f"pausada após {attempts} falhas seguidas: {error}"
                values.update(state=PAUSADA, paused_reason=reason)
                ctx.audit.append(ctx.conn, "feed.assinatura.pausada", now, organ_id=sub.organ_id,
                                 detail={"assinatura": sub.id, "motivo": reason, "usuario": "gateway"})
            ctx.conn.execute(update(feed_subscriptions).where(mine).values(**values))
        return job


_Q_HEAD = select(func.max(feed_entries.c.seq)).where(feed_entries.c.destination == bindparam("destination"))


def _attempts(conn: Connection, ident: str) -> int:
    return int(conn.execute(select(feed_subscriptions.c.attempts).where(
        feed_subscriptions.c.id == ident)).scalar_one())
