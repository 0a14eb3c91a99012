"""The one small interface every outbound partner implements, and its errors.

An adapter delivers a batch of stored messages and answers one result per message. A failure of the whole call
raises :class:`PartnerError` with a ``retryable`` flag; partner libraries' errors (httpx, zeep, parsing) are
translated into it at this one boundary (:func:`translating`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from lxml import etree

from gateway.errors import PartnerError

#: HTTP statuses a partner answers when trying again later may succeed.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class OutboundMessage:
    """One stored version on its way to one partner: the exact stored bytes and the ids that travel with them."""

    message_id: str
    protocol: str
    version: int
    operation: str
    kind: str
    organ: str
    received_at: datetime
    payload: bytes


@dataclass(frozen=True)
class DeliveryResult:
    """The partner's answer for one message."""

    message_id: str
    ok: bool
    receipt: str | None = None
    error: str | None = None
    retryable: bool = False


class Adapter(Protocol):
    """An outbound partner."""

    name: str
    max_batch: int

    async def deliver(self, batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Deliver *batch*; one result per message, in any order. Raises :class:`PartnerError`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def status_error(partner: str, status: int) -> PartnerError:
    """The error for an unexpected HTTP status."""
    return PartnerError(f"{partner}: HTTP {status}", retryable=status in RETRYABLE_STATUSES)


@contextmanager
def translating(partner: str) -> Iterator[None]:
    """Translate transport and parsing errors of a partner call into :class:`PartnerError`."""
    try:
        yield
    except PartnerError:
        raise
    except httpx.TimeoutException as exc:
        raise PartnerError(f"{partner}: tempo esgotado ({type(exc).__name__})", retryable=True) from exc
    except httpx.HTTPError as exc:
        raise PartnerError(f"{partner}: falha de conexão ({type(exc).__name__}: {exc})", retryable=True) from exc
    except (etree.XMLSyntaxError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # the partner answered something we cannot read; it may have stored the batch: resending is safe
        # because it deduplicates by message id
        raise PartnerError(f"{partner}: resposta ilegível ({type(exc).__name__}: {exc})", retryable=True) from exc
