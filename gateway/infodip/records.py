"""What the INFODIP use cases give back: the receipt of an accepted version and the view of a stored communication.

Plain dataclasses — and one read, :func:`store_outcomes`, the stores' processing outcome of given versions, shared by
the consultation by protocol and the listing. The service builds them; the contract (SOAP) and the REST edge render
them. They live apart from both so that the service imports the contract and the contract never imports the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from gateway.clock import utc
from gateway.db.tables import store_outcomes as _store_outcomes


@dataclass(frozen=True)
class Receipt:
    """What the gateway answers for an accepted version (new, or replayed for a repeated idempotency key).

    ``operation`` is ``envio``, ``retificacao`` or ``cancelamento``; ``kind`` the communication's kind (``I``…``IX``);
    ``received_at`` is UTC; ``due_date`` and lateness follow art. 7º of Res. Conjunta 6/2020 (none for a
    cancelamento); ``destinations`` are the stores this version is routed to, in routing-table order."""

    protocol: str
    version: int
    message_id: str
    operation: str
    kind: str
    received_at: datetime
    replay: bool
    due_date: date | None
    late: bool
    days_late: int
    duplicate_of: str | None
    destinations: tuple[str, ...]


@dataclass(frozen=True)
class StoreOutcome:
    """What a national store did with a version after receiving it (DOMAIN.md §2a), as it reported it:
    ``outcome`` is ``processado``, ``eleitor-nao-encontrado`` or ``revisao-manual``; ``processed_at`` (UTC) when the
    store says it processed it; ``recorded_at`` when the gateway learnt it."""

    message_id: str
    destination: str
    outcome: str
    detail: str | None
    processed_at: datetime | None
    recorded_at: datetime


def store_outcomes(conn: Connection, message_ids: Iterable[str]) -> dict[str, tuple[StoreOutcome, ...]]:
    """The outcomes recorded for *message_ids* (version ids), by message id, in destination order; a version the
    stores have not reported on yet is absent. One query per 500 ids."""
    ids = list(dict.fromkeys(message_ids))
    out: dict[str, list[StoreOutcome]] = {}
    for i in range(0, len(ids), 500):
        rows = conn.execute(select(_store_outcomes).where(_store_outcomes.c.message_id.in_(ids[i:i + 500]))
                            .order_by(_store_outcomes.c.message_id, _store_outcomes.c.destination))
        for r in rows:
            out.setdefault(r.message_id, []).append(StoreOutcome(
                r.message_id, r.destination, r.outcome, r.detail,
                utc(r.processed_at) if r.processed_at is not None else None, utc(r.recorded_at)))
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class VersionView:
    """One stored version, for consultations (``payload``: the exact C14N bytes stored)."""

    version: int
    operation: str
    message_id: str
    reference: str
    received_at: datetime
    late: bool
    cancel_reason: str | None
    payload: bytes
    #: what the stores did with this version (empty until one reports)
    outcomes: tuple[StoreOutcome, ...] = ()


@dataclass(frozen=True)
class DeliveryView:
    """The delivery state of one version towards one destination (``status``: the outbox state, in English)."""

    version: int
    destination: str
    status: str
    attempts: int
    receipt: str | None
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True)
class CommunicationView:
    """A communication with its whole history, for consultations."""

    protocol: str
    kind: str
    status: str
    current_version: int
    current_payload: bytes
    versions: tuple[VersionView, ...]
    deliveries: tuple[DeliveryView, ...]
