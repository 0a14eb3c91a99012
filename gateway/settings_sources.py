"""Where settings come from: the environment and an optional config file.

:func:`gather` reads, in order of precedence (each one wins over the ones before it):

1. the command's defaults (``gateway serve``: production) and the fields' own defaults — source ``padrão``;
2. the config file named by ``--config`` or ``GATEWAY_CONFIG_FILE``: TOML (``*.toml``: keys ``GATEWAY_PORT = 8081``
   or ``port = 8081``, case-insensitive, at the top level) or .env (any other name: ``GATEWAY_PORT=8081`` lines)
   — source ``arquivo PATH``;
3. ``GATEWAY_*`` environment variables — source ``ambiente``;
4. values fixed by the caller (the sandbox fixes its database, keys and simulators) — source ``fixado``.

The file and the environment are read with pydantic-settings' own sources (``EnvSettingsSource`` over the given
mapping, ``DotEnvSettingsSource``, ``TomlConfigSettingsSource``); this module adds what the library does not do:
an unknown ``GATEWAY_*`` name, in the environment or the file, is a problem naming the closest valid one
(:mod:`difflib`); ``GATEWAY_TEST_*`` names are the test suite's and skipped unread; and each value's source is
kept for ``gateway config show`` (:meth:`gateway.settings.Settings.show`).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource, TomlConfigSettingsSource

PREFIX = "GATEWAY_"
#: Reserved for the test suite (DESIGN.md): never read by the product, never refused.
RESERVED_PREFIX = "GATEWAY_TEST_"
#: Names the loader itself reads (not fields).
CONFIG_FILE_VARIABLE = "GATEWAY_CONFIG_FILE"
OWN_VARIABLES = frozenset({CONFIG_FILE_VARIABLE})


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (the process's environment by default), without
    the reserved ``GATEWAY_TEST_*`` names."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = {k: v for k, v in environ.items() if not k.upper().startswith(RESERVED_PREFIX)}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


def gather(cls: type[BaseSettings], environ: Mapping[str, str] | None, defaults: Mapping[str, Any],
           config_file: str | Path | None, overrides: Mapping[str, Any],
           ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(values, field → source, problems) from the four layers of the module docstring. Problems are complete
    lines naming their variable: an unknown name (with a suggestion), an unreadable config file."""
    env = os.environ if environ is None else environ
    fields = set(cls.model_fields)
    problems: list[str] = []
    values: dict[str, Any] = dict(defaults)
    sources = dict.fromkeys(values, "padrão")

    path = config_file if config_file is not None else env.get(CONFIG_FILE_VARIABLE) or None
    if path:
        from_file, file_problems = read_config_file(cls, Path(path))
        problems += file_problems
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, f"arquivo {path}"))

    source = _MappingEnvSource(cls, env)
    problems += unknown_names((k.upper() for k in source.env_vars if k.upper().startswith(PREFIX)), fields,
                              "variável de ambiente")
    from_env = {k: v for k, v in source().items() if k in fields}
    values.update(from_env)
    sources.update(dict.fromkeys(from_env, "ambiente"))

    values.update(overrides)
    sources.update(dict.fromkeys(overrides, "fixado"))
    return values, sources, problems


def read_config_file(cls: type[BaseSettings], path: Path) -> tuple[dict[str, Any], list[str]]:
    """(field → value, problems) of the config file at *path*: TOML when its name ends ``.toml``, else .env."""
    fields = set(cls.model_fields)
    if not path.is_file():
        return {}, [f"{CONFIG_FILE_VARIABLE}: arquivo de configuração não encontrado: {path}"]
    try:
        if path.suffix.lower() == ".toml":
            raw: dict[str, Any] = TomlConfigSettingsSource(cls, toml_file=path)()
            keys = {k: (k.upper() if k.upper().startswith(PREFIX) else PREFIX + k.upper()) for k in raw}
            problems = [f"{CONFIG_FILE_VARIABLE} ({path}): {k}: uma tabela não é aceita; use chaves no nível de cima"
                        for k, v in raw.items() if isinstance(v, dict)]
            values = {keys[k][len(PREFIX):].lower(): v for k, v in raw.items() if not isinstance(v, dict)}
        else:
            dotenv = DotEnvSettingsSource(cls, env_file=path)
            keys = {k: k.upper() for k in dotenv.env_vars}
            problems = [f"{CONFIG_FILE_VARIABLE} ({path}): {k}: só nomes GATEWAY_* são aceitos"
                        for k in keys.values() if not k.startswith(PREFIX)]
            values = {k: v for k, v in dotenv().items() if k in fields}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{CONFIG_FILE_VARIABLE}: arquivo de configuração ilegível: {path} ({exc})"]
    named = [k for k in keys.values() if k.startswith(PREFIX)]
    problems += unknown_names(named, fields, f"chave do arquivo {path}")
    return {k: v for k, v in values.items() if k in fields}, problems


def unknown_names(names: Any, fields: set[str], where: str) -> list[str]:
    """A problem per ``GATEWAY_*`` name in *names* that is no field (nor reserved, nor the loader's own), each with
    the closest valid name when one is close enough."""
    valid = sorted(f.upper() for f in fields)  # compared without the prefix, which every name shares
    problems = []
    for name in sorted(set(names)):
        if name.startswith(RESERVED_PREFIX) or name in OWN_VARIABLES or name[len(PREFIX):].lower() in fields:
            continue
        close = difflib.get_close_matches(name[len(PREFIX):], valid, n=1, cutoff=0.6)
        hint = f"; quis dizer {PREFIX}{close[0]}?" if close else " (veja gateway config show)"
        problems.append(f"{name}: {where} desconhecida{hint}")
    return problems
