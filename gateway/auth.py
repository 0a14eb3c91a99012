"""Authentication of senders: credentials of organs, scrypt password hashes, a short verdict cache.

A wrong password and an unknown user get the same answer, after the same KDF work. The KDF runs once per
(user, password) per cache period: the verdict is cached under an HMAC of both, never under the password itself.
A cached verdict is used only while its credential's version is still the current one and the credential and its
organ are active (:mod:`gateway.auth_state`: at once on this process after a change made here, within
``GATEWAY_AUTH_REFRESH_S`` on every other).
Failed logins are throttled per (username, client address) by :class:`gateway.throttle.LoginThrottle`: a throttled
attempt is refused (``…-E029``) before the cache or the KDF is looked at.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gateway.auth_state import AuthState
from gateway.db.tables import credentials, organs
from gateway.errors import AuthenticationFailed, TooManyRequests
from gateway.infodip.domain import Kind, competent_kinds
from gateway.metrics import Metrics
from gateway.organs import OrganType
from gateway.throttle import CLIENT_ADDRESS, LoginThrottle
from gateway.xml.soap import PASSWORD_TEXT, UsernameToken

_DUMMY_SALT = b"gateway-dummy-salt"


@dataclass(frozen=True)
class Caller:
    """An authenticated sender: its credential (and the version it was checked at) and its organ."""

    username: str
    organ_id: int
    organ_code: str
    organ_type: OrganType
    kinds: frozenset[Kind]
    credential_id: int = 0
    version: int = 0


def hash_password(password: str, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    """A scrypt hash of *password* with a random salt, parameters included."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when *password* matches *stored* (a :func:`hash_password` value); constant-time comparison."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        got = hashlib.scrypt(password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected),
                             maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


class Authenticator:
    """Verifies UsernameTokens against the credentials table, caching verdicts for a short time (each checked
    against *state*, this process's view of revocations, on every use)."""

    def __init__(self, engine: Engine, secret: bytes, ttl_seconds: float = 60.0, kdf_n: int = 2**14,
                 max_entries: int = 10_000, throttle: LoginThrottle | None = None,
                 metrics: Metrics | None = None, state: AuthState | None = None) -> None:
        self.state = state or AuthState(engine)
        self.throttle = throttle
        self.metrics = metrics
        self.engine = engine
        self.secret = secret
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._dummy = hash_password("dummy-password", n=kdf_n)
        self._cache: OrderedDict[bytes, tuple[float, Caller]] = OrderedDict()
        # one KDF run per (user, password) at a time: concurrent misses wait for the same verification
        self._inflight: dict[bytes, tuple[int, asyncio.Future[Caller]]] = {}

    def _key(self, username: str, password: str) -> bytes:
        return hmac.new(self.secret, username.encode() + b"\0" + password.encode(), hashlib.sha256).digest()

    def cached(self, username: str, password: str) -> Caller | None:
        """The cached verdict for this pair, if still fresh."""
        key = self._key(username, password)
        hit = self._cache.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self._cache.pop(key, None)
            return None
        return hit[1]

    def verify(self, username: str, password: str) -> Caller:
        """Check the pair against the database (runs the KDF); raises :class:`AuthenticationFailed`."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(credentials.c.id.label("credential_id"), credentials.c.version, credentials.c.password_hash,
                       credentials.c.active, organs.c.id, organs.c.code, organs.c.organ_type, organs.c.kinds,
                       organs.c.active.label("organ_active"))
                .join(organs, organs.c.id == credentials.c.organ_id)
                .where(credentials.c.username == username)
            ).first()
        if row is None:
            verify_password(password, self._dummy)
            raise AuthenticationFailed("INFODIP-E021", field="Security/UsernameToken")
        ok = verify_password(password, row.password_hash)
        if not ok or not row.active or not row.organ_active:
            raise AuthenticationFailed("INFODIP-E021", field="Security/UsernameToken")
        organ_type = OrganType(row.organ_type)
        override = row.kinds.split(",") if row.kinds else None
        caller = Caller(username, row.id, row.code, organ_type, competent_kinds(organ_type, override),
                        row.credential_id, row.version)
        self._cache[self._key(username, password)] = (time.monotonic() + self.ttl, caller)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return caller

    async def authenticate(self, token: UsernameToken | None, code_prefix: str = "INFODIP", *,
                           client: str | None = None, channel: str | None = None) -> Caller:
        """The caller named by *token*; the KDF (on a cache miss) runs off the event loop.

        *client* is the caller's address (default: the request's, :data:`gateway.throttle.CLIENT_ADDRESS`) and
        *channel* the metrics label (default: *code_prefix* in lower case). Errors: AuthenticationFailed
        (``E020`` missing, ``E021`` wrong user or password, ``E024`` password type), TooManyRequests (``E029``: too
        many failures of this user from this address; nothing was checked)."""
        if token is None or not token.username:
            raise AuthenticationFailed(f"{code_prefix}-E020", field="Header/Security")
        if token.password_type != PASSWORD_TEXT:
            raise AuthenticationFailed(f"{code_prefix}-E024", field="Security/UsernameToken/Password/@Type")
        address = client or CLIENT_ADDRESS.get() or "?"
        label = channel or code_prefix.lower()
        if self.throttle is not None:
            wait = self.throttle.retry_after(token.username, address)
            if wait is not None:
                self.throttle.refused(token.username, address)
                if self.metrics is not None:
                    self.metrics.logins_throttled.labels(label).inc()
                seconds = max(1, int(wait + 0.999))
                raise TooManyRequests(f"{code_prefix}-E029", f"Muitas tentativas de autenticação malsucedidas deste "
                                      f"usuário a partir deste endereço; tente novamente em {seconds} s.",
                                      field="Security/UsernameToken", retry_after=seconds)
        try:
            caller = await self._authenticate(token)
        except AuthenticationFailed:
            if self.throttle is not None:
                self.throttle.failed(token.username, address)
            if self.metrics is not None:
                self.metrics.login_failures.labels(label).inc()
            raise
        if self.throttle is not None:
            self.throttle.succeeded(token.username, address)
        return caller

    async def _authenticate(self, token: UsernameToken) -> Caller:
        caller = self.cached(token.username, token.password)
        key = self._key(token.username, token.password)
        if caller is not None:
            snapshot = await self.state.fresh()
            if caller.credential_id not in snapshot.credentials:  # created after the snapshot: look again, once
                snapshot = await self.state.fresh(force=True)
            if snapshot.current(caller.credential_id, caller.version) is not None:
                return caller
            self._cache.pop(key, None)  # revoked, changed or disabled since: check the password again
        generation = self.state.generation
        pending = self._inflight.get(key)
        if pending is not None and pending[0] == generation:  # not one begun before a change made here since
            return await asyncio.shield(pending[1])
        future: asyncio.Future[Caller] = asyncio.get_running_loop().create_future()
        self._inflight[key] = (generation, future)
        try:
            caller = await anyio.to_thread.run_sync(self.verify, token.username, token.password)
            future.set_result(caller)
            return caller
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            if self._inflight.get(key, (0, None))[1] is future:
                del self._inflight[key]

