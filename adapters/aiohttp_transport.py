"""An httpx transport that sends over aiohttp: httpx's interface for the adapters (and its ``MockTransport`` in
unit tests), aiohttp's connection pool on the wire.

Why: httpx's own pool (httpcore 1.0) does work proportional to the requests waiting times the connections open on
every request, so at 64 lookups in flight the dívida bridge spent most of its CPU there (measured, ``make bench``
section ``divida``: ~80 lookups/s per process against partners answering in 50 ms; DESIGN.md: aiohttp measured 4–5×
cheaper per call). A transport is one method (STYLE.md, httpx's ``handle_async_request``): the adapters, their
error boundary (:func:`adapters.base.translating`, which reads httpx's exceptions) and their tests stay as they are.

aiohttp's errors are raised as the httpx exceptions of the same fate, so the one boundary translates them:
a refused or failed connection → ``httpx.ConnectError`` (nothing sent); no answer in time →
``httpx.ReadTimeout`` (``httpx.ConnectTimeout`` while connecting); a connection closed without an answer →
``httpx.RemoteProtocolError``; any other failure after sending → ``httpx.ReadError``. Bodies are read whole (the
partners' answers are small JSON documents); the timeouts are the request's (httpx's ``timeout`` extension).
"""

from __future__ import annotations

import base64

import aiohttp
import httpx

#: headers that describe the bytes on the wire, not the body handed over (read whole, decompressed)
_READ_WHOLE = frozenset({"content-encoding", "transfer-encoding", "content-length"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests with one aiohttp session (created on first use, in the running loop), at most *limit*
    connections."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit), auto_decompress=True,
                skip_auto_headers=("User-Agent",), timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request*; its answer read whole. Errors: the httpx exceptions of the module docstring."""
        t = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(total=None, connect=t.get("connect"), sock_connect=t.get("connect"),
                                        sock_read=t.get("read"))
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                   if k.lower() not in (b"host", b"accept-encoding", b"connection")]
        body = await request.aread()
        try:
            async with self._open().request(request.method, str(request.url), headers=headers, data=body or None,
                                            timeout=timeout, allow_redirects=False) as r:
                content = await r.read()
                return httpx.Response(r.status, headers=[(k, v) for k, v in r.headers.items()
                                                         if k.lower() not in _READ_WHOLE],
                                      content=content, request=request)
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ServerTimeoutError as exc:
            connecting = "connect" in str(exc).lower()
            raise (httpx.ConnectTimeout if connecting else httpx.ReadTimeout)(str(exc), request=request) from exc
        except TimeoutError as exc:  # asyncio's (the builtin since 3.11), raised by aiohttp's own timers
            raise httpx.ReadTimeout(str(exc) or "timeout", request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(str(exc) or "servidor desconectou", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def aclose(self) -> None:
        """Close the session's connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None



class PartnerClient:
    """The few calls the debt adapters make (``get``, ``post`` with ``json``/``data``/``auth``), sent straight to an
    httpx transport — by default :class:`AiohttpTransport`; ``httpx.MockTransport`` in unit tests.

    httpx's ``AsyncClient`` around the transport cost ~130 µs a call more (request merging, the auth and redirect
    flows, and above all a cookie jar fed through ``urllib``'s cookie machinery on every answer: measured, and
    ~20% of the gateway's CPU in ``make bench``'s ``divida`` section). The partners use no cookies nor redirects.
    Every call carries *timeout* (connect at most 5 s) as httpx's ``timeout`` extension; errors are the
    transport's httpx exceptions, for :func:`adapters.base.translating`."""

    def __init__(self, timeout: float, transport: httpx.AsyncBaseTransport | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.transport = transport or AiohttpTransport(64)
        self.headers = dict(headers or {})
        self._timeout = {"connect": min(timeout, 5.0), "read": timeout, "write": timeout, "pool": timeout}

    async def get(self, url: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET *url*."""
        return await self._send(httpx.Request("GET", url, headers={**self.headers, **(headers or {})},
                                              extensions={"timeout": self._timeout}))

    async def post(self, url: str, *, json: object = None, data: dict[str, str] | None = None,
                   auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST *url* with a JSON body (*json*) or a form (*data*), HTTP Basic *auth* when given."""
        extra = dict(headers or {})
        if auth is not None:
            extra["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        return await self._send(httpx.Request("POST", url, headers={**self.headers, **extra}, json=json, data=data,
                                              extensions={"timeout": self._timeout}))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self.transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        """Close the transport's connections."""
        await self.transport.aclose()
