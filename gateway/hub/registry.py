"""The registry of tribunal installations and of the hub's clients (configuration, a JSON file).

One ``J.TR`` is not one endpoint: PJe runs separate first- and second-degree installations, each with its own URL;
a process keeps its number when it moves up. Each installation may carry quirks (eproc's date-salted password).

```json
{"tribunais": [{"jtr": "8.19", "nome": "TJRJ", "instalacoes": [
                  {"instancia": "1", "url": "https://…/pje1grau/intercomunicacao"},
                  {"instancia": "2", "url": "https://…/pje2grau/intercomunicacao"}]},
               {"jtr": "4.04", "nome": "TRF4", "instalacoes": [
                  {"instancia": "1", "url": "https://…/eproc/intercomunicacao", "peculiaridades": ["senha-eproc"]}]}],
 "clientes": {"PGFN": {"tribunais": ["8.19", "4.04"], "tribunalPadrao": "8.19",
                       "codigoLocalidadePadrao": "1", "modoEstrito": false}}}
```

The file is read at start and again on demand — ``SIGHUP`` to ``gateway serve``, or ``POST
/api/v1/operacao/registro-mni/recarregar`` — by :func:`reload_registry`: the new registry replaces the old one in
one assignment (a call in flight finishes on the registry it started with), and an invalid file is logged as an
error and changes nothing, so adding or changing a tribunal installation needs no restart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import OperatorError

log = logging.getLogger("gateway.hub")

#: Known quirks of installations.
QUIRKS = frozenset({"senha-eproc"})


class RegistryError(OperatorError):
    """The registry file is invalid."""

    default_code = "GATEWAY-E003"


@dataclass(frozen=True)
class Installation:
    """One MNI endpoint of a tribunal."""

    jtr: str
    instance: str
    url: str
    quirks: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """``J.TR/instance``, used in audit entries and messages."""
        return f"{self.jtr}/{self.instance}"


@dataclass(frozen=True)
class Tribunal:
    """A tribunal and its installations."""

    jtr: str
    name: str
    installations: tuple[Installation, ...]


@dataclass(frozen=True)
class ClientConfig:
    """What one hub client (an ``mni_cliente`` organ) may reach."""

    organ_code: str
    tribunals: tuple[str, ...]
    default_tribunal: str | None = None
    default_codigo_localidade: str | None = None
    strict: bool = False


@dataclass(frozen=True)
class Registry:
    """Tribunals by ``J.TR`` and clients by organ code."""

    tribunals: dict[str, Tribunal] = field(default_factory=dict)
    clients: dict[str, ClientConfig] = field(default_factory=dict)

    def installation(self, jtr: str, instance: str) -> Installation | None:
        """The installation ``jtr/instance``, if registered."""
        tribunal = self.tribunals.get(jtr)
        if tribunal is None:
            return None
        return next((i for i in tribunal.installations if i.instance == instance), None)

    def all_installations(self) -> list[Installation]:
        """Every installation of every tribunal."""
        return [i for t in self.tribunals.values() for i in t.installations]

    def summary(self) -> dict[str, list[str]]:
        """What an operator is told after a reload: ``{"tribunais": ["8.19", …], "instalacoes": ["8.19/1", …],
        "clientes": ["PGFN", …]}``."""
        return {"tribunais": sorted(self.tribunals), "instalacoes": sorted(i.key for i in self.all_installations()),
                "clientes": sorted(self.clients)}


def parse_registry(data: dict[str, Any]) -> Registry:
    """Validate and build a registry from its JSON form."""
    tribunals: dict[str, Tribunal] = {}
    try:
        for t in data.get("tribunais", []):
            jtr = str(t["jtr"])
            installations = []
            for i in t["instalacoes"]:
                quirks = frozenset(i.get("peculiaridades", []))
                unknown = quirks - QUIRKS
                if unknown:
                    raise RegistryError(f"{jtr}: peculiaridades desconhecidas {sorted(unknown)}")
                installations.append(Installation(jtr, str(i["instancia"]), str(i["url"]), quirks))
            tribunals[jtr] = Tribunal(jtr, str(t.get("nome", jtr)), tuple(installations))
        clients = {}
        for code, c in data.get("clientes", {}).items():
            unknown_t = [j for j in c.get("tribunais", []) if j not in tribunals]
            if unknown_t:
                raise RegistryError(f"cliente {code}: tribunais não cadastrados {unknown_t}")
            clients[code] = ClientConfig(code, tuple(c.get("tribunais", [])), c.get("tribunalPadrao"),
                                         c.get("codigoLocalidadePadrao"), bool(c.get("modoEstrito", False)))
    except (KeyError, TypeError) as exc:
        raise RegistryError(f"registro MNI inválido: {exc!r}") from exc
    return Registry(tribunals, clients)


def load_registry(path: str) -> Registry:
    """Read the registry file at *path* (an empty registry when *path* is empty). Errors: RegistryError
    (GATEWAY-E003) for a file that cannot be read, is not JSON or is not a valid registry."""
    if not path:
        return Registry()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(f"registro MNI ilegível: {path} ({exc.strerror or exc})", field="registro") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"registro MNI não é JSON válido: {path} ({exc})", field="registro") from None
    if not isinstance(data, dict):
        raise RegistryError(f"registro MNI inválido: {path} (esperado um objeto JSON)", field="registro")
    return parse_registry(data)


def reload_registry(path: str, apply: Callable[[Registry], None],
                    count: Callable[[str], None] | None = None) -> Registry:
    """Read the registry at *path* again and hand it to *apply* (which swaps it in); *count* is told ``ok`` or
    ``invalido``. An invalid file is logged as an error and *apply* is not called: the running registry stays.
    Errors: RegistryError (GATEWAY-E003)."""
    try:
        registry = load_registry(path)
    except RegistryError as exc:
        log.error("%s: %s — mantido o registro MNI anterior", exc.code, exc.message)
        if count is not None:
            count("invalido")
        raise
    apply(registry)
    if count is not None:
        count("ok")
    log.warning("registro MNI recarregado de %s: %s", path, registry.summary())
    return registry
