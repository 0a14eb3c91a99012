"""Credentials of each hub client towards each tribunal installation, encrypted at rest, never returned.

Fernet (AES-128-CBC + HMAC-SHA256) with a key from ``GATEWAY_MNI_CREDENTIALS_KEY``, or derived from
``GATEWAY_SECRET_KEY`` (HKDF) when that is not set. Several keys may read (``MultiFernet``: the current one first,
then ``GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS``); only the current one writes, and :meth:`CredentialStore.reencrypt`
(``gateway keys rotate``) moves every stored credential to it (:mod:`gateway.keys`). eproc installations receive
the password salted with the day: ``sha256_hex("DD-MM-AAAA" + senha)``, the date in America/Sao_Paulo (DOMAIN.md
§4, inferred).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from gateway.db.tables import mni_credentials

SP = ZoneInfo("America/Sao_Paulo")
log = logging.getLogger("gateway.hub")
#: (organ id, J.TR, instance) of a stored credential
StoredKey = tuple[int, str, str]


@dataclass(frozen=True)
class TribunalCredential:
    """A user and password towards one installation (in memory only)."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"TribunalCredential(username={self.username!r}, password=***)"


def fernet_key(explicit: str, secret_key: str) -> bytes:
    """The Fernet key: the explicit one, or one derived from the gateway's secret key."""
    if explicit:
        return explicit.encode()
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gateway-mni", info=b"mni-credentials").derive(
        secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class CredentialStore:
    """Reads and writes encrypted credentials: *keys* read (the first, the current key, also writes). Errors of the
    constructor: ValueError for a key that is not a Fernet key (32 bytes, URL-safe base64)."""

    def __init__(self, keys: bytes | Sequence[bytes]) -> None:
        keys = [keys] if isinstance(keys, bytes) else list(keys)
        self.fernet = MultiFernet([Fernet(k) for k in keys])

    def put(self, conn: Connection, organ_id: int, jtr: str, instance: str, cred: TribunalCredential,
            at: datetime) -> None:
        """Store (or replace) the credential of *organ_id* towards ``jtr/instance``."""
        conn.execute(delete(mni_credentials).where(
            mni_credentials.c.organ_id == organ_id, mni_credentials.c.jtr == jtr,
            mni_credentials.c.instance == instance))
        conn.execute(insert(mni_credentials).values(
            organ_id=organ_id, jtr=jtr, instance=instance, username=cred.username,
            secret=self.fernet.encrypt(cred.password.encode()).decode(), updated_at=at))

    def get(self, conn: Connection, organ_id: int, jtr: str, instance: str) -> TribunalCredential | None:
        """The credential of *organ_id* towards ``jtr/instance`` (None when none is configured or readable)."""
        row = conn.execute(select(mni_credentials.c.username, mni_credentials.c.secret).where(
            mni_credentials.c.organ_id == organ_id, mni_credentials.c.jtr == jtr,
            mni_credentials.c.instance == instance)).first()
        if row is None:
            return None
        try:
            return TribunalCredential(row.username, self.fernet.decrypt(row.secret.encode()).decode())
        except InvalidToken:  # the start-up check (gateway.keys.check_readable) makes this loud before serving
            log.error("credencial MNI ilegível com as chaves configuradas: órgão %s, %s/%s", organ_id, jtr, instance)
            return None

    def unreadable(self, conn: Connection) -> list[StoredKey]:
        """The stored credentials that none of the keys reads."""
        bad = []
        for r in conn.execute(select(mni_credentials.c.organ_id, mni_credentials.c.jtr, mni_credentials.c.instance,
                                     mni_credentials.c.secret)):
            try:
                self.fernet.decrypt(r.secret.encode())
            except InvalidToken:
                bad.append((r.organ_id, r.jtr, r.instance))
        return bad

    def reencrypt(self, conn: Connection) -> int:
        """Encrypt every stored credential again under the current key, inside *conn*'s transaction; return how
        many. Callers check :meth:`unreadable` first: an unreadable one raises ``InvalidToken`` here."""
        rows = conn.execute(select(mni_credentials.c.organ_id, mni_credentials.c.jtr, mni_credentials.c.instance,
                                   mni_credentials.c.secret)).all()
        for r in rows:
            conn.execute(update(mni_credentials).where(
                mni_credentials.c.organ_id == r.organ_id, mni_credentials.c.jtr == r.jtr,
                mni_credentials.c.instance == r.instance).values(
                secret=self.fernet.rotate(r.secret.encode()).decode()))
        return len(rows)


def eproc_password(password: str, now: datetime) -> str:
    """eproc's date-salted password: ``sha256_hex("DD-MM-AAAA" + senha)`` for today in Brasília."""
    day = now.astimezone(SP).strftime("%d-%m-%Y")
    return hashlib.sha256((day + password).encode()).hexdigest()
