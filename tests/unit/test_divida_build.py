"""Building the bridge from settings (gateway/divida/build.py): GATEWAY_PGFN_*/PGF_*/DIVIDA_* read from the
environment, secrets never printed, unusable values refused at start with GATEWAY-E001, partners built only where
configured."""

from __future__ import annotations

import asyncio

import pytest

from adapters.pgf import PgfPartner
from adapters.pgfn import PgfnPartner
from gateway.clock import FakeClock
from gateway.divida.build import build_divida
from gateway.divida.domain import Credor
from gateway.settings import Settings, SettingsError

ENV = {"GATEWAY_PGFN_URL": "http://127.0.0.1:9/", "GATEWAY_PGFN_CLIENT_ID": "chave",
       "GATEWAY_PGFN_CLIENT_SECRET": "segredo-pgfn", "GATEWAY_PGF_URL": "http://127.0.0.1:9",
       "GATEWAY_PGF_API_KEY": "segredo-pgf", "GATEWAY_PGFN_TIMEOUT_S": "2.5", "GATEWAY_PGFN_DETALHES": "false",
       "GATEWAY_DIVIDA_CACHE_TTL_S": "30", "GATEWAY_DIVIDA_DEADLINE_S": "4"}


def test_settings_from_the_environment_with_secrets_redacted() -> None:
    """The block's variables are read and typed; the PGFN client secret and the PGF API key never appear in the
    settings' repr."""
    s = Settings.from_env(ENV)
    assert (s.pgfn_timeout_s, s.pgfn_detalhes, s.divida_cache_ttl_s, s.divida_deadline_s) == (2.5, False, 30.0, 4.0)
    assert "segredo-pgfn" not in repr(s) and "segredo-pgf" not in str(s)


def test_partners_policy_and_cache_come_from_the_settings() -> None:
    """Both partners are built with their settings (token URL defaulting to {url}/token), the policy carries the
    timeouts and deadline, the cache is on with its TTL; without URLs no partner is built."""
    svc = build_divida(Settings.from_env(ENV), FakeClock())
    pgfn, pgf = svc.partners[Credor.PGFN], svc.partners[Credor.PGF]
    assert isinstance(pgfn, PgfnPartner) and isinstance(pgf, PgfPartner)
    assert pgfn.tokens.token_url == "http://127.0.0.1:9/token" and not pgfn.detalhes
    assert svc.policy.timeouts[Credor.PGFN] == 2.5 and svc.policy.deadline_s == 4.0
    assert svc.cache.enabled and svc.cache.ttl_s == 30
    asyncio.run(svc.aclose())
    bare = build_divida(Settings.from_env({}), FakeClock())
    assert bare.partners == {} and not bare.cache.enabled


@pytest.mark.parametrize("change", [
    {"GATEWAY_PGF_TIMEOUT_S": "0"}, {"GATEWAY_DIVIDA_DEADLINE_S": "-1"}, {"GATEWAY_DIVIDA_CACHE_TTL_S": "-5"},
    {"GATEWAY_DIVIDA_CONCORRENCIA": "0"}, {"GATEWAY_PGFN_CLIENT_SECRET": ""}, {"GATEWAY_PGF_API_KEY": ""},
])
def test_unusable_settings_are_refused_at_start(change: dict[str, str]) -> None:
    """Non-positive timeouts, deadline or concurrency, a negative TTL, a partner URL without its credential:
    SettingsError GATEWAY-E001 naming the variable."""
    with pytest.raises(SettingsError) as e:
        build_divida(Settings.from_env({**ENV, **change}), FakeClock())
    assert e.value.code == "GATEWAY-E001" and "GATEWAY_" in e.value.message
