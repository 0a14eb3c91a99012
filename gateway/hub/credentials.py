"""Credentials of each hub client towards each tribunal installation, encrypted at rest, never returned.

Fernet (AES-128-CBC + HMAC-SHA256) with a key from ``GATEWAY_MNI_CREDENTIALS_KEY``, or derived from
``GATEWAY_SECRET_KEY`` (HKDF) when that is not set. eproc installations receive the password salted with the day:
``sha256_hex("DD-MM-AAAA" + senha)``, the date in America/Sao_Paulo (DOMAIN.md §4, inferred).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from gateway.db.tables import mni_credentials

SP = ZoneInfo("America/Sao_Paulo")


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
    """Reads and writes encrypted credentials."""

    def __init__(self, key: bytes) -> None:
        self.fernet = Fernet(key)

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
        except InvalidToken:
            return None


def eproc_password(password: str, now: datetime) -> str:
    """eproc's date-salted password: ``sha256_hex("DD-MM-AAAA" + senha)`` for today in Brasília."""
    day = now.astimezone(SP).strftime("%d-%m-%Y")
    return hashlib.sha256((day + password).encode()).hexdigest()
