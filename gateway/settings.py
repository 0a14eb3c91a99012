"""One typed settings object, read from ``GATEWAY_*`` environment variables (and an optional config file) and
validated at start with pydantic-settings.

Nothing reads the environment anywhere else. :meth:`Settings.from_env` gathers the values — command defaults, then
the config file (``GATEWAY_CONFIG_FILE`` or ``gateway --config``, TOML or .env), then ``GATEWAY_*`` variables, then
values fixed by the caller (the sandbox's) — in :mod:`gateway.settings_sources`, and validates them here. Every
problem is reported at once, one line each naming its variable (:class:`SettingsError`, ``GATEWAY-E001``): a
malformed value, an unknown ``GATEWAY_*`` name (with the closest valid one suggested), and in production the
defaults that are only fit for a laptop (a missing or weak secret, a missing signing key, no public URL, a relay
with no partner to deliver to). ``gateway serve`` and ``gateway relay`` run in production unless
``GATEWAY_ENVIRONMENT`` says otherwise.

Names starting ``GATEWAY_TEST_`` are the test suite's (``GATEWAY_TEST_PG_URL``) and never read by the product. The
test-only crash hook is ``GATEWAY_CRASH_AT`` (a name of the product, refused unless ``GATEWAY_ENVIRONMENT=test``).

Secrets (:data:`SECRET_FIELDS`, and the password inside any ``*_url``) never appear in ``repr``/``str``, in
``gateway config show``, in a log line or in an error message: problems name the variable, never echo a secret.

A secret is weak (:func:`secret_weakness`) when it has fewer than 32 characters, when its estimated entropy —
its length times the Shannon entropy of its own character frequencies — is under 80 bits (``aaaa…``,
``abab…``), or when fewer than three quarters of its 3-character substrings are distinct (a repeated pattern such
as ``abcd`` × 16 or a word written three times). ``secrets.token_urlsafe(32)`` always passes.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.divida.intimacoes.domain import parse_tribunais
from gateway.errors import OperatorError
from gateway.limits import XmlLimits

PREFIX = "GATEWAY_"
__all__ = ["SECRET_FIELDS", "Settings", "SettingsError", "XmlLimits", "parse_listen", "parse_networks",
           "redact_url", "secret_weakness"]


class SettingsError(OperatorError):
    """A setting is missing or malformed. ``problems``: one Portuguese line per problem, each naming its variable
    (the CLI prints one line each)."""

    default_code = "GATEWAY-E001"

    def __init__(self, message: str, *, problems: tuple[str, ...] | None = None, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.problems = problems or (message,)

    @classmethod
    def of(cls, problems: list[str]) -> SettingsError:
        """One error carrying every problem (its message: the problems joined by ``; ``)."""
        return cls("; ".join(problems), problems=tuple(problems))


#: Settings whose values are secrets: shown as ``***`` by ``repr``/``str``/``gateway config show``.
SECRET_FIELDS = frozenset({"secret_key", "admin_token", "mni_credentials_key", "pgfn_client_secret", "pgf_api_key",
                           "mni_credentials_previous_keys"})
# A URL's password: between "user:" and the last "@" (greedy: redacting too much beats leaking), and a
# ``password=`` query parameter (libpq accepts both).
_URL_PASSWORD = re.compile(r"(://[^:/@]*:).*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """*url* with its password replaced by ``***`` (``postgresql://gw:***@db/gateway``)."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))


def shown(name: str, value: Any) -> Any:
    """*value* of field *name* as it may be shown: ``***`` for a set secret, a URL with its password redacted."""
    if name in SECRET_FIELDS and value:
        return "***"
    if name.endswith("_url") and isinstance(value, str):
        return redact_url(value)
    return value


Environment = Literal["development", "sandbox", "test", "production"]
_TRUE = {"sim"}
_FALSE = {"nao", "não"}


class Settings(BaseSettings):
    """Every tunable of the gateway. Field ``x`` is read from ``GATEWAY_X`` (or key ``GATEWAY_X``/``x`` of the config
    file). Frozen; build it with :meth:`from_env` (``Settings()`` alone gives the defaults and reads nothing)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="forbid", case_sensitive=False,
                                      validate_default=True)

    environment: Environment = "development"
    # SQLite by default, in a directory of its own (created 0700; the database and its WAL/SHM 0600)
    database_url: str = "sqlite:///./gateway-data/gateway.db"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    auto_migrate: bool = True
    # Secret for HMAC keys (credential cache); production refuses the empty default.
    secret_key: str = ""
    # Ed25519 private key (PEM, PKCS#8) signing audit checkpoints; production requires it.
    signing_key_path: str = ""
    audit_checkpoint_every: int = Field(1000, ge=1)
    auth_cache_seconds: float = Field(60.0, ge=0)
    password_kdf_n: int = Field(2**14, ge=2)
    infodip_max_body_bytes: int = Field(512 * 1024, ge=1)
    infodip_max_depth: int = Field(48, ge=1)
    infodip_max_text_bytes: int = Field(64 * 1024, ge=1)
    # Group commit: how many intake transactions one durable commit may carry, and how long to wait for more.
    commit_batch_max: int = Field(256, ge=1)
    commit_wait_ms: float = Field(0.0, ge=0)
    # Every caller is answered within this many seconds (INFODIP-E091 past it); it also bounds each database wait
    # (SQLite busy timeout; PostgreSQL statement_timeout and lock_timeout).
    commit_timeout_s: float = Field(10.0, gt=0)
    # Overload: callers' jobs queued at the writer, and intake requests in flight, beyond which a request is
    # refused at once (INFODIP-E092, Retry-After: overload_retry_after_s); 0 disables the bound.
    commit_queue_max: int = Field(1024, ge=0)
    intake_max_inflight: int = Field(128, ge=0)
    # ... and while the shortest stay of an admitted request over 100 ms exceeds this (a standing queue)
    intake_target_ms: float = 300.0
    # ... and while the event loop lags behind by more than this
    intake_max_lag_ms: float = 150.0
    # How long a thread holding the GIL runs before another that waits for it gets it (sys.setswitchinterval;
    # CPython's default is 5 ms): the event loop shares the process with the group committer and the death batches'
    # threads, and waits up to this each time it needs the GIL back (issue 13: at 5 ms tribunals' intake was refused
    # with E092 while a batch was stored; at 1 ms it was not — bench/README.md, section obitos).
    gil_switch_interval_ms: float = Field(1.0, gt=0, le=100)
    overload_retry_after_s: int = Field(1, ge=0)
    timezone: str = "America/Sao_Paulo"
    # Art. 7º of Res. Conjunta 6/2020: 10 days after the fact (inferred counting rule, configurable).
    deadline_days: int = Field(10, ge=0)
    # Código Eleitoral art. 71 §3º: deaths of a month by this day of the next month.
    death_deadline_day: int = Field(15, ge=1, le=31)
    # Death batches (issue 13): records per batch beyond which it is refused whole (INFODIP-E060); records per
    # chunk, each chunk one job of the group committer (small enough that tribunals' intake keeps flowing); batches
    # of at most obitos_sync_max records are answered at once, bigger ones 202 + progress; the body's size limit
    # (spooled to a temporary file, never held in memory) and where it is spooled (empty: the system's temp dir).
    obitos_max_records: int = Field(10_000, ge=1)
    obitos_chunk_records: int = Field(500, ge=1)
    obitos_sync_max: int = Field(500, ge=0)
    obitos_max_body_bytes: int = Field(256 * 1024 * 1024, ge=1)
    obitos_spool_dir: str = ""
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Partners (empty URL: the destination is not configured and its rows wait in the outbox; production with the
    # relay on refuses that).
    tse_url: str = ""
    cnj_url: str = ""
    partner_timeout_s: float = Field(10.0, gt=0)
    partner_batch_max: int = Field(100, ge=1)
    # Delivery
    relay_enabled: bool = True
    relay_batch_size: int = Field(800, ge=1)
    relay_lease_s: float = Field(60.0, gt=0)
    relay_max_attempts: int = Field(12, ge=1)
    relay_base_backoff_s: float = Field(1.0, ge=0)
    relay_max_backoff_s: float = Field(300.0, ge=0)
    relay_poll_interval_s: float = Field(0.5, gt=0)
    breaker_threshold: int = Field(5, ge=1)
    breaker_cooldown_s: float = Field(10.0, ge=0)
    # The change feed's webhooks (gateway/infodip/webhooks.py; pushed by the processes that run the relay) and the
    # TSE store's processing outcome, asked of the store every tse_outcome_poll_s (0: never)
    feed_webhook_batch: int = Field(100, ge=1, le=1000)
    feed_webhook_timeout_s: float = Field(10.0, gt=0)
    feed_webhook_max_attempts: int = Field(10, ge=1)
    feed_webhook_base_backoff_s: float = Field(1.0, ge=0)
    feed_webhook_max_backoff_s: float = Field(300.0, ge=0)
    feed_webhook_poll_s: float = Field(1.0, gt=0)
    tse_outcome_poll_s: float = Field(2.0, ge=0)
    # MNI hub: the registry of tribunal installations and clients (JSON), the key encrypting the credentials towards
    # tribunals (Fernet; derived from secret_key when empty), timeouts and limits
    mni_registry_path: str = ""
    mni_credentials_key: str = ""
    mni_timeout_s: float = Field(60.0, gt=0)
    mni_max_body_bytes: int = Field(160 * 1024 * 1024, ge=1)
    mni_max_depth: int = Field(64, ge=1)
    mni_filing_ttl_hours: float = Field(24.0, gt=0)
    # Issue 17: MNI bodies and tribunal answers past this many bytes have their base64 runs and MTOM parts longer
    # than it spilled to files (mni-*.spill in obitos_spool_dir, else the system's temp dir) for the call's
    # duration, so a 50 MB document is not held in memory (gateway/mni/spill.py); 0: never spilled
    mni_spill_threshold_bytes: int = Field(256 * 1024, ge=0)
    # Dívida ativa (PGFN/PGF bridge, gateway/divida). An empty URL leaves that partner unconfigured: its source is
    # reported "indisponivel" (DIVIDA-E033), never as "no debts". PGFN: SERPRO's Consulta Dívida Ativa (OAuth2 client
    # credentials; token URL defaults to {pgfn_url}/token; the token is renewed pgfn_token_margin_s before it
    # expires; pgfn_detalhes fetches each inscription's detail for its dates and process number). PGF: our own
    # contract (mocks/README_pgf.md), X-API-Key, pages up to pgf_max_paginas. Each partner has its own timeout per
    # call; divida_deadline_s bounds a whole request; divida_cache_ttl_s > 0 keeps answers that long (0: off).
    pgfn_url: str = ""
    pgfn_token_url: str = ""
    pgfn_client_id: str = ""
    pgfn_client_secret: str = ""
    pgfn_timeout_s: float = 5.0
    pgfn_token_margin_s: float = 60.0
    pgfn_detalhes: bool = True
    pgf_url: str = ""
    pgf_api_key: str = ""
    pgf_timeout_s: float = 5.0
    pgf_max_paginas: int = 50
    divida_deadline_s: float = 10.0
    divida_concorrencia: int = 16
    divida_cache_ttl_s: float = 0.0
    divida_cache_max: int = 10_000
    # The REST API's per-client bound (gateway/edges/divida_api.py): lookups per credential per minute, a sliding
    # window per process (429 DIVIDA-E040 with Retry-After beyond it); 0 disables it.
    divida_limite_por_minuto: int = Field(120, ge=0)
    # Bearer token of the operations API (dead letters); empty disables it.
    admin_token: str = ""
    # --- Hardening against hostile clients (issue 8): the server, brute force, forwarded headers, the ops port ---
    # The URL clients reach the gateway at, as the WSDLs' soap:address gives it (required in production); empty:
    # from the request's Host (X-Forwarded-Host/-Proto only from a trusted proxy), validated and escaped.
    public_url: str = ""
    # Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For/-Host/-Proto are believed.
    trusted_proxies: str = ""
    # The HTTP server (gateway/server.py): whole request head within header_timeout_s of the connection (or of the
    # next request's first byte), whole body within body_timeout_s of the head, an idle kept-alive connection
    # closed after keepalive_timeout_s; at most max_connections open (per client address:
    # max_connections_per_client, trusted proxies exempt), plus healthz_reserve connections that may ask only
    # /healthz; cut and refused connections summed up in one log line per server_log_interval_s.
    header_timeout_s: float = Field(10.0, gt=0)
    body_timeout_s: float = Field(120.0, gt=0)
    keepalive_timeout_s: float = Field(5.0, gt=0)
    max_connections: int = Field(1000, ge=1)
    max_connections_per_client: int = Field(256, ge=1)
    healthz_reserve: int = Field(16, ge=0)
    server_log_interval_s: float = Field(10.0, gt=0)
    # Failed logins per (username, client address): after login_max_failures within login_window_s, that pair is
    # refused (code E029) without running the KDF until the window has moved on; failures are written to the
    # audit log as one aggregated entry per login_audit_interval_s.
    login_max_failures: int = Field(10, ge=1)
    login_window_s: float = Field(300.0, gt=0)
    login_audit_interval_s: float = Field(60.0, gt=0)
    # Serve /metrics, /readyz, /docs and /openapi.json on this HOST:PORT instead of the public port (empty: public).
    ops_listen: str = ""
    # Input hardening (issue 8): element counts and the MNI text limit enforced while parsing, before
    # authentication; a process-wide budget of the bytes of large request bodies held at once (a body of at least
    # body_budget_min_bytes waits up to body_budget_wait_s for room, then is refused: *-E092, HTTP 503)
    infodip_max_elements: int = Field(5_000, ge=1)
    mni_max_elements: int = Field(20_000, ge=1)
    mni_max_text_bytes: int = Field(1024 * 1024, ge=1)
    body_budget_bytes: int = Field(256 * 1024 * 1024, ge=1)
    body_budget_min_bytes: int = Field(256 * 1024, ge=0)
    body_budget_wait_s: float = Field(5.0, ge=0)
    # Test-only crash hook "point:N" (SIGKILL at the N-th pass through point, gateway/crash.py); refused unless
    # environment=test. Not GATEWAY_TEST_*: those names are the suite's own and never read by the product.
    crash_at: str = ""
    # --- Credentials, grants, tokens and keys (issue 10, part B): gateway/auth_state.py, tokens.py, keys.py -------
    # Checked at start by gateway.keys.check_settings (pydantic: gt=0, le=2.0 / ge=60, le=86400 / a secret).
    # A change of credentials, organs or grants stops old passwords and tokens on every other process within this
    # many seconds (at once on the process that made it); at most 2.
    auth_refresh_s: float = 1.0
    # Lifetime of the REST API's bearer tokens (POST /oauth/token's expires_in), seconds.
    token_ttl_s: int = 900
    # Older Fernet keys (comma-separated) that still read the MNI credentials while `gateway keys rotate` moves them
    # to GATEWAY_MNI_CREDENTIALS_KEY. Secret.
    mni_credentials_previous_keys: str = ""
    # --- end of issue 10, part B ----------------------------------------------------------------------------------
    # --- Issue 10C: deployment and operations surface (one block; the lead ports it at merge) ---
    # /readyz reports each MNI tribunal installation's reachability: the outcome of its last call, and a TCP
    # connect to its host:port every mni_probe_interval_s (0: no probe), each bounded by mni_probe_timeout_s.
    mni_probe_interval_s: float = 30.0
    mni_probe_timeout_s: float = 2.0
    # Client certificates behind a trusted TLS proxy (X-Road's model, gateway/client_certs.py): how long a
    # certificate's organ is remembered; a removed certificate or a disabled organ stops working within it.
    client_cert_cache_s: float = 5.0
    # --- end of issue 10C's block ---
    # --- Issue 14 (h14a): consultation, a sender's views, contract versions (one block; the lead ports it) ---
    # The political-rights timeline's rule book (TOML, gateway/consulta/regras.toml when empty).
    consulta_rules_path: str = ""
    # Consultations of a person's situation per client (credential) and minute; beyond it 429 INFODIP-E084.
    consulta_rate_per_minute: int = Field(120, ge=1)
    # Largest page of GET /api/v1/comunicacoes and listarComunicacoes (a larger ``limite`` is refused, E087).
    consulta_page_max: int = Field(200, ge=1, le=1000)
    # INFODIP 1.0's deprecation (Res. Conjunta 6/2020 art. 4º §2º): the date it was announced and the date it stops
    # being served (ISO dates, both or neither); a sunset less than 30 days after the announcement is refused at
    # start (INFODIP-E093). Announced in the WSDL, in Deprecation/Sunset headers and in the README's changelog.
    infodip_1_0_deprecation: str = ""
    infodip_1_0_sunset: str = ""
    # --- end of issue 14 (h14a)'s block ---

    # --- Issue 12 (h12b): the intimations brought back to the procuradorias (gateway/divida/intimacoes) ---
    # Collect every intimacoes_intervalo_s (0: never) the pending avisos of each procuradoria at the courts of
    # intimacoes_tribunais (JSON {"PGFN": ["8.19", "4.04/1"]}; empty: every installation the MNI registry lets each
    # organ of intimacoes_orgaos reach); each court call bounded by intimacoes_timeout_s, a failing court retried
    # after a backoff doubling up to intimacoes_backoff_max_s. Callbacks: the feed webhooks' timings.
    intimacoes_intervalo_s: float = Field(60.0, ge=0)
    intimacoes_tribunais: str = ""
    intimacoes_orgaos: str = "PGFN,PGF"
    intimacoes_timeout_s: float = Field(30.0, gt=0)
    intimacoes_backoff_max_s: float = Field(600.0, gt=0)
    # --- end of issue 12 (h12b)'s block ---

    # --- Issues 13/14 (p1314): batch throughput and robustness, consultation latency ---
    # SQLite: the group committer's page cache in MB (PRAGMA cache_size; 0: SQLite's default of 2 MB). Readers keep
    # the default.
    sqlite_writer_cache_mb: int = Field(64, ge=0)
    # Spooled death batches (GATEWAY_OBITOS_SPOOL_DIR) older than this many hours are deleted — at start and every
    # hour — with their sidecar; a batch still processing at that age is abandoned (a resend continues it).
    obitos_spool_max_age_h: float = Field(72.0, gt=0)
    # Connections of the read pool (the consultation's and the listings' reads; SQLite: each its own page cache).
    reader_pool_size: int = Field(10, ge=1)
    # Start-up warm-up of the consultation's statements and pages (seconds, at most 5; 0: none).
    consulta_warmup_s: float = Field(5.0, ge=0, le=5)
    # --- end of issues 13/14 (p1314)'s block ---

    # --- Issue 12 (h12a): execuções fiscais filed through the MNI hub (gateway/divida/execucao) ---
    # The procuradoria's key and certificate signing the petitions (PEM; the sandbox generates them; in production
    # the procurador's ICP-Brasil certificate); the CDA signatures' trusted roots (PEM bundle; empty: integrity only);
    # the table IBGE → codigoLocalidade (JSON; empty: the packaged demo table); the Res. CNJ 547/2024 checks per
    # creditor (JSON {"PGF": {"protesto": "sinalizar"}}; default: every check refuses); the sender's batch, calls at
    # once and the timeout of each court call (seconds).
    execucao_chave_path: str = ""
    execucao_certificado_path: str = ""
    execucao_cda_raizes: str = ""
    execucao_localidades_path: str = ""
    execucao_regras: str = ""
    execucao_lote: int = Field(50, ge=1, le=1000)
    execucao_concorrencia: int = Field(20, ge=1, le=500)
    execucao_timeout_s: float = Field(60.0, gt=0)
    # --- end of issue 12 (h12a)'s block ---

    # --- Issue 16 (h16): the web form and the operators' console (gateway/web/people.py, gateway/edges/web_*.py) ---
    # A web session ends after web_session_idle_s without a request (the injected clock); its cookie is Secure when
    # web_cookie_secure is true, or — left unset — when the request reached the gateway over HTTPS (a trusted
    # proxy's X-Forwarded-Proto included), so the sandbox's plain HTTP on 127.0.0.1 still signs in.
    web_session_idle_s: float = Field(1800.0, gt=0)
    web_cookie_secure: bool | None = None
    # --- end of issue 16 (h16)'s block ---
    # --- Issue 15 (h15): public statistics and verifiable certificates (gateway/estatisticas, gateway/certidoes) ---
    # A published cell holds at least estatisticas_limiar people (smaller ones and their complements are withheld);
    # estatisticas_uf gives the UF of organs whose own row has none (JSON {"TJRJ": "RJ"}); a kind-year's tables are
    # recomputed at most every estatisticas_cache_s seconds (and only when their counts changed).
    estatisticas_limiar: int = Field(5, ge=2, le=100)
    estatisticas_uf: str = ""
    estatisticas_cache_s: float = Field(60.0, ge=0)
    # The certificates' signing key and certificate (PEM files: RSA or EC private key, X.509 certificate); empty
    # outside production: a key and a self-signed certificate are generated for the process (the sandbox writes
    # them to its data directory). certidoes_limite_por_minuto: issuances per client address and minute (429).
    certidoes_chave_path: str = ""
    certidoes_certificado_path: str = ""
    certidoes_limite_por_minuto: int = Field(10, ge=1)
    # --- end of issue 15 (h15)'s block ---

    # --- Fields added by issue 10's other parts (credentials and keys; deployment): one block each, below. ---

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """``Settings(**values)`` takes *values* only: the environment and files are read by :meth:`from_env`, which
        also refuses unknown names and records where each value came from."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, defaults: Mapping[str, Any] | None = None,
                 config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from *defaults* (a command's, e.g. ``{"environment": "production"}`` for ``gateway serve``),
        then the config file (*config_file*, else ``GATEWAY_CONFIG_FILE``), then ``GATEWAY_*`` variables of *environ*
        (default: the process's), then *overrides* (values fixed by the caller), validated. Errors: SettingsError
        (GATEWAY-E001) carrying every problem, one line each."""
        from gateway.settings_sources import gather

        values, sources, problems = gather(cls, environ, defaults or {}, config_file, overrides)
        return cls.validated(values, sources, problems)

    @classmethod
    def validated(cls, values: Mapping[str, Any], sources: Mapping[str, str] | None = None,
                  problems: list[str] | None = None) -> Settings:
        """Validate *values* (field → raw value) and return settings remembering each value's *sources*. Errors:
        SettingsError with *problems* plus every problem found here, one line each."""
        problems = list(problems or [])
        try:
            settings = cls.model_validate(dict(values))
        except ValidationError as exc:
            failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            problems += _describe(exc, values)
            if failed:  # the checks across fields that do not involve a failed field: every problem at once
                rest = {k: v for k, v in values.items() if k not in failed}
                try:
                    cls.model_validate(rest, context={"skip": failed})
                except ValidationError as again:
                    problems += [p for p in _describe(again, rest) if p not in problems]
            raise SettingsError.of(problems) from None
        if problems:
            raise SettingsError.of(problems)
        settings._sources = {name: (sources or {}).get(name, "padrão") for name in cls.model_fields}
        return settings

    def with_(self, **changes: Any) -> Settings:
        """A copy with *changes* applied (validated; their source is "fixado")."""
        sources = {**self._sources, **dict.fromkeys(changes, "fixado")}
        return type(self).validated({**self.model_dump(), **changes}, sources)

    @property
    def sources(self) -> dict[str, str]:
        """Field → where its value came from: ``padrão``, ``arquivo PATH``, ``ambiente`` or ``fixado``."""
        return dict(self._sources) or dict.fromkeys(type(self).model_fields, "padrão")

    def redacted(self) -> Iterator[tuple[str, Any]]:
        """Every (field, value) as it may be shown: secrets ``***``, URL passwords redacted."""
        for name in type(self).model_fields:
            yield name, shown(name, getattr(self, name))

    def show(self) -> list[str]:
        """The lines of ``gateway config show``: one ``GATEWAY_NAME=value  # source`` per field, secrets ``***``,
        URL passwords redacted — a valid .env file once the masked secrets are filled in."""
        sources = self.sources
        rows = []
        for name, value in self.redacted():
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            rows.append((f"{PREFIX}{name.upper()}={text}", sources.get(name, "padrão")))
        width = min(max(len(r[0]) for r in rows), 72)
        return [f"{left:<{width}}  # {source}" for left, source in rows]

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        """Every field, with secrets as ``***`` and the passwords of URLs (database, partners) redacted: ``repr``,
        ``str`` and f-strings show no secret."""
        yield from self.redacted()

    # ------------------------------------------------------------------ derived values
    @property
    def infodip_limits(self) -> XmlLimits:
        """XML limits of the INFODIP endpoint."""
        return XmlLimits(self.infodip_max_body_bytes, self.infodip_max_depth, self.infodip_max_text_bytes,
                         self.infodip_max_elements)

    @property
    def mni_limits(self) -> XmlLimits:
        """XML limits of the MNI endpoint's requests (documents of real size in the binary elements, exempt from the
        text limit; tribunals' answers are read with :func:`gateway.xml.reader.mni_answer_policy` of these)."""
        return XmlLimits(self.mni_max_body_bytes, self.mni_max_depth, self.mni_max_text_bytes, self.mni_max_elements)

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``GATEWAY_TRUSTED_PROXIES`` parsed (addresses are /32 or /128 networks)."""
        return parse_networks(self.trusted_proxies)

    @property
    def ops_address(self) -> tuple[str, int] | None:
        """``GATEWAY_OPS_LISTEN`` as (host, port), or None when the ops endpoints stay on the public port."""
        return parse_listen(self.ops_listen) if self.ops_listen else None

    # ------------------------------------------------------------------ validation
    @field_validator("auto_migrate", "relay_enabled", "pgfn_detalhes", mode="before")
    @classmethod
    def _portuguese_booleans(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if not isinstance(logging.getLevelName(value.upper()), int):
            raise ValueError("use DEBUG, INFO, WARNING ou ERROR")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not _PUBLIC_URL.fullmatch(value):
            raise ValueError("use http(s)://host[:porta][/caminho], sem barra final")
        return value

    @field_validator("intimacoes_tribunais")
    @classmethod
    def _intimacoes_tribunais(cls, value: str) -> str:
        try:
            parse_tribunais(value)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise ValueError(f'use JSON {{"ORGAO": ["J.TR" ou "J.TR/instancia"]}} ({exc})') from None
        return value

    @field_validator("execucao_regras")
    @classmethod
    def _execucao_regras(cls, value: str) -> str:
        from gateway.divida.execucao.domain import parse_regras

        try:
            parse_regras(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f'use JSON {{"PGFN": {{"protesto": "recusar"|"sinalizar"}}}} ({exc})') from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        _networks(value)
        return value

    @field_validator("ops_listen")
    @classmethod
    def _ops_listen(cls, value: str) -> str:
        if value:
            _listen(value)
        return value

    @field_validator("password_kdf_n")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"deve ser uma potência de 2 (p.ex. 16384), não {value}")
        return value

    @model_validator(mode="after")
    def _across_fields(self, info: ValidationInfo) -> Settings:
        skip: set[str] = set((info.context or {}).get("skip", ()))
        problems = [message for fields_, message in self.cross_problems() if not skip & set(fields_)]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def cross_problems(self) -> Iterator[tuple[tuple[str, ...], str]]:
        """The problems between fields, each with the fields it involves: laptop defaults in production, the crash
        hook outside tests, a budget smaller than a body."""
        if self.environment == "production":
            yield from self._production_problems()
        if self.crash_at and self.environment != "test":
            yield ("crash_at", "environment"), "GATEWAY_CRASH_AT só é aceito com GATEWAY_ENVIRONMENT=test"
        if self.body_budget_bytes < max(self.infodip_max_body_bytes, self.mni_max_body_bytes):
            yield (("body_budget_bytes", "infodip_max_body_bytes", "mni_max_body_bytes"),
                   "GATEWAY_BODY_BUDGET_BYTES deve comportar ao menos o maior corpo aceito "
                   "(GATEWAY_MNI_MAX_BODY_BYTES, GATEWAY_INFODIP_MAX_BODY_BYTES)")

    def _production_problems(self) -> Iterator[tuple[tuple[str, ...], str]]:
        if not self.secret_key:
            yield ("secret_key",), ("GATEWAY_SECRET_KEY é obrigatória em produção (o padrão de gateway serve; use "
                                    "GATEWAY_ENVIRONMENT=development num laptop)")
        for name in ("secret_key", "admin_token", "mni_credentials_key"):
            value = getattr(self, name)
            weakness = secret_weakness(value) if value else None
            if weakness:
                yield (name,), (f"GATEWAY_{name.upper()} fraca em produção: {weakness}; gere uma com "
                                "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if not self.signing_key_path or not Path(self.signing_key_path).is_file():
            yield ("signing_key_path",), ("GATEWAY_SIGNING_KEY_PATH deve apontar para a chave Ed25519 em produção"
                                          + (f" (arquivo não encontrado: {self.signing_key_path})"
                                             if self.signing_key_path else ""))
        if not self.public_url:
            yield ("public_url",), ("GATEWAY_PUBLIC_URL é obrigatória em produção (o endereço que os clientes usam, "
                                    "p.ex. https://gateway.tribunal.jus.br)")
        if self.relay_enabled:
            missing = [f"GATEWAY_{n.upper()}" for n in ("tse_url", "cnj_url") if not getattr(self, n)]
            if missing:
                verb = "são obrigatórias" if len(missing) > 1 else "é obrigatória"
                yield (("relay_enabled", "tse_url", "cnj_url"),
                       f"{' e '.join(missing)} {verb} em produção com o entregador ativo: sem elas as entregas se "
                       "acumulam (ou GATEWAY_RELAY_ENABLED=false e um gateway relay configurado à parte)")


def _describe(exc: ValidationError, values: Mapping[str, Any]) -> list[str]:
    """One line per error of *exc*, naming the variable; a secret's value is never echoed."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        if not error["loc"]:  # the checks across fields: already one problem per line
            lines += str(error.get("ctx", {}).get("error", error["msg"])).splitlines()
            continue
        name = str(error["loc"][0])
        variable = PREFIX + name.upper()
        if error["type"] == "extra_forbidden":
            lines.append(f"{variable}: configuração desconhecida")
            continue
        raw = values.get(name)
        echo = "" if name in SECRET_FIELDS or raw is None else f" {shown(name, raw)!r}"
        lines.append(f"{variable}: valor inválido{echo} ({_reason(error)})")
    return lines


def _reason(error: Any) -> str:
    """Pydantic's error *error* in Portuguese."""
    kind = error["type"]
    ctx = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in error.get("ctx", {}).items()}
    reasons = {
        "int_parsing": "número inteiro esperado", "int_from_float": "número inteiro esperado",
        "int_type": "número inteiro esperado", "float_parsing": "número esperado", "float_type": "número esperado",
        "bool_parsing": "esperado true/false, 1/0, yes/no, on/off ou sim/não", "bool_type": "esperado true/false",
        "string_type": "texto esperado",
        "literal_error": f"valores aceitos: {ctx.get('expected', '')}".replace("'", ""),
        "greater_than": f"deve ser > {ctx.get('gt')}", "greater_than_equal": f"deve ser ≥ {ctx.get('ge')}",
        "less_than_equal": f"deve ser ≤ {ctx.get('le')}", "less_than": f"deve ser < {ctx.get('lt')}",
    }
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return reasons.get(kind, str(error["msg"]))


#: ``http(s)://host[:port][/path]``: a DNS name, an IPv4 address or a bracketed IPv6 one; no query, no final slash.
_PUBLIC_URL = re.compile(r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*"
                         r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*"
                         r"[A-Za-z0-9._~!$&'()*+,;=:@%-])?")
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 80.0


def secret_weakness(secret: str) -> str | None:
    """Why *secret* is weak (a Portuguese phrase), or None. The rule is the module docstring's: 32+ characters,
    length × Shannon entropy of its character frequencies ≥ 80 bits, and ≥ 3/4 of its 3-character substrings
    distinct."""
    n = len(secret)
    if n < MIN_SECRET_LENGTH:
        return f"{n} caracteres (mínimo {MIN_SECRET_LENGTH})"
    bits = max(0.0, n * -sum(c / n * math.log2(c / n) for c in Counter(secret).values()))
    if bits < MIN_SECRET_BITS:
        return f"entropia estimada de {bits:.0f} bits (mínimo {MIN_SECRET_BITS:.0f}; caracteres repetidos demais)"
    trigrams = [secret[i:i + 3] for i in range(n - 2)]
    if len(set(trigrams)) < 0.75 * len(trigrams):
        return "padrão repetido (menos de 3/4 das sequências de 3 caracteres são distintas)"
    return None


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"endereço ou CIDR inválido {item!r}") from None
    return tuple(networks)


def _listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("use HOST:PORTA, p.ex. 127.0.0.1:9090")
    return host, int(port)


def parse_networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDRs → networks. Errors: SettingsError (GATEWAY-E001)."""
    try:
        return _networks(raw)
    except ValueError as exc:
        raise SettingsError(f"GATEWAY_TRUSTED_PROXIES: {exc}") from None


def parse_listen(raw: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9090`` for IPv6) → (host, port). Errors: SettingsError (GATEWAY-E001)."""
    try:
        return _listen(raw)
    except ValueError as exc:
        raise SettingsError(f"GATEWAY_OPS_LISTEN inválido: {raw!r} ({exc})") from None
