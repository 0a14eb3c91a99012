"""One typed settings object, read from ``GATEWAY_*`` environment variables and validated at start.

Nothing reads the environment anywhere else. :func:`Settings.from_env` refuses, in production, the defaults
that are only fit for a laptop (a missing secret key, a missing signing key). Secrets never appear in the
settings' ``repr``/``str`` (and so in no log line or traceback that prints them).
"""

from __future__ import annotations

import logging
import os
import re
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
    """Hard limits applied by the hardened XML reader of one endpoint."""

    max_body_bytes: int = 512 * 1024
    max_depth: int = 48
    max_text_bytes: int = 64 * 1024


#: Settings whose values are secrets: shown as ``***`` by ``repr``/``str``.
SECRET_FIELDS = frozenset({"secret_key", "admin_token", "mni_credentials_key"})
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
    database_url: str = "sqlite:///./gateway.db"
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
    # Bearer token of the operations API (dead letters); empty disables it.
    admin_token: str = ""
    # Test-only crash hook "point:N" (SIGKILL at the N-th pass through point); honoured only when environment=test.
    test_crash_at: str = ""

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
        return XmlLimits(self.infodip_max_body_bytes, self.infodip_max_depth, self.infodip_max_text_bytes)

    @property
    def mni_limits(self) -> XmlLimits:
        """XML limits of the MNI endpoint (documents of real size: text nodes as large as the body)."""
        return XmlLimits(self.mni_max_body_bytes, self.mni_max_depth, self.mni_max_body_bytes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``GATEWAY_*`` variables (or *environ*), then apply *overrides*, then validate."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
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
            if len(self.secret_key) < 32:
                raise SettingsError("GATEWAY_SECRET_KEY deve ter ao menos 32 caracteres em produção")
            if not self.signing_key_path or not Path(self.signing_key_path).is_file():
                raise SettingsError("GATEWAY_SIGNING_KEY_PATH deve apontar para a chave Ed25519 em produção")
        if self.test_crash_at and self.environment != "test":
            raise SettingsError("GATEWAY_TEST_CRASH_AT só é aceito com GATEWAY_ENVIRONMENT=test")
        if self.commit_batch_max < 1:
            raise SettingsError("GATEWAY_COMMIT_BATCH_MAX deve ser ≥ 1")
        if self.commit_timeout_s <= 0:
            raise SettingsError("GATEWAY_COMMIT_TIMEOUT_S deve ser > 0")
        if not isinstance(logging.getLevelName(self.log_level.upper()), int):
            raise SettingsError(f"GATEWAY_LOG_LEVEL inválido: {self.log_level!r} (DEBUG, INFO, WARNING, ERROR)")
        if self.log_format not in {"json", "text"}:
            raise SettingsError(f"GATEWAY_LOG_FORMAT inválido: {self.log_format!r} (json ou text)")


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
