"""The tribunal MNI client: how the MNI hub posts SOAP 1.1 requests to tribunal installations (PJe, eproc).

One small interface, :class:`TribunalClient` (``post`` and ``aclose``), with the real implementation on aiohttp
(:class:`AiohttpTribunalClient`: measured several times cheaper per call than httpx, which matters on the hub's hot
path — DESIGN.md) and a fake one for tests (:class:`FakeTribunalClient`). Every call has a timeout.

aiohttp's errors are translated here, once (:func:`translate`), into the gateway's one tree by what is known of the
request's fate — which is what decides whether a filing may be sent again:

- :class:`~gateway.errors.PartnerUnreachable` — **nothing was sent**: an invalid or non-HTTP URL, a DNS failure,
  a refused connection, a failed TLS handshake, a connect timeout. A filing is dropped and can be retried.
- :class:`~gateway.errors.PartnerTimeout` — the request may have reached the tribunal and **no answer came**: the
  total timeout, a read timeout, the connection closed or reset after the request went out, and any aiohttp error
  not known to happen before sending. A filing's outcome is unknown (MNI-E043, reconciled on resend).
- :class:`~gateway.errors.PartnerUnreadable` — the tribunal **started answering** and the answer broke: a truncated
  or corrupt body, an HTTP response that cannot be parsed. It may have acted: also "outcome unknown" for a filing.

Any HTTP status is an answer (the hub reads SOAP Faults and ``sucesso=false`` from 4xx/5xx bodies), not an error.

With a :class:`~gateway.mni.spill.Spill` (a hub call carrying or bringing large documents), the request's
placeholders are spliced back as it is sent (streamed from disk, ``Content-Length`` set) and an answer past the
spill's threshold is spilled as it arrives: the answer's ``body`` then holds placeholders and ``size`` says how
many bytes the tribunal sent; an answer past the spill's ``limit`` is not read further
(:class:`~gateway.errors.PartnerUnreadable`).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from gateway.errors import PartnerError, PartnerTimeout, PartnerUnreachable, PartnerUnreadable
from gateway.mni.spill import Spill, TooLarge, filtered

SOAP_ACTION = '"http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/{operation}"'

#: aiohttp errors raised before a byte of the request left: the URL could not be used or no connection was made.
#: (``ConnectionTimeoutError`` exists from aiohttp 3.10; with 3.9 a connect timeout counts as "no answer".)
_BEFORE_SENDING: tuple[type[BaseException], ...] = tuple(
    t for t in (aiohttp.InvalidURL, getattr(aiohttp, "NonHttpUrlClientError", None), aiohttp.ClientConnectorError,
                getattr(aiohttp, "ConnectionTimeoutError", None), ConnectionRefusedError)
    if isinstance(t, type))
#: aiohttp errors raised while the answer was being read (or followed: a redirect to an unusable URL is an
#: answer too): the tribunal had the whole request. Checked first, as some are also URL errors.
_WHILE_READING: tuple[type[BaseException], ...] = tuple(
    t for t in (aiohttp.ClientPayloadError, aiohttp.ClientResponseError, getattr(aiohttp, "RedirectClientError", None))
    if isinstance(t, type))


@dataclass(frozen=True)
class TribunalAnswer:
    """What a tribunal answered: the HTTP status, its ``Content-Type`` and the body bytes (with placeholders when
    it was spilled: ``size`` is then the bytes the tribunal sent; None: ``len(body)``)."""

    status: int
    content_type: str | None
    body: bytes
    size: int | None = None


class TribunalClient(Protocol):
    """Posts MNI requests to tribunal installations."""

    async def post(self, url: str, body: bytes, operation: str, timeout_s: float | None = None,
                   spill: Spill | None = None) -> TribunalAnswer:
        """POST *body* (a SOAP 1.1 envelope) to *url* as MNI *operation*; the answer whatever its HTTP status.

        *timeout_s* shortens the client's timeout for this call (seconds); *spill*: the call's spilled contents
        (see the module docstring). Raises
        :class:`~gateway.errors.PartnerUnreachable` (nothing sent), :class:`~gateway.errors.PartnerTimeout` (sent,
        no answer) or :class:`~gateway.errors.PartnerUnreadable` (the answer broke off)."""
        ...

    async def aclose(self) -> None:
        """Release the connections."""
        ...


def translate(exc: BaseException, partner: str = "tribunal") -> PartnerError:
    """The gateway error for an exception raised by an aiohttp call to *partner* (see the module docstring).

    Every result is ``retryable`` (a consultation may be asked again); whether a *filing* may be resent is
    decided by the class: only :class:`~gateway.errors.PartnerUnreachable` says nothing was sent."""
    if isinstance(exc, PartnerError):
        return exc
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, _WHILE_READING):
        return PartnerUnreadable(f"resposta interrompida ({detail})", retryable=True, partner=partner)
    if isinstance(exc, _BEFORE_SENDING):
        return PartnerUnreachable(f"tribunal inacessível ({detail})", retryable=True, partner=partner)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return PartnerTimeout(f"conexão encerrada pelo tribunal ({detail})", retryable=True, partner=partner)
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is this class from Python 3.11
        return PartnerTimeout("tempo esgotado", retryable=True, partner=partner)
    return PartnerTimeout(f"falha durante a chamada ({detail})", retryable=True, partner=partner)


@contextmanager
def translating(partner: str = "tribunal") -> Iterator[None]:
    """Translate the aiohttp (and socket) errors of the enclosed call with :func:`translate`."""
    try:
        yield
    except PartnerError:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise translate(exc, partner) from exc


class AiohttpTribunalClient(TribunalClient):
    """The real client: one aiohttp connection pool for every installation, a timeout on every call."""

    def __init__(self, timeout_s: float = 30.0, connect_timeout_s: float = 5.0, max_connections: int = 100) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(limit=self.max_connections),
                auto_decompress=False)
        return self._session

    async def post(self, url: str, body: bytes, operation: str, timeout_s: float | None = None,
                   spill: Spill | None = None) -> TribunalAnswer:
        """See :meth:`TribunalClient.post`."""
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION.format(operation=operation)}
        # passing timeout=None would disable the timeout: use the session's unless a shorter one is asked for
        timeout = aiohttp.ClientTimeout(total=timeout_s, connect=self.timeout.connect) if timeout_s else self.timeout
        data: bytes | AsyncIterator[bytes] = body
        if spill is not None and spill.references(body):
            length, data = spill.splice(body)
            headers["Content-Length"] = str(length)
        with translating():
            async with self._client().post(url, data=data, headers=headers, timeout=timeout) as r:
                declared = r.content_length  # a small answer is read whole, as without a spill
                if spill is None or (declared is not None and declared <= spill.threshold):
                    return TribunalAnswer(r.status, r.headers.get("Content-Type"), await r.read())
                content_type = r.headers.get("Content-Type")
                counted = _Counted(r.content.iter_chunked(_CHUNK))
                try:
                    answer = await filtered(counted, spill, content_type)
                except TooLarge as exc:
                    raise PartnerUnreadable(str(exc), retryable=True, partner="tribunal") from None
                return TribunalAnswer(r.status, content_type, answer, counted.size)

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()


_CHUNK = 256 * 1024


class _Counted:
    """The chunks of an answer, counted as they pass."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.size = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            self.size += len(chunk)
            yield chunk


@dataclass(frozen=True)
class TribunalCall:
    """One call received by a :class:`FakeTribunalClient`."""

    url: str
    operation: str
    body: bytes


#: What a fake tribunal does with a call: answer (directly or awaited), or raise a PartnerError.
Handler = Callable[[TribunalCall], TribunalAnswer | Awaitable[TribunalAnswer]]


class FakeTribunalClient(TribunalClient):
    """A tribunal client answering from *handler*, in memory (tests); it records every call in ``calls``.

    The handler raises :class:`~gateway.errors.PartnerError` subclasses to stand for the real client's translated
    failures (e.g. ``PartnerUnreachable`` for a refused connection)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[TribunalCall] = []
        self.closed = False

    async def post(self, url: str, body: bytes, operation: str, timeout_s: float | None = None,
                   spill: Spill | None = None) -> TribunalAnswer:
        """See :meth:`TribunalClient.post` (the request's placeholders are spliced back in memory; the answer is
        never spilled)."""
        call = TribunalCall(url, operation, spill.joined(body) if spill is not None else body)
        self.calls.append(call)
        answer = self.handler(call)
        return await answer if inspect.isawaitable(answer) else answer

    async def aclose(self) -> None:
        """Mark the fake closed."""
        self.closed = True
