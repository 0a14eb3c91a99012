"""Configuring the hub for simulated tribunals (sandbox and tests): registry file and encrypted credentials.

Each simulator describes itself at ``GET /_mock/demo`` (installations, credentials, processes); this module writes
the registry the hub reads and stores, through the admin service bootstrap wires, the sandbox clients' credentials
towards each installation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from gateway.admin import AdminService

#: Which sandbox client uses which of a simulator's accounts (client organ → account prefix).
CLIENT_ACCOUNTS = {"PGFN": "pgfn-", "PGF": "pgf-"}


def describe(urls: list[str]) -> list[dict[str, Any]]:
    """The ``/_mock/demo`` description of each simulator."""
    return [httpx.get(url + "/_mock/demo", timeout=10).json() for url in urls]


def registry_for(demos: list[dict[str, Any]]) -> dict[str, Any]:
    """A registry (file format of :mod:`gateway.hub.registry`) for the simulators described by *demos*."""
    tribunals = []
    clients: dict[str, dict[str, Any]] = {}
    for demo in demos:
        quirks = ["senha-eproc"] if demo.get("password_rule") != "plain" else []
        tribunals.append({"jtr": demo["jtr"], "nome": demo["tribunal"], "instalacoes": [
            {"instancia": i["instance"], "url": i["url"], "peculiaridades": quirks} for i in demo["installations"]]})
        for organ, prefix in CLIENT_ACCOUNTS.items():
            if any(user.startswith(prefix) for user in demo["credentials"]):
                client = clients.setdefault(organ, {"tribunais": [], "tribunalPadrao": demo["jtr"],
                                                    "codigoLocalidadePadrao": "1", "modoEstrito": False})
                client["tribunais"].append(demo["jtr"])
    return {"tribunais": tribunals, "clientes": clients}


def configure(admin: AdminService, demos: list[dict[str, Any]], registry_path: Path) -> None:
    """Write the registry file and store each client's credential towards each installation (clients whose organ
    is not registered are skipped)."""
    registry_path.write_text(json.dumps(registry_for(demos), indent=2, ensure_ascii=False), encoding="utf-8")
    registered = admin.organ_codes()
    for demo in demos:
        for organ, prefix in CLIENT_ACCOUNTS.items():
            account = next(((u, p) for u, p in demo["credentials"].items() if u.startswith(prefix)), None)
            if account is None or organ not in registered:
                continue
            for inst in demo["installations"]:
                admin.set_tribunal_credential(organ, demo["jtr"], inst["instance"], account[0], account[1])
