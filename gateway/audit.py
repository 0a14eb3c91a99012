"""The append-only, hash-chained audit log, with Ed25519-signed checkpoints.

Each writer (one per process) owns its own chain, so writers never wait on a shared chain head (DESIGN.md). An
entry's hash covers the previous hash and every column of the entry; a checkpoint signs (chain, seq, hash) with the
key from the settings. :func:`verify` walks every chain and reports the first broken link.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from gateway.clock import utc
from gateway.db.bulk import insert_many
from gateway.db.tables import audit_chains, audit_checkpoints, audit_log


def _ts(dt: datetime) -> str:
    return utc(dt).replace(tzinfo=None).isoformat(timespec="microseconds")


def genesis_hash(chain_id: str) -> str:
    """The "previous hash" of a chain's first entry."""
    return hashlib.sha256(b"gateway-audit-genesis:" + chain_id.encode()).hexdigest()


def entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of one entry: SHA-256 over the previous hash and the entry's canonical JSON."""
    canonical = json.dumps(
        {
            "chain_id": row["chain_id"],
            "seq": row["seq"],
            "event": row["event"],
            "organ_id": row["organ_id"],
            "message_id": row["message_id"],
            "protocol": row["protocol"],
            "payload_digest": row["payload_digest"],
            "detail": row["detail"],
            "created_at": _ts(row["created_at"]),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(prev_hash.encode() + canonical.encode()).hexdigest()


class Signer:
    """Signs checkpoints with an Ed25519 private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The verifying key."""
        return self._key.public_key()

    def sign(self, data: bytes) -> str:
        """Hex signature of *data*."""
        return self._key.sign(data).hex()


def load_signing_key(path: str) -> Signer:
    """Load the PEM (PKCS#8) Ed25519 key at *path*."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return Signer(key)


def create_signing_key(path: str) -> Signer:
    """Generate a new Ed25519 key, write it to *path* (mode 0600) and return its signer."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    p = Path(path)
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return Signer(key)


def checkpoint_message(chain_id: str, seq: int, entry_hash_: str) -> bytes:
    """The bytes a checkpoint signs."""
    return f"gateway-audit-checkpoint:{chain_id}:{seq}:{entry_hash_}".encode()


@dataclass
class AuditChain:
    """One writer's chain. Owned by a single thread; :meth:`mark`/:meth:`restore` undo appends rolled back."""

    chain_id: str
    signer: Signer | None
    checkpoint_every: int = 1000
    seq: int = 0
    head: str = ""

    @classmethod
    def start(cls, conn: Connection, at: datetime, signer: Signer | None, checkpoint_every: int = 1000,
              writer: str | None = None) -> AuditChain:
        """Open a new chain for this writer (inserted in *conn*'s transaction)."""
        chain_id = str(uuid.uuid4())
        conn.execute(insert(audit_chains).values(
            chain_id=chain_id, writer=writer or f"{socket.gethostname()}:{os.getpid()}", started_at=at))
        return cls(chain_id=chain_id, signer=signer, checkpoint_every=checkpoint_every, head=genesis_hash(chain_id))

    def mark(self) -> tuple[int, str]:
        """The current head, to restore if the transaction holding later appends rolls back."""
        return (self.seq, self.head)

    def restore(self, mark: tuple[int, str]) -> None:
        """Return to a head taken with :meth:`mark`."""
        self.seq, self.head = mark

    def append(self, conn: Connection, event: str, at: datetime, *, organ_id: int | None = None,
               message_id: str | None = None, protocol: str | None = None, payload_digest: str | None = None,
               detail: Mapping[str, Any] | None = None) -> None:
        """Append one entry inside *conn*'s transaction (and a signed checkpoint every N entries)."""
        self.append_many(conn, [(event, {"organ_id": organ_id, "message_id": message_id, "protocol": protocol,
                                         "payload_digest": payload_digest, "detail": detail})], at)

    def append_many(self, conn: Connection, entries: Sequence[tuple[str, Mapping[str, Any]]], at: datetime,
                    defer: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        """Append several entries (event, fields of :meth:`append`) with one multi-row insert — or hand their rows
        to *defer* (the write context's deferred insert, inserted before the commit)."""
        def put(rows: list[dict[str, Any]]) -> None:
            if defer is None:
                insert_many(conn, audit_log, rows)
            else:
                defer(rows)

        rows = []
        for event, fields_ in entries:
            detail = fields_.get("detail")
            row: dict[str, Any] = {
                "chain_id": self.chain_id, "seq": self.seq + 1, "event": event,
                "organ_id": fields_.get("organ_id"), "message_id": fields_.get("message_id"),
                "protocol": fields_.get("protocol"), "payload_digest": fields_.get("payload_digest"),
                "detail": json.dumps(dict(detail or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                "created_at": utc(at),
            }
            h = entry_hash(self.head, row)
            row["prev_hash"], row["entry_hash"] = self.head, h
            rows.append(row)
            self.seq += 1
            self.head = h
            if self.signer is not None and self.seq % self.checkpoint_every == 0:
                put(rows)
                rows = []
                self.checkpoint(conn, at)
        if rows:
            put(rows)

    def checkpoint(self, conn: Connection, at: datetime) -> None:
        """Sign the current head."""
        if self.signer is None or self.seq == 0:
            return
        conn.execute(insert(audit_checkpoints).values(
            chain_id=self.chain_id, seq=self.seq, entry_hash=self.head, key_id=self.signer.key_id,
            signature=self.signer.sign(checkpoint_message(self.chain_id, self.seq, self.head)), created_at=at))


@dataclass
class VerifyReport:
    """What :func:`verify` found."""

    chains: int = 0
    entries: int = 0
    checkpoints: int = 0
    broken: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every link and signature checked out."""
        return not self.broken


def verify(conn: Connection, public_key: Ed25519PublicKey | None) -> VerifyReport:
    """Walk every chain, recompute every hash, check every checkpoint; report the first broken link per chain."""
    report = VerifyReport()
    chain_ids = [r.chain_id for r in conn.execute(select(audit_chains.c.chain_id).order_by(audit_chains.c.started_at))]
    for chain_id in chain_ids:
        report.chains += 1
        prev = genesis_hash(chain_id)
        expected_seq = 1
        hashes: dict[int, str] = {}
        rows = conn.execute(select(audit_log).where(audit_log.c.chain_id == chain_id).order_by(audit_log.c.seq))
        for row in rows.mappings():
            report.entries += 1
            if row["seq"] != expected_seq:
                report.broken.append(f"cadeia {chain_id}: entrada {expected_seq} ausente (encontrada {row['seq']})")
                break
            if row["prev_hash"] != prev:
                report.broken.append(f"cadeia {chain_id}: entrada {row['seq']} não aponta para a anterior")
                break
            if entry_hash(prev, dict(row)) != row["entry_hash"]:
                report.broken.append(f"cadeia {chain_id}: entrada {row['seq']} foi alterada (hash não confere)")
                break
            prev = row["entry_hash"]
            hashes[row["seq"]] = prev
            expected_seq += 1
        cps = conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.chain_id == chain_id)
                           .order_by(audit_checkpoints.c.seq))
        for cp in cps.mappings():
            report.checkpoints += 1
            if hashes.get(cp["seq"]) != cp["entry_hash"]:
                report.broken.append(f"cadeia {chain_id}: checkpoint {cp['seq']} não confere com a entrada")
                continue
            if public_key is None:
                continue
            try:
                public_key.verify(bytes.fromhex(cp["signature"]),
                                  checkpoint_message(chain_id, cp["seq"], cp["entry_hash"]))
            except (InvalidSignature, ValueError):
                report.broken.append(f"cadeia {chain_id}: assinatura inválida no checkpoint {cp['seq']}")
    return report
