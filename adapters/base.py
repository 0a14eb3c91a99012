"""The one small interface every outbound partner implements, and the one boundary that translates its errors.

An adapter delivers a batch of stored messages and answers one result per message. A failure of the whole call
raises one of the partner errors of ``gateway/errors.py``; :func:`translating` maps the libraries' errors into them:

    httpx.ConnectError, ConnectTimeout, PoolTimeout,       → PartnerUnreachable   nothing was sent (retryable)
      ProxyError, UnsupportedProtocol, InvalidURL
    httpx.ReadTimeout, WriteTimeout, ReadError,            → PartnerTimeout       sent; whether it acted is unknown
      WriteError, RemoteProtocolError, other transport                              (retryable)
    lxml XMLSyntaxError, json.JSONDecodeError,             → PartnerUnreadable    it answered bytes we cannot read;
      httpx.DecodingError                                                           it may have acted (retryable)
    an HTTP status (:func:`status_error`)                  → PartnerRefused (4xx), PartnerTimeout (408, 504), or
                                                             PartnerError (5xx, 425, 429: retryable)

Resending after an unreadable answer or a timeout is safe: every message carries its gateway message id and the
partners deduplicate by it. Anything else — ``TypeError``, ``KeyError``, ``AttributeError``… — is a bug of ours
and is never translated: it propagates, and the relay records it as the gateway's own failure. An adapter checks
what it parses and raises :class:`PartnerUnreadable` itself for an answer missing what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from lxml import etree

from gateway.errors import PartnerError, PartnerRefused, PartnerTimeout, PartnerUnreachable, PartnerUnreadable

#: HTTP statuses a partner answers when trying again later may succeed.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
                 httpx.UnsupportedProtocol, httpx.InvalidURL)


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
    """An outbound partner (real ones in this package; :class:`adapters.fake.FakeAdapter` for tests)."""

    name: str
    max_batch: int

    async def deliver(self, batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Deliver *batch*; exactly one result per message, in any order. Raises :class:`PartnerError` (one of
        its subclasses) when the call fails as a whole."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def status_error(partner: str, status: int) -> PartnerError:
    """The error for an HTTP status other than the expected one: a 4xx refusal is :class:`PartnerRefused` (not
    retryable; 425 and 429 ask to come back later), 408 and 504 are :class:`PartnerTimeout`, a 5xx is a retryable
    :class:`PartnerError` (501, 505… are not retryable)."""
    message = f"{partner}: HTTP {status}"
    retryable = status in RETRYABLE_STATUSES
    if status in (408, 504):
        return PartnerTimeout(message, retryable=True, partner=partner)
    if 400 <= status < 500 and not retryable:
        return PartnerRefused(message, retryable=False, partner=partner)
    return PartnerError(message, retryable=retryable, partner=partner)


def unreadable(partner: str, why: str) -> PartnerUnreadable:
    """The (retryable) error for an answer of *partner* that lacks what the contract promises."""
    return PartnerUnreadable(f"{partner}: resposta ilegível ({why})", retryable=True, partner=partner)


def check_one_result_each(partner: str, batch: Sequence[OutboundMessage], results: Sequence[DeliveryResult]) -> None:
    """Raise :class:`PartnerUnreadable` unless *results* answer each message of *batch* exactly once."""
    ids = [r.message_id for r in results]
    if len(ids) != len(batch) or set(ids) != {m.message_id for m in batch}:
        raise unreadable(partner, "resposta não corresponde ao lote enviado")


def parse_json(partner: str, data: bytes) -> object:
    """*data* decoded as JSON, or :class:`PartnerUnreadable`."""
    try:
        return json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError, both about the partner's bytes
        raise unreadable(partner, f"{type(exc).__name__}: {exc}") from exc


@contextmanager
def translating(partner: str) -> Iterator[None]:
    """Translate httpx's and the parsers' errors of a call to *partner* into the partner errors (see the module
    docstring); let our own errors (bugs) through untouched."""
    try:
        yield
    except PartnerError:
        raise
    except _NOTHING_SENT as exc:
        raise PartnerUnreachable(f"{partner}: inacessível ({type(exc).__name__}: {exc})", retryable=True,
                                 partner=partner) from exc
    except httpx.DecodingError as exc:
        raise unreadable(partner, f"{type(exc).__name__}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise PartnerTimeout(f"{partner}: tempo esgotado ({type(exc).__name__})", retryable=True,
                             partner=partner) from exc
    except httpx.RequestError as exc:  # the connection dropped after the request went out
        raise PartnerTimeout(f"{partner}: conexão interrompida ({type(exc).__name__}: {exc})", retryable=True,
                             partner=partner) from exc
    except (etree.XMLSyntaxError, json.JSONDecodeError) as exc:
        raise unreadable(partner, f"{type(exc).__name__}: {exc}") from exc
