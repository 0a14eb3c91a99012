"""The sandbox's grants: its operations organ, each demo organ's scopes, and the info file's credential entries
(DESIGN.md "Sandbox info file, later keys": every credential entry carries ``grants``)."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any, Protocol

from gateway import passwords
from gateway.admin import AdminService
from gateway.grants import DEMO_GRANTS, OPERATIONS_ORGAN
from gateway.organs import OrganType


class DemoCredential(Protocol):
    """A demo organ and its one credential (``gateway.sandbox.DemoOrgan``)."""

    @property
    def code(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def organ_type(self) -> OrganType: ...


def seed_sandbox(admin: AdminService, passwords_by_user: MutableMapping[str, str],
                 organs: Iterable[DemoCredential]) -> list[dict[str, Any]]:
    """Register the sandbox's operations organ and credential (its password kept in *passwords_by_user*), give every
    demo organ its :data:`DEMO_GRANTS`, and return the info file's ``credentials`` entries, each with its
    ``grants`` (DESIGN.md "Sandbox info file, later keys")."""
    code, name, organ_type, username = OPERATIONS_ORGAN
    if code not in admin.organ_codes():
        admin.add_organ(code, name, organ_type)
    password = passwords_by_user.setdefault(username, passwords.generate(username))
    admin.set_credential(username, code, password)
    entries = [(o.username, o.code, o.organ_type) for o in organs] + [(username, code, organ_type)]
    for organ_code, scopes in DEMO_GRANTS.items():
        admin.grant(organ_code, scopes)
    return [{"username": user, "password": passwords_by_user[user], "organ": organ,
             "organ_type": kind.value, "grants": list(DEMO_GRANTS.get(organ, ()))}
            for user, organ, kind in entries]
