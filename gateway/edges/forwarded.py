"""Who the client is and where it reached the gateway: the connection's peer, or what a trusted proxy forwarded.

``X-Forwarded-For``, ``X-Forwarded-Host`` and ``X-Forwarded-Proto`` are believed only when the connection comes from
an address of ``GATEWAY_TRUSTED_PROXIES``; from anyone else they are ignored. The client address is then the
rightmost ``X-Forwarded-For`` entry that is not itself a trusted proxy (each proxy appends the address it saw, so
the entries left of it are the client's own claims). Host and proto are the rightmost values (set by the proxy that
reached us). With ``GATEWAY_PUBLIC_URL`` set, no request header decides the gateway's address at all.

A host is ``name[:port]`` (letters, digits, ``-``, ``.``), an IPv4 address or a bracketed IPv6 address, with a port
of at most 5 digits; anything else is refused with GATEWAY-E040 (HTTP 400): it never reaches a WSDL.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from gateway.errors import ClientError
from gateway.throttle import CLIENT_ADDRESS

_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class BadHost(ClientError):
    """The Host (or a trusted proxy's X-Forwarded-Host/-Proto) is not a host name: GATEWAY-E040, HTTP 400."""


class Forwarding:
    """The public URL and the trusted proxies of one gateway (see the module docstring)."""

    def __init__(self, public_url: str = "", trusted: tuple[Network, ...] = ()) -> None:
        self.public_url = public_url.rstrip("/")
        self.trusted = trusted

    def is_trusted(self, address: str | None) -> bool:
        """True when *address* belongs to a trusted proxy."""
        if not address or not self.trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def client_address(self, peer: str | None, headers: list[tuple[bytes, bytes]]) -> str:
        """The client's address: *peer*, or (when *peer* is a trusted proxy) the rightmost untrusted address of
        ``X-Forwarded-For``. ``"?"`` when nothing is known."""
        if not self.is_trusted(peer):
            return peer or "?"
        chain = [a.strip() for name, value in headers if name == b"x-forwarded-for"
                 for a in value.decode("latin-1").split(",") if a.strip()]
        for address in reversed(chain):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return peer or "?"  # a proxy that forwards garbage: the proxy is all we know
            if not self.is_trusted(address):
                return address
        return chain[0] if chain else (peer or "?")

    def base_url(self, request: Request) -> str:
        """``scheme://host`` of the gateway as the client reached it: ``GATEWAY_PUBLIC_URL`` when set, else the
        Host header (X-Forwarded-Host/-Proto from a trusted proxy). Errors: BadHost (GATEWAY-E040)."""
        if self.public_url:
            return self.public_url
        scheme, host = request.url.scheme, request.headers.get("host") or ""
        if self.is_trusted(request.client.host if request.client else None):
            forwarded_host = _rightmost(request.headers.get("x-forwarded-host"))
            forwarded_proto = _rightmost(request.headers.get("x-forwarded-proto"))
            host = forwarded_host or host
            scheme = (forwarded_proto or scheme).lower()
        if scheme not in ("http", "https"):
            raise BadHost("GATEWAY-E040", field="X-Forwarded-Proto")
        if not _HOST.fullmatch(host):
            raise BadHost("GATEWAY-E040", field="Host")
        return f"{scheme}://{host}"


def _rightmost(value: str | None) -> str | None:
    if not value:
        return None
    return value.rsplit(",", 1)[-1].strip() or None


class ClientAddressMiddleware:
    """ASGI middleware: for each HTTP request, the client address (:meth:`Forwarding.client_address`) is set in
    :data:`gateway.throttle.CLIENT_ADDRESS` for the request's duration (the login throttle keys on it)."""

    def __init__(self, app: ASGIApp, forwarding: Forwarding) -> None:
        self.app = app
        self.forwarding = forwarding

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        """Run the app with the request's client address known."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = CLIENT_ADDRESS.set(self.forwarding.client_address(client[0] if client else None,
                                                                  scope.get("headers") or []))
        try:
            await self.app(scope, receive, send)
        finally:
            CLIENT_ADDRESS.reset(token)
