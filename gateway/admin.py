"""Administration of organs and credentials (used by the CLI and the sandbox)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from gateway.auth import hash_password
from gateway.clock import SystemClock
from gateway.db.tables import credentials, organs
from gateway.errors import OperatorError
from gateway.infodip.domain import Kind
from gateway.organs import OrganType


class AdminError(OperatorError):
    """An administration request that cannot be carried out."""


def add_organ(engine: Engine, code: str, name: str, organ_type: OrganType, *, kinds: Iterable[str] | None = None,
              cns: str | None = None) -> int:
    """Register an organ; *kinds* overrides the default competence of its type."""
    kinds_value = None
    if kinds is not None:
        kinds_value = ",".join(Kind(k).value for k in kinds)
    with engine.begin() as conn:
        if conn.execute(select(organs.c.id).where(organs.c.code == code)).first():
            raise AdminError(f"órgão {code} já existe")
        result = conn.execute(insert(organs).values(code=code, name=name, organ_type=organ_type.value,
                                                    kinds=kinds_value, cns=cns, active=True,
                                                    created_at=SystemClock().now()))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def set_credential(engine: Engine, username: str, organ_code: str, password: str, kdf_n: int = 2**14) -> None:
    """Create the credential *username* for *organ_code*, or replace its password."""
    hashed = hash_password(password, n=kdf_n)
    with engine.begin() as conn:
        organ = conn.execute(select(organs.c.id).where(organs.c.code == organ_code)).first()
        if organ is None:
            raise AdminError(f"órgão {organ_code} não existe")
        existing = conn.execute(select(credentials.c.id).where(credentials.c.username == username)).first()
        if existing:
            conn.execute(update(credentials).where(credentials.c.id == existing.id)
                         .values(password_hash=hashed, organ_id=organ.id, active=True))
        else:
            conn.execute(insert(credentials).values(username=username, organ_id=organ.id, password_hash=hashed,
                                                    active=True, created_at=SystemClock().now()))
