"""Administration of organs and credentials: the service behind ``gateway organ``, ``gateway credential`` and
``gateway mni credential``, and the seeding of the sandbox's demo organs.

Wired by :mod:`gateway.bootstrap` with a writer engine; every refusal is an :class:`AdminError` (``GATEWAY-E002``)
that the CLI prints as one line.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.auth import hash_password
from gateway.clock import Clock
from gateway.db.tables import credentials, organs
from gateway.errors import OperatorError
from gateway.hub.credentials import CredentialStore, TribunalCredential
from gateway.infodip.domain import Kind
from gateway.organs import OrganType
from gateway.settings import SettingsError


class AdminError(OperatorError):
    """An administration request that cannot be carried out (GATEWAY-E002)."""


class AdminService:
    """Organs, their credentials, and the MNI hub clients' credentials towards tribunal installations."""

    def __init__(self, engine: Engine, clock: Clock, *, kdf_n: int,
                 tribunal_credentials: CredentialStore | None) -> None:
        self.engine = engine
        self.clock = clock
        self.kdf_n = kdf_n
        self.tribunal_credentials = tribunal_credentials

    def organ_codes(self) -> set[str]:
        """The codes of every registered organ."""
        with self.engine.connect() as conn:
            return {r.code for r in conn.execute(select(organs.c.code))}

    def add_organ(self, code: str, name: str, organ_type: OrganType, *, kinds: Iterable[str] | None = None,
                  cns: str | None = None) -> int:
        """Register an organ and return its id. *kinds* (``I``…``IX``) replaces the default competence of its type
        (DOMAIN.md §2); *cns* is a cartório's 6-digit CNS. Errors: AdminError for a code already registered, an
        unknown kind or a malformed CNS."""
        kinds_value = None if kinds is None else ",".join(_kind(k).value for k in kinds)
        if cns is not None and not (len(cns) == 6 and cns.isdigit()):
            raise AdminError(f"CNS inválido: {cns!r} (6 dígitos)", field="cns")
        try:
            with self.engine.begin() as conn:
                if _organ_id(conn, code) is not None:
                    raise AdminError(f"órgão {code} já existe", field="code")
                result = conn.execute(insert(organs).values(code=code, name=name, organ_type=organ_type.value,
                                                            kinds=kinds_value, cns=cns, active=True,
                                                            created_at=self.clock.now()))
        except IntegrityError as exc:  # registered by someone else between the lookup and the insert
            raise AdminError(f"órgão {code} já existe", field="code") from exc
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def set_credential(self, username: str, organ_code: str, password: str | None = None) -> str:
        """Create the credential *username* for *organ_code*, or replace its password; return the password (a
        generated one when none is given: 18 random bytes, URL-safe). Errors: AdminError for an unknown organ."""
        password = password or secrets.token_urlsafe(18)
        hashed = hash_password(password, n=self.kdf_n)
        with self.engine.begin() as conn:
            organ_id = _existing_organ(conn, organ_code)
            existing = conn.execute(select(credentials.c.id).where(credentials.c.username == username)).first()
            if existing:
                conn.execute(update(credentials).where(credentials.c.id == existing.id)
                             .values(password_hash=hashed, organ_id=organ_id, active=True))
            else:
                conn.execute(insert(credentials).values(username=username, organ_id=organ_id, password_hash=hashed,
                                                        active=True, created_at=self.clock.now()))
        return password

    def set_tribunal_credential(self, organ_code: str, jtr: str, instance: str, username: str,
                                password: str) -> None:
        """Store, encrypted, the credential of the hub client *organ_code* towards the installation *instance* of
        tribunal *jtr* (``J.TR``, e.g. ``8.19``). Errors: SettingsError (GATEWAY-E001) when no key is configured;
        AdminError for an unknown organ."""
        if self.tribunal_credentials is None:
            raise SettingsError("defina GATEWAY_MNI_CREDENTIALS_KEY ou GATEWAY_SECRET_KEY para guardar credenciais")
        with self.engine.begin() as conn:
            organ_id = _existing_organ(conn, organ_code)
            self.tribunal_credentials.put(conn, organ_id, jtr, instance, TribunalCredential(username, password),
                                          self.clock.now())


def _kind(value: str) -> Kind:
    try:
        return Kind(value.strip())
    except ValueError:
        raise AdminError(f"tipo de comunicação desconhecido: {value!r} (use {', '.join(k.value for k in Kind)})",
                         field="kinds") from None


def _organ_id(conn: Connection, code: str) -> int | None:
    row = conn.execute(select(organs.c.id).where(organs.c.code == code)).first()
    return None if row is None else int(row.id)


def _existing_organ(conn: Connection, code: str) -> int:
    organ_id = _organ_id(conn, code)
    if organ_id is None:
        raise AdminError(f"órgão {code} não existe", field="organ")
    return organ_id
