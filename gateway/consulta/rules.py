"""The political-rights timeline's rules, versioned by the date from which each applies (configuration).

LC 219/2025 changed how LC 64/1990 counts the improbity inelegibility and capped the total (DOMAIN.md §2a); only
commentary was available, so every rule lives in configuration — ``regras.toml`` beside this module, or the file
``GATEWAY_CONSULTA_RULES_PATH`` names — and each answer names the :class:`RuleVersion` it used: the one in force on
the date asked about (:meth:`RuleBook.in_force`). Pure apart from :func:`load_rules` reading the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gateway.errors import OperatorError

DEFAULT_RULES = Path(__file__).with_name("regras.toml")
SUSPENSION_FROM = ("transito", "colegiada")
INELEGIBILITY_COUNT = ("apos_cumprimento", "desde_colegiada")
#: names a version may list in ``inferidas`` (one per rule of :mod:`gateway.consulta.timeline`)
RULE_NAMES = ("suspensao_improbidade", "suspensao_criminal", "inelegibilidade_l", "inelegibilidade_e",
              "inelegibilidade_o", "teto", "outra_hipotese", "obito", "mesmos_fatos")


@dataclass(frozen=True)
class RuleVersion:
    """One version of the rules (fields as documented in ``regras.toml``; years are calendar years)."""

    id: str
    vigencia: date
    descricao: str
    fontes: tuple[str, ...]
    improbidade_suspensao_contada_de: str
    improbidade_inelegibilidade: str
    criminal_inelegibilidade: str
    inelegibilidade_anos: int
    demissao_anos: int
    teto_anos: int
    teto_alineas: tuple[str, ...]
    mesmos_fatos_uma_inelegibilidade: bool
    inferidas: frozenset[str]

    def inferred(self, rule: str) -> bool:
        """Whether *rule* (a name of :data:`RULE_NAMES`) is inferred in this version."""
        return rule in self.inferidas


@dataclass(frozen=True)
class RuleBook:
    """Every rule version, oldest first."""

    versions: tuple[RuleVersion, ...]

    def in_force(self, on: date) -> RuleVersion:
        """The version in force on *on* (the latest whose ``vigencia`` is not after it; the oldest before all)."""
        chosen = self.versions[0]
        for version in self.versions:
            if version.vigencia <= on:
                chosen = version
        return chosen

    def by_id(self, rule_id: str) -> RuleVersion:
        """The version named *rule_id*. Errors: KeyError."""
        for version in self.versions:
            if version.id == rule_id:
                return version
        raise KeyError(rule_id)


def parse_rules(data: Mapping[str, Any], source: str = "regras") -> RuleBook:
    """The rule book of a parsed TOML document. Errors: OperatorError (GATEWAY-E001) naming the version and field
    at fault."""
    raw = data.get("versao")
    if not isinstance(raw, list) or not raw:
        raise OperatorError(f"{source}: nenhuma [[versao]] de regras", code="GATEWAY-E001", field="versao")
    versions = [_version(item, source) for item in raw]
    versions.sort(key=lambda v: v.vigencia)
    ids = [v.id for v in versions]
    if len(set(ids)) != len(ids):
        raise OperatorError(f"{source}: id de versão repetido", code="GATEWAY-E001", field="versao.id")
    return RuleBook(tuple(versions))


def _version(item: Any, source: str) -> RuleVersion:
    where = f"{source}: versao {item.get('id', '?') if isinstance(item, dict) else '?'}"
    try:
        version = RuleVersion(
            id=str(item["id"]), vigencia=date.fromisoformat(str(item["vigencia"])),
            descricao=str(item["descricao"]), fontes=tuple(str(f) for f in item.get("fontes", ())),
            improbidade_suspensao_contada_de=_one_of(item, "improbidade_suspensao_contada_de", SUSPENSION_FROM),
            improbidade_inelegibilidade=_one_of(item, "improbidade_inelegibilidade", INELEGIBILITY_COUNT),
            criminal_inelegibilidade=_one_of(item, "criminal_inelegibilidade", INELEGIBILITY_COUNT),
            inelegibilidade_anos=int(item["inelegibilidade_anos"]), demissao_anos=int(item["demissao_anos"]),
            teto_anos=int(item.get("teto_anos", 0)), teto_alineas=tuple(item.get("teto_alineas", ())),
            mesmos_fatos_uma_inelegibilidade=bool(item.get("mesmos_fatos_uma_inelegibilidade", True)),
            inferidas=frozenset(_names(item.get("inferidas", ()))))
    except (KeyError, TypeError, ValueError) as exc:
        raise OperatorError(f"{where}: {exc}", code="GATEWAY-E001", field="versao") from None
    return version


def _one_of(item: Mapping[str, Any], name: str, allowed: Sequence[str]) -> str:
    value = str(item[name])
    if value not in allowed:
        raise ValueError(f"{name}={value!r} (use {', '.join(allowed)})")
    return value


def _names(values: Sequence[str]) -> list[str]:
    unknown = [v for v in values if v not in RULE_NAMES]
    if unknown:
        raise ValueError(f"inferidas: {unknown} (use {', '.join(RULE_NAMES)})")
    return list(values)


def load_rules(path: str | Path | None = None) -> RuleBook:
    """The rule book in *path* (default: ``regras.toml`` beside this module). Errors: OperatorError (GATEWAY-E001)
    for a file that cannot be read or is not a valid rule book."""
    where = Path(path) if path else DEFAULT_RULES
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise OperatorError(f"GATEWAY_CONSULTA_RULES_PATH: não foi possível ler {where} ({exc})",
                            code="GATEWAY-E001", field="consulta_rules_path") from None
    return parse_rules(data, str(where))
