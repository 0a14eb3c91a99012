"""Revocation: what a process knows of credentials, organs and grants, and the bound on how late it learns a change.

Verdicts (:class:`gateway.auth.Authenticator`, 60 s) and bearer tokens (:mod:`gateway.tokens`, 900 s) outlive the
password check that produced them, so each carries the credential's id and ``version``; every use checks them
against a :class:`Snapshot` of every credential — its version, whether it and its organ are active, its organ's
grants. Every administrative change (:mod:`gateway.admin`) bumps the credential's version where it concerns one,
and the one row of ``auth_epoch`` in the same transaction (:func:`bump_epoch`).

The bound: a snapshot is used only while it was confirmed current less than ``refresh_s`` ago
(``GATEWAY_AUTH_REFRESH_S``, 1 s by default, at most 2 s). Past that, the next caller awaits one read of the epoch
(off the event loop, shared by every concurrent caller), and a reload of the snapshot when the epoch moved. So a
revoked or changed password, a disabled organ or a revoked grant stops working on every process at most
``refresh_s`` (plus that one read) after its transaction commits, and *at once* on the process that made the change
(:meth:`AuthState.invalidate`, called by the admin service after its commit). A database that cannot be read fails
closed: the error propagates and nothing cached is trusted.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import anyio.to_thread
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from gateway.clock import Clock, SystemClock
from gateway.db.tables import auth_epoch, credentials, organ_grants, organs
from gateway.infodip.domain import Kind, competent_kinds
from gateway.organs import OrganType

#: The largest refresh period the README promises (GATEWAY_AUTH_REFRESH_S may be lower, never higher).
MAX_REFRESH_S = 2.0


@dataclass(frozen=True)
class CredentialState:
    """One credential as the database last said: its version, whether it may be used (it and its organ active),
    and its organ (with the organ's INFODIP kinds and REST grants)."""

    credential_id: int
    username: str
    version: int
    usable: bool
    organ_id: int
    organ_code: str
    organ_type: OrganType
    kinds: frozenset[Kind]
    grants: frozenset[str]


@dataclass(frozen=True)
class Snapshot:
    """Every credential's state at ``epoch``."""

    epoch: int
    credentials: Mapping[int, CredentialState]

    def current(self, credential_id: int, version: int) -> CredentialState | None:
        """The state of *credential_id* when it is still usable at *version*; None when it was revoked, changed,
        its organ disabled, or it is not known to this snapshot."""
        state = self.credentials.get(credential_id)
        if state is None or not state.usable or state.version != version:
            return None
        return state


def read_epoch(conn: Connection) -> int:
    """The epoch (0 on a database whose row is missing)."""
    value = conn.execute(select(auth_epoch.c.epoch).where(auth_epoch.c.id == 1)).scalar()
    return int(value or 0)


def bump_epoch(conn: Connection, at: datetime) -> None:
    """Advance the epoch inside *conn*'s transaction (every change of credentials, organs or grants calls it)."""
    conn.execute(update(auth_epoch).where(auth_epoch.c.id == 1).values(epoch=auth_epoch.c.epoch + 1, updated_at=at))


def load_snapshot(conn: Connection, epoch: int) -> Snapshot:
    """Every credential's state, read after *epoch* (so at least as new as it)."""
    grants: dict[int, set[str]] = {}
    for organ_id, scope in conn.execute(select(organ_grants.c.organ_id, organ_grants.c.scope)):
        grants.setdefault(organ_id, set()).add(scope)
    rows = conn.execute(select(
        credentials.c.id, credentials.c.username, credentials.c.version, credentials.c.active, organs.c.id.label(
            "organ_id"), organs.c.code, organs.c.organ_type, organs.c.kinds, organs.c.active.label("organ_active"))
        .join(organs, organs.c.id == credentials.c.organ_id))
    states = {}
    for r in rows:
        organ_type = OrganType(r.organ_type)
        states[r.id] = CredentialState(
            r.id, r.username, r.version, bool(r.active and r.organ_active), r.organ_id, r.code, organ_type,
            competent_kinds(organ_type, r.kinds.split(",") if r.kinds else None),
            frozenset(grants.get(r.organ_id, ())))
    return Snapshot(epoch, states)


class AuthState:
    """This process's :class:`Snapshot`, confirmed current at most ``refresh_s`` ago (see the module docstring).
    Used from one event loop; :meth:`invalidate` may be called from any thread."""

    def __init__(self, engine: Engine, clock: Clock | None = None, refresh_s: float = 1.0) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self.refresh_s = refresh_s
        self._snapshot: Snapshot | None = None
        self._checked = -math.inf
        self._generation = 0
        self._refreshing: asyncio.Future[Snapshot] | None = None
        self._refreshing_generation = -1
        self.reloads = 0

    @property
    def generation(self) -> int:
        """How many times :meth:`invalidate` was called: work begun under an older generation predates a change
        made here."""
        return self._generation

    def invalidate(self) -> None:
        """Forget that the snapshot is current: the next caller reads the epoch (the admin service calls this after
        committing a change, so the change applies here at once)."""
        self._generation += 1
        self._checked = -math.inf

    async def fresh(self, *, force: bool = False) -> Snapshot:
        """The snapshot, confirmed current less than ``refresh_s`` ago (or now, with *force*). Errors: the
        database's, untranslated (a reader that fails leaves nothing trusted)."""
        if force:
            self.invalidate()
        snapshot = self._snapshot
        if snapshot is not None and self.clock.monotonic() - self._checked < self.refresh_s:
            return snapshot
        pending = self._refreshing
        if (pending is None or self._refreshing_generation != self._generation
                or pending.get_loop() is not asyncio.get_running_loop()):
            self._refreshing_generation = self._generation
            pending = self._refreshing = asyncio.ensure_future(self._refresh(self._generation))
        return await asyncio.shield(pending)

    async def _refresh(self, generation: int) -> Snapshot:
        started = self.clock.monotonic()
        try:
            snapshot = await anyio.to_thread.run_sync(self.load, self._snapshot)
        finally:
            if self._refreshing_generation == generation:
                self._refreshing = None
        if self._snapshot is None or snapshot.epoch >= self._snapshot.epoch:
            self._snapshot = snapshot
        if generation == self._generation:  # no change made here meanwhile: current as of when the read began
            self._checked = started
        return snapshot

    def load(self, previous: Snapshot | None = None) -> Snapshot:
        """Read the epoch and, when it moved since *previous* (or there is none), the whole snapshot (blocking:
        call it off the event loop)."""
        with self.engine.connect() as conn:
            epoch = read_epoch(conn)
            if previous is not None and previous.epoch == epoch:
                return previous
            self.reloads += 1
            return load_snapshot(conn, epoch)
