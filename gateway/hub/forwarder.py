"""The hub's HTTP client towards tribunal installations (aiohttp: measured several times cheaper per call than
httpx, which matters on the hub's hot path). Every call has a timeout; failures are translated here, once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp


class TribunalError(Exception):
    """A call to a tribunal failed."""


class TribunalUnavailable(TribunalError):
    """The tribunal could not be reached (the request did not get there)."""


class TribunalTimeout(TribunalError):
    """The tribunal did not answer in time: whether it acted on the request is unknown."""


@dataclass(frozen=True)
class TribunalAnswer:
    """What a tribunal answered."""

    status: int
    content_type: str | None
    body: bytes


class Forwarder:
    """One connection pool for every installation."""

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

    async def post(self, url: str, body: bytes, operation: str, timeout_s: float | None = None) -> TribunalAnswer:
        """POST a SOAP 1.1 request to *url*; raise :class:`TribunalUnavailable` or :class:`TribunalTimeout`."""
        headers = {"Content-Type": "text/xml; charset=utf-8",
                   "SOAPAction": f'"http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/{operation}"'}
        # passing timeout=None would disable the timeout: use the session's unless a shorter one is asked for
        timeout = aiohttp.ClientTimeout(total=timeout_s, connect=self.timeout.connect) if timeout_s else self.timeout
        try:
            async with self._client().post(url, data=body, headers=headers, timeout=timeout) as r:
                data = await r.read()
                return TribunalAnswer(r.status, r.headers.get("Content-Type"), data)
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, ConnectionRefusedError) as exc:
            if isinstance(exc, aiohttp.ServerDisconnectedError):
                # the connection dropped after the request went out: the outcome is unknown
                raise TribunalTimeout(f"conexão encerrada pelo tribunal: {exc}") from exc
            raise TribunalUnavailable(f"tribunal inacessível: {exc}") from exc
        except TimeoutError as exc:
            raise TribunalTimeout("tempo esgotado") from exc
        except asyncio.TimeoutError as exc:  # noqa: UP041 - aiohttp may raise the asyncio alias on 3.11
            raise TribunalTimeout("tempo esgotado") from exc
        except aiohttp.ClientError as exc:
            raise TribunalTimeout(f"falha durante a chamada: {exc}") from exc

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
