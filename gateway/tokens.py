"""Bearer tokens of the REST API (OAuth2 client credentials, RFC 6749 §4.4): signed JWTs (RFC 7519) with PyJWT.

A token names its organ, credential (id and version), username and scopes, and carries ``iss``, ``aud``, ``iat``,
``exp`` (``GATEWAY_TOKEN_TTL_S``, 900 s) and a random ``jti``. It is signed with **HS256** under a key derived
(HKDF-SHA256, its own ``info``) from ``GATEWAY_SECRET_KEY``: only the gateway's own replicas verify these tokens and
they already share that secret, so a public-key signature (EdDSA with the audit signing key) would add a second use
to a key kept for non-repudiation of the audit log and buy nothing; HMAC verification costs microseconds. Clients
treat the token as opaque.

A valid signature is not enough: every use also checks the credential's version and that it and its organ are
active, and narrows the scopes to the organ's current grants (:mod:`gateway.auth_state`) — so a token of a revoked
or rotated credential, or of a disabled organ, stops working within the same bound as a password.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import jwt
from cachetools import LRUCache
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.auth import Caller
from gateway.clock import Clock
from gateway.errors import AuthenticationFailed

ISSUER = "gateway-interop"
AUDIENCE = "gateway-interop/api"
ALGORITHM = "HS256"
_REQUIRED = ["iss", "aud", "sub", "iat", "exp", "jti", "org", "cid", "ver", "scope"]


def signing_key(secret: bytes) -> bytes:
    """The tokens' HMAC key, derived from the gateway's secret (HKDF-SHA256, 32 bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gateway-oauth",
                info=b"access-token-hs256").derive(secret)


@dataclass(frozen=True)
class AccessToken:
    """An issued token and what the token endpoint answers about it."""

    token: str
    expires_in: int
    scopes: tuple[str, ...]
    jti: str


@dataclass(frozen=True)
class Claims:
    """What a verified token says (its scopes as issued: :mod:`gateway.edges.oauth` narrows them to the grants)."""

    username: str
    organ_code: str
    credential_id: int
    version: int
    scopes: frozenset[str]
    jti: str
    expires_at: int


class InvalidToken(AuthenticationFailed):
    """A bearer token that is malformed, badly signed, for another audience, expired or revoked (GATEWAY-E062)."""

    def __init__(self, message: str) -> None:
        super().__init__("GATEWAY-E062", message, field="Authorization")


class TokenIssuer:
    """Issues and verifies the API's bearer tokens; time comes from *clock* (``exp`` is checked against it)."""

    def __init__(self, secret: bytes, clock: Clock, ttl_s: int = 900) -> None:
        self._key = signing_key(secret)
        self.clock = clock
        self.ttl_s = ttl_s
        #: tokens whose signature, issuer, audience and claims were checked, with their claims (issue 17: decoding
        #: was 5 % of a consultation's CPU). The key is the whole token, signature included, so a hit is the same
        #: bytes this issuer verified; expiry is checked on every call, revocation by the caller as before.
        self._verified: LRUCache[str, Claims] = LRUCache(maxsize=4096)
        self._lock = threading.Lock()

    def issue(self, caller: Caller, scopes: Iterable[str]) -> AccessToken:
        """A token for *caller* (its credential id and version) carrying *scopes*, valid ``ttl_s`` seconds."""
        now = int(self.clock.now().timestamp())
        granted = tuple(scopes)
        jti = uuid.uuid4().hex
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": caller.username, "org": caller.organ_code,
                  "cid": caller.credential_id, "ver": caller.version, "scope": " ".join(granted), "iat": now,
                  "exp": now + self.ttl_s, "jti": jti}
        return AccessToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), self.ttl_s, granted, jti)

    def verify(self, token: str) -> Claims:
        """The claims of *token* once its signature, issuer, audience and expiry check out. Errors: InvalidToken
        (GATEWAY-E062)."""
        with self._lock:
            claims = self._verified.get(token)
        if claims is None:
            try:
                data = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                                  options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False})
                claims = Claims(str(data["sub"]), str(data["org"]), int(data["cid"]), int(data["ver"]),
                                frozenset(str(data["scope"]).split()), str(data["jti"]), int(data["exp"]))
            except (jwt.InvalidTokenError, TypeError, ValueError):
                raise InvalidToken("Token de acesso inválido.") from None
            with self._lock:
                self._verified[token] = claims
        if claims.expires_at <= self.clock.now().timestamp():
            raise InvalidToken("Token de acesso expirado: peça outro em /oauth/token.")
        return claims
