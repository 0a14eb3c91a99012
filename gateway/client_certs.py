"""Client certificates as an alternative to passwords (X-Road's model: a member's system is known by its
certificate).

The TLS proxy in front of the gateway (nginx, ``deploy/nginx/gateway.conf.template``) asks for a client certificate
(``ssl_verify_client optional``), verifies it against the CA it trusts, and forwards two headers, replacing whatever
the client sent under those names:

- ``X-Client-Verify``: nginx's ``$ssl_client_verify`` — ``SUCCESS``, ``FAILED:…`` or ``NONE``;
- ``X-Client-Cert``: nginx's ``$ssl_client_escaped_cert`` — the verified certificate, PEM, URL-encoded.

The gateway believes them only on a connection from ``GATEWAY_TRUSTED_PROXIES`` (:class:`ClientCertificateMiddleware`)
and only with ``SUCCESS``; it takes the SHA-256 fingerprint of the certificate's DER bytes and looks it up among the
certificates an operator registered for an organ (``gateway organ certificate add ORGAN cert.pem``). A SOAP call
with no credential of its own (no UsernameToken, no MNI ``idConsultante``) is then that organ's
(:class:`CertificateAuthenticator`). A registered certificate past its ``notAfter``, removed, or of a disabled organ
stops working within ``GATEWAY_CLIENT_CERT_CACHE_S`` (5 s) on every replica. A credential given in the message
still wins: the certificate only stands in for a missing one.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

import anyio.to_thread
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from gateway.audit import AuditChain
from gateway.auth import Authenticator, Caller
from gateway.clock import Clock, utc
from gateway.db.tables import client_certificates, organs
from gateway.edges.forwarded import Forwarding
from gateway.errors import OperatorError
from gateway.infodip.domain import competent_kinds
from gateway.organs import OrganType
from gateway.xml.soap import UsernameToken

#: headers the trusted proxy sets (lower case, as ASGI gives them)
VERIFY_HEADER = b"x-client-verify"
CERT_HEADER = b"x-client-cert"
#: the fingerprint of the verified client certificate of the request being served (None: none, or not believed)
CLIENT_CERTIFICATE: ContextVar[str | None] = ContextVar("client_certificate", default=None)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
_HEX64 = re.compile(r"[0-9a-f]{64}")
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def fingerprint(der: bytes) -> str:
    """SHA-256 of a certificate's DER bytes, 64 lower-case hex digits (what ``openssl x509 -fingerprint -sha256``
    prints, without the colons)."""
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem: bytes) -> str | None:
    """The fingerprint of the first certificate in *pem*, or None when there is none or it is not base64."""
    match = _PEM.search(pem)
    if match is None:
        return None
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return fingerprint(der) if der else None


def forwarded_fingerprint(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The fingerprint of the certificate the proxy verified, from its two headers (None unless ``SUCCESS`` and a
    certificate). Headers repeated are refused as a whole: a proxy sets each once."""
    verify = [v for k, v in headers if k == VERIFY_HEADER]
    cert = [v for k, v in headers if k == CERT_HEADER]
    if len(verify) != 1 or len(cert) != 1 or verify[0].strip() != b"SUCCESS":
        return None
    return pem_fingerprint(unquote_to_bytes(cert[0]))


class ClientCertificateMiddleware:
    """ASGI middleware: on a connection from a trusted proxy, the verified certificate's fingerprint is put in
    :data:`CLIENT_CERTIFICATE` for the request's duration; from anyone else the headers are ignored."""

    def __init__(self, app: ASGIApp, forwarding: Forwarding) -> None:
        self.app = app
        self.forwarding = forwarding

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        """Run the app with the request's verified client certificate known (or None)."""
        client = scope.get("client")
        if scope["type"] != "http" or not self.forwarding.is_trusted(client[0] if client else None):
            await self.app(scope, receive, send)
            return
        token = CLIENT_CERTIFICATE.set(forwarded_fingerprint(scope.get("headers") or []))
        try:
            await self.app(scope, receive, send)
        finally:
            CLIENT_CERTIFICATE.reset(token)


class CertificateDirectory:
    """Registered certificates → the organ each stands for, remembered *ttl_s* seconds (a miss too)."""

    def __init__(self, engine: Engine, clock: Clock, ttl_s: float = 5.0) -> None:
        self.engine = engine
        self.clock = clock
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    def lookup(self, fp: str) -> Caller | None:
        """The organ of the certificate *fp* (active, and the certificate not expired), or None. Reads the
        database."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(client_certificates.c.not_after, organs.c.id, organs.c.code, organs.c.organ_type,
                       organs.c.kinds, organs.c.active)
                .join(organs, organs.c.id == client_certificates.c.organ_id)
                .where(client_certificates.c.fingerprint == fp)).first()
        if row is None or not row.active or utc(row.not_after) <= self.clock.now():
            return None
        organ_type = OrganType(row.organ_type)
        return Caller(f"certificado:{fp[:16]}", row.id, row.code, organ_type,
                      competent_kinds(organ_type, row.kinds.split(",") if row.kinds else None))

    async def caller(self, fp: str) -> Caller | None:
        """:meth:`lookup` through the cache; a miss is read off the event loop."""
        now = time.monotonic()
        hit = self._cache.get(fp)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await anyio.to_thread.run_sync(self.lookup, fp)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[fp] = (now + self.ttl_s, found)
        return found


class CertificateAuthenticator(Authenticator):
    """The authenticator of the edges, which also knows callers by a client certificate (module docstring): a
    request without a credential of its own, whose verified certificate is registered, is that certificate's
    organ; every other request is authenticated as :class:`~gateway.auth.Authenticator` does."""

    certificates: CertificateDirectory | None = None

    async def authenticate(self, token: UsernameToken | None, code_prefix: str = "INFODIP", *,
                           client: str | None = None, channel: str | None = None) -> Caller:
        """The caller of *token*, or of the request's client certificate when *token* is missing. Errors: those of
        :meth:`Authenticator.authenticate` (``E020`` when neither a token nor a registered certificate came)."""
        if (token is None or not token.username) and self.certificates is not None:
            fp = CLIENT_CERTIFICATE.get()
            if fp is not None:
                caller = await self.certificates.caller(fp)
                if caller is not None:
                    return caller
        return await super().authenticate(token, code_prefix, client=client, channel=channel)


# -- administration (gateway organ certificate …) ------------------------------------------------------------------

@dataclass(frozen=True)
class RegisteredCertificate:
    """A certificate registered for an organ."""

    fingerprint: str
    organ: str
    subject: str
    not_after: datetime


def read_certificate(path: str) -> x509.Certificate:
    """The PEM certificate at *path*. Errors: OperatorError (GATEWAY-E002) for a missing or unreadable file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OperatorError(f"certificado ilegível: {path} ({exc.strerror or exc})", field="certificado") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise OperatorError(f"{path} não é um certificado X.509 em PEM", field="certificado") from None


class ClientCertificateAdmin:
    """Registers and removes organs' client certificates; each change is an audit entry."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def add(self, organ_code: str, path: str, actor: str = "cli") -> RegisteredCertificate:
        """Register the certificate at *path* for *organ_code*. Errors: OperatorError (GATEWAY-E002) for an unknown
        organ, an unreadable or expired certificate, or one already registered."""
        cert = read_certificate(path)
        fp = fingerprint(cert.public_bytes(Encoding.DER))
        now = self.clock.now()
        not_after = cert.not_valid_after_utc
        if not_after <= now:
            raise OperatorError(f"certificado expirado em {not_after.isoformat()}", field="certificado")
        subject = cert.subject.rfc4514_string()[:500]
        with self.engine.begin() as conn:
            organ_id = conn.execute(select(organs.c.id).where(organs.c.code == organ_code)).scalar()
            if organ_id is None:
                raise OperatorError(f"órgão {organ_code} não existe", field="organ")
            taken = conn.execute(select(organs.c.code).join(
                client_certificates, client_certificates.c.organ_id == organs.c.id)
                .where(client_certificates.c.fingerprint == fp)).scalar()
            if taken is not None:
                raise OperatorError(f"certificado {fp} já cadastrado para o órgão {taken}", field="certificado")
            conn.execute(insert(client_certificates).values(fingerprint=fp, organ_id=organ_id, subject=subject,
                                                            not_after=not_after, created_at=now))
            AuditChain.start(conn, now, None).append(conn, "certificado.cadastrado", now, organ_id=organ_id, detail={
                "ator": actor, "orgao": organ_code, "impressao": fp, "titular": subject,
                "validoAte": not_after.isoformat()})
        return RegisteredCertificate(fp, organ_code, subject, not_after)

    def remove(self, organ_code: str, certificate: str, actor: str = "cli") -> str:
        """Remove the certificate of *organ_code* named by *certificate* — a PEM file or a SHA-256 fingerprint (hex,
        colons allowed) — and return its fingerprint. Errors: OperatorError (GATEWAY-E002) when it is not
        registered for that organ."""
        fp = certificate.replace(":", "").lower()
        if not _HEX64.fullmatch(fp):
            fp = fingerprint(read_certificate(certificate).public_bytes(Encoding.DER))
        now = self.clock.now()
        with self.engine.begin() as conn:
            organ_id = conn.execute(select(organs.c.id).where(organs.c.code == organ_code)).scalar()
            gone = conn.execute(delete(client_certificates).where(
                client_certificates.c.fingerprint == fp, client_certificates.c.organ_id == organ_id)).rowcount
            if organ_id is None or not gone:
                raise OperatorError(f"certificado {fp} não está cadastrado para o órgão {organ_code}",
                                    field="certificado")
            AuditChain.start(conn, now, None).append(conn, "certificado.removido", now, organ_id=organ_id, detail={
                "ator": actor, "orgao": organ_code, "impressao": fp})
        return fp

    def list(self, organ_code: str | None = None) -> list[RegisteredCertificate]:
        """The registered certificates (of *organ_code* only, when given), by organ and fingerprint."""
        query = (select(client_certificates.c.fingerprint, organs.c.code, client_certificates.c.subject,
                        client_certificates.c.not_after)
                 .join(organs, organs.c.id == client_certificates.c.organ_id)
                 .order_by(organs.c.code, client_certificates.c.fingerprint))
        if organ_code is not None:
            query = query.where(organs.c.code == organ_code)
        with self.engine.connect() as conn:
            return [RegisteredCertificate(r.fingerprint, r.code, r.subject, utc(r.not_after))
                    for r in conn.execute(query)]


class AdminConsole(Protocol):
    """What :func:`cmd_organ_certificate` takes from :class:`gateway.bootstrap.Console`."""

    @property
    def writer(self) -> Engine:
        """A writer engine on the settings' database."""

    @property
    def clock(self) -> Clock:
        """The clock."""


def cmd_organ_certificate(args: argparse.Namespace, con: AdminConsole) -> int:
    """``gateway organ certificate add ORGAN cert.pem`` | ``remove ORGAN cert.pem|FINGERPRINT`` | ``list [ORGAN]``."""
    admin = ClientCertificateAdmin(con.writer, con.clock)
    if args.action == "list":
        for cert in admin.list(args.organ):
            print(f"{cert.organ}  {cert.fingerprint}  válido até {cert.not_after.date().isoformat()}  {cert.subject}")
        return 0
    if not args.organ or not args.certificate:
        raise OperatorError(f"uso: gateway organ certificate {args.action} ÓRGÃO CERTIFICADO", field="certificado")
    if args.action == "add":
        cert = admin.add(args.organ, args.certificate)
        print(f"certificado {cert.fingerprint} cadastrado para o órgão {cert.organ} ({cert.subject}; válido até "
              f"{cert.not_after.isoformat()})")
    else:
        print(f"certificado {admin.remove(args.organ, args.certificate)} removido do órgão {args.organ}")
    return 0
