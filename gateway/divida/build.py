"""Building the dívida ativa bridge from the settings: what ``gateway/bootstrap.py`` calls (the one wiring place).

Nothing is opened here until a lookup is made (httpx opens connections on first use).
"""

from __future__ import annotations

from adapters.pgf import PgfPartner
from adapters.pgfn import PgfnPartner
from gateway.clock import Clock
from gateway.divida.caches import AnswerCache
from gateway.divida.domain import Credor
from gateway.divida.partners import DebtPartner
from gateway.divida.service import DividaPolicy, DividaService
from gateway.settings import Settings, SettingsError


def check_settings(settings: Settings) -> None:
    """Refuse settings the bridge cannot work with (``GATEWAY-E001``): non-positive timeouts, deadline,
    concurrency, pages or cache size, a negative cache TTL, a PGFN URL without its client credentials or a PGF URL
    without its API key."""
    positive = {"GATEWAY_PGFN_TIMEOUT_S": settings.pgfn_timeout_s, "GATEWAY_PGF_TIMEOUT_S": settings.pgf_timeout_s,
                "GATEWAY_DIVIDA_DEADLINE_S": settings.divida_deadline_s,
                "GATEWAY_DIVIDA_CONCORRENCIA": settings.divida_concorrencia,
                "GATEWAY_PGF_MAX_PAGINAS": settings.pgf_max_paginas,
                "GATEWAY_DIVIDA_CACHE_MAX": settings.divida_cache_max}
    for name, value in positive.items():
        if value <= 0:
            raise SettingsError(f"{name} deve ser positivo: {value!r}")
    if settings.divida_cache_ttl_s < 0 or settings.pgfn_token_margin_s < 0:
        raise SettingsError("GATEWAY_DIVIDA_CACHE_TTL_S e GATEWAY_PGFN_TOKEN_MARGIN_S não podem ser negativos")
    if settings.pgfn_url and not (settings.pgfn_client_id and settings.pgfn_client_secret):
        raise SettingsError("GATEWAY_PGFN_URL exige GATEWAY_PGFN_CLIENT_ID e GATEWAY_PGFN_CLIENT_SECRET")
    if settings.pgf_url and not settings.pgf_api_key:
        raise SettingsError("GATEWAY_PGF_URL exige GATEWAY_PGF_API_KEY")


def build_divida(settings: Settings, clock: Clock) -> DividaService:
    """The :class:`DividaService` of *settings*: a partner per configured URL (an unconfigured one is reported
    ``indisponivel`` in every answer), the policy, and the answer cache (off unless ``GATEWAY_DIVIDA_CACHE_TTL_S``
    > 0). Raises :class:`~gateway.settings.SettingsError` (:func:`check_settings`)."""
    check_settings(settings)
    partners: dict[Credor, DebtPartner] = {}
    if settings.pgfn_url:
        partners[Credor.PGFN] = PgfnPartner(
            settings.pgfn_url, settings.pgfn_token_url, settings.pgfn_client_id, settings.pgfn_client_secret,
            timeout=settings.pgfn_timeout_s, clock=clock, token_margin_s=settings.pgfn_token_margin_s,
            detalhes=settings.pgfn_detalhes)
    if settings.pgf_url:
        partners[Credor.PGF] = PgfPartner(settings.pgf_url, settings.pgf_api_key, timeout=settings.pgf_timeout_s,
                                          max_paginas=settings.pgf_max_paginas, clock=clock)
    cache = AnswerCache(clock, settings.divida_cache_ttl_s, settings.divida_cache_max)
    return DividaService(partners, clock, DividaPolicy.of(settings), cache)
