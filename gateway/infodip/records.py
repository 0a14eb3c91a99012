"""What the INFODIP use cases give back: the receipt of an accepted version and the view of a stored communication.

Plain dataclasses, no I/O. The service builds them; the contract (SOAP) and the REST edge render them. They live
apart from both so that the service imports the contract and the contract never imports the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


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
