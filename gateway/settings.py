"""One typed settings object, read from ``GATEWAY_*`` environment variables and validated at start.

Nothing reads the environment anywhere else. :func:`Settings.from_env` refuses, in production, the defaults
that are only fit for a laptop (a missing or weak secret, a missing signing key, no public URL); ``gateway serve``
and ``gateway relay`` run in production unless ``GATEWAY_ENVIRONMENT`` says otherwise. Secrets never appear in the
settings' ``repr``/``str`` (and so in no log line or traceback that prints them).

A secret is weak (:func:`secret_weakness`) when it has fewer than 32 characters, when its estimated entropy —
its length times the Shannon entropy of its own character frequencies — is under 80 bits (``aaaa…``,
``abab…``), or when fewer than three quarters of its 3-character substrings are distinct (a repeated pattern such
as ``abcd`` × 16 or a word written three times). ``secrets.token_urlsafe(32)`` always passes.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from gateway.errors import OperatorError


class SettingsError(OperatorError):
    """A setting is missing or malformed."""

    default_code = "GATEWAY-E001"


@dataclass(frozen=True)
class XmlLimits:
    """Hard limits applied by the hardened XML reader of one endpoint, enforced while parsing.

    ``max_body_bytes``: the body (after decompression); ``max_depth``: element nesting; ``max_text_bytes``: every
    text node and attribute value outside the policy's binary elements (characters); ``max_elements``: elements in
    the whole document (attributes included in no count: each is bounded by the text limit)."""

    max_body_bytes: int = 512 * 1024
    max_depth: int = 48
    max_text_bytes: int = 64 * 1024
    max_elements: int = 10_000


#: Settings whose values are secrets: shown as ``***`` by ``repr``/``str``.
SECRET_FIELDS = frozenset({"secret_key", "admin_token", "mni_credentials_key", "pgfn_client_secret", "pgf_api_key"})
# A URL's password: between "user:" and the last "@" (greedy: redacting too much beats leaking), and a
# ``password=`` query parameter (libpq accepts both).
_URL_PASSWORD = re.compile(r"(://[^:/@]*:).*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """*url* with its password replaced by ``***`` (``postgresql://gw:***@db/gateway``)."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))


@dataclass(frozen=True, repr=False)
class Settings:
    """Every tunable of the gateway. Field ``x`` is read from ``GATEWAY_X``."""

    environment: str = "development"  # development | sandbox | test | production
    # SQLite by default, in a directory of its own (created 0700; the database and its WAL/SHM 0600)
    database_url: str = "sqlite:///./gateway-data/gateway.db"
    host: str = "127.0.0.1"
    port: int = 8080
    auto_migrate: bool = True
    # Secret for HMAC keys (credential cache); production refuses the empty default.
    secret_key: str = ""
    # Ed25519 private key (PEM, PKCS#8) signing audit checkpoints; production requires it.
    signing_key_path: str = ""
    audit_checkpoint_every: int = 1000
    auth_cache_seconds: float = 60.0
    password_kdf_n: int = 2**14
    infodip_max_body_bytes: int = 512 * 1024
    infodip_max_depth: int = 48
    infodip_max_text_bytes: int = 64 * 1024
    # Group commit: how many intake transactions one durable commit may carry, and how long to wait for more.
    commit_batch_max: int = 256
    commit_wait_ms: float = 0.0
    # Every caller is answered within this many seconds (INFODIP-E091 past it); it also bounds each database wait
    # (SQLite busy timeout; PostgreSQL statement_timeout and lock_timeout).
    commit_timeout_s: float = 10.0
    # Overload: callers' jobs queued at the writer, and intake requests in flight, beyond which a request is
    # refused at once (INFODIP-E092, Retry-After: overload_retry_after_s); 0 disables the bound.
    commit_queue_max: int = 1024
    intake_max_inflight: int = 256
    # ... and while the shortest stay of an admitted request over 100 ms exceeds this (a standing queue)
    intake_target_ms: float = 300.0
    # ... and while the event loop lags behind by more than this
    intake_max_lag_ms: float = 150.0
    overload_retry_after_s: int = 1
    timezone: str = "America/Sao_Paulo"
    # Art. 7º of Res. Conjunta 6/2020: 10 days after the fact (inferred counting rule, configurable).
    deadline_days: int = 10
    # Código Eleitoral art. 71 §3º: deaths of a month by this day of the next month.
    death_deadline_day: int = 15
    log_level: str = "INFO"
    log_format: str = "json"  # json | text
    # Partners (empty URL: the destination is not configured and its rows wait in the outbox).
    tse_url: str = ""
    cnj_url: str = ""
    partner_timeout_s: float = 10.0
    partner_batch_max: int = 100
    # Delivery
    relay_enabled: bool = True
    relay_batch_size: int = 800
    relay_lease_s: float = 60.0
    relay_max_attempts: int = 12
    relay_base_backoff_s: float = 1.0
    relay_max_backoff_s: float = 300.0
    relay_poll_interval_s: float = 0.5
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 10.0
    # MNI hub: the registry of tribunal installations and clients (JSON), the key encrypting the credentials towards
    # tribunals (Fernet; derived from secret_key when empty), timeouts and limits
    mni_registry_path: str = ""
    mni_credentials_key: str = ""
    mni_timeout_s: float = 60.0
    mni_max_body_bytes: int = 160 * 1024 * 1024
    mni_max_depth: int = 64
    mni_filing_ttl_hours: float = 24.0
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
    header_timeout_s: float = 10.0
    body_timeout_s: float = 120.0
    keepalive_timeout_s: float = 5.0
    max_connections: int = 1000
    max_connections_per_client: int = 256
    healthz_reserve: int = 16
    server_log_interval_s: float = 10.0
    # Failed logins per (username, client address): after login_max_failures within login_window_s, that pair is
    # refused (code E029) without running the KDF until the window has moved on; failures are written to the
    # audit log as one aggregated entry per login_audit_interval_s.
    login_max_failures: int = 10
    login_window_s: float = 300.0
    login_audit_interval_s: float = 60.0
    # Serve /metrics, /readyz, /docs and /openapi.json on this HOST:PORT instead of the public port (empty: public).
    ops_listen: str = ""
    # Input hardening (issue 8): element counts and the MNI text limit enforced while parsing, before
    # authentication; a process-wide budget of the bytes of large request bodies held at once (a body of at least
    # body_budget_min_bytes waits up to body_budget_wait_s for room, then is refused: *-E092, HTTP 503)
    infodip_max_elements: int = 5_000
    mni_max_elements: int = 20_000
    mni_max_text_bytes: int = 1024 * 1024
    body_budget_bytes: int = 256 * 1024 * 1024
    body_budget_min_bytes: int = 256 * 1024
    body_budget_wait_s: float = 5.0
    # Test-only crash hook "point:N" (SIGKILL at the N-th pass through point); honoured only when environment=test.
    test_crash_at: str = ""
    # --- Issue 10C: deployment and operations surface (one block; the lead ports it at merge) ---
    # /readyz reports each MNI tribunal installation's reachability: the outcome of its last call, and a TCP
    # connect to its host:port every mni_probe_interval_s (0: no probe), each bounded by mni_probe_timeout_s.
    mni_probe_interval_s: float = 30.0
    mni_probe_timeout_s: float = 2.0
    # Client certificates behind a trusted TLS proxy (X-Road's model, gateway/client_certs.py): how long a
    # certificate's organ is remembered; a removed certificate or a disabled organ stops working within it.
    client_cert_cache_s: float = 5.0
    # --- end of issue 10C's block ---

    def __repr__(self) -> str:
        """Every field, with secrets as ``***`` and the passwords of URLs (database, partners) redacted."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            elif f.name.endswith("_url"):
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, defaults: Mapping[str, Any] | None = None,
                 **overrides: Any) -> Settings:
        """Build settings from *defaults* (e.g. ``{"environment": "production"}`` for ``gateway serve``), then
        ``GATEWAY_*`` variables (or *environ*), then *overrides*, then validate. Errors: SettingsError
        (GATEWAY-E001)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = dict(defaults or {})
        for f in fields(cls):
            raw = env.get("GATEWAY_" + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def with_(self, **changes: Any) -> Settings:
        """A copy with *changes* applied."""
        return replace(self, **changes)

    def validate(self) -> None:
        """Refuse settings that cannot work, and laptop defaults in production."""
        if self.environment not in {"development", "sandbox", "test", "production"}:
            raise SettingsError(f"GATEWAY_ENVIRONMENT inválido: {self.environment!r}")
        if self.environment == "production":
            if not self.secret_key:
                raise SettingsError("GATEWAY_SECRET_KEY é obrigatória em produção (o padrão de gateway serve; "
                                    "use GATEWAY_ENVIRONMENT=development num laptop)")
            for name in ("secret_key", "admin_token", "mni_credentials_key"):
                value = getattr(self, name)
                weakness = secret_weakness(value) if value else None
                if weakness:
                    raise SettingsError(f"GATEWAY_{name.upper()} fraca em produção: {weakness}; gere uma com "
                                        "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
            if not self.signing_key_path or not Path(self.signing_key_path).is_file():
                raise SettingsError("GATEWAY_SIGNING_KEY_PATH deve apontar para a chave Ed25519 em produção")
            if not self.public_url:
                raise SettingsError("GATEWAY_PUBLIC_URL é obrigatória em produção (o endereço que os clientes "
                                    "usam, p.ex. https://gateway.tribunal.jus.br)")
        if self.public_url and not _PUBLIC_URL.fullmatch(self.public_url):
            raise SettingsError(f"GATEWAY_PUBLIC_URL inválida: {self.public_url!r} (http(s)://host[:porta][/caminho], "
                                "sem barra final)")
        self.trusted_networks  # noqa: B018  # parsed now: a malformed address is refused at start
        if self.ops_listen:
            self.ops_address  # noqa: B018
        for name in ("header_timeout_s", "body_timeout_s", "keepalive_timeout_s", "server_log_interval_s",
                     "login_window_s", "login_audit_interval_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"GATEWAY_{name.upper()} deve ser > 0")
        for name in ("max_connections", "max_connections_per_client", "login_max_failures"):
            if getattr(self, name) < 1:
                raise SettingsError(f"GATEWAY_{name.upper()} deve ser ≥ 1")
        if self.healthz_reserve < 0:
            raise SettingsError("GATEWAY_HEALTHZ_RESERVE deve ser ≥ 0")
        if self.test_crash_at and self.environment != "test":
            raise SettingsError("GATEWAY_TEST_CRASH_AT só é aceito com GATEWAY_ENVIRONMENT=test")
        if self.body_budget_bytes < max(self.infodip_max_body_bytes, self.mni_max_body_bytes):
            raise SettingsError("GATEWAY_BODY_BUDGET_BYTES deve comportar ao menos o maior corpo aceito "
                                "(GATEWAY_MNI_MAX_BODY_BYTES, GATEWAY_INFODIP_MAX_BODY_BYTES)")
        if self.commit_batch_max < 1:
            raise SettingsError("GATEWAY_COMMIT_BATCH_MAX deve ser ≥ 1")
        if self.commit_timeout_s <= 0:
            raise SettingsError("GATEWAY_COMMIT_TIMEOUT_S deve ser > 0")
        if not isinstance(logging.getLevelName(self.log_level.upper()), int):
            raise SettingsError(f"GATEWAY_LOG_LEVEL inválido: {self.log_level!r} (DEBUG, INFO, WARNING, ERROR)")
        if self.log_format not in {"json", "text"}:
            raise SettingsError(f"GATEWAY_LOG_FORMAT inválido: {self.log_format!r} (json ou text)")


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


def parse_networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDRs → networks. Errors: SettingsError (GATEWAY-E001)."""
    networks = []
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise SettingsError(f"GATEWAY_TRUSTED_PROXIES: endereço ou CIDR inválido {item!r}") from exc
    return tuple(networks)


def parse_listen(raw: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9090`` for IPv6) → (host, port). Errors: SettingsError (GATEWAY-E001)."""
    host, sep, port = raw.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"GATEWAY_OPS_LISTEN inválido: {raw!r} (use HOST:PORTA, p.ex. 127.0.0.1:9090)")
    return host, int(port)


def _coerce(name: str, type_name: Any, raw: str) -> Any:
    kind = str(type_name)
    try:
        if kind == "bool":
            if raw.lower() in {"1", "true", "yes", "on", "sim"}:
                return True
            if raw.lower() in {"0", "false", "no", "off", "nao", "não"}:
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"GATEWAY_{name.upper()}: valor inválido {raw!r}") from exc
    return raw
