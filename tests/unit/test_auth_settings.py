"""Password hashing and settings validation."""

from __future__ import annotations

import pytest

from gateway.auth import hash_password, verify_password
from gateway.settings import Settings, SettingsError


def test_password_hash_roundtrip_and_salt() -> None:
    """A scrypt hash verifies its password only, and two hashes of one password differ (random salt)."""
    h1, h2 = hash_password("s3nha", n=2**10), hash_password("s3nha", n=2**10)
    assert h1 != h2 and h1.startswith("scrypt$1024$")
    assert verify_password("s3nha", h1) and verify_password("s3nha", h2)
    assert not verify_password("s3nhA", h1)
    assert not verify_password("s3nha", "garbage")


def test_settings_from_environment() -> None:
    """GATEWAY_* variables are read and typed."""
    s = Settings.from_env({"GATEWAY_PORT": "9000", "GATEWAY_AUTO_MIGRATE": "false",
                           "GATEWAY_DATABASE_URL": "sqlite:///x.db"})
    assert s.port == 9000 and s.auto_migrate is False and s.database_url == "sqlite:///x.db"
    with pytest.raises(SettingsError):
        Settings.from_env({"GATEWAY_PORT": "nove"})


def test_production_refuses_laptop_defaults(tmp_path: object) -> None:
    """Production needs a real secret and a signing key."""
    with pytest.raises(SettingsError):
        Settings.from_env({"GATEWAY_ENVIRONMENT": "production"})
    with pytest.raises(SettingsError):
        Settings.from_env({"GATEWAY_ENVIRONMENT": "production", "GATEWAY_SECRET_KEY": "k" * 40})


def test_settings_repr_and_str_redact_secrets() -> None:
    """``repr``/``str`` (and so f-strings and tracebacks) never show the secret key, the operator token, the MNI
    credentials key nor a password inside a URL (user info or ``password=`` parameter); other values stay readable
    and an unset secret shows as empty."""
    s = Settings.from_env({}, secret_key="segredo-da-chave-" + "k" * 20, admin_token="token-do-operador",
                          mni_credentials_key="chave-fernet-secreta",
                          database_url="postgresql+psycopg://gw:senha-do-banco@db:5432/gateway?password=outra-senha",
                          tse_url="http://tse:senha-tse@127.0.0.1:8081", cnj_url="http://127.0.0.1:8082")
    for shown in (repr(s), str(s), f"{s}"):
        for secret in ("segredo-da-chave", "token-do-operador", "chave-fernet-secreta", "senha-do-banco",
                       "outra-senha", "senha-tse"):
            assert secret not in shown
        assert "secret_key='***'" in shown and "admin_token='***'" in shown
        assert "database_url='postgresql+psycopg://gw:***@db:5432/gateway?password=***'" in shown
        assert "tse_url='http://tse:***@127.0.0.1:8081'" in shown and "cnj_url='http://127.0.0.1:8082'" in shown
    assert "admin_token=''" in repr(Settings.from_env({}))
    assert s.secret_key.startswith("segredo-da-chave")  # redaction is of the representation, not of the value


def test_settings_refuse_unknown_log_level_and_format() -> None:
    """A log level or format the logging setup cannot use is a SettingsError (GATEWAY-E001) at start."""
    with pytest.raises(SettingsError) as level:
        Settings.from_env({"GATEWAY_LOG_LEVEL": "verboso"})
    assert level.value.code == "GATEWAY-E001"
    with pytest.raises(SettingsError):
        Settings.from_env({"GATEWAY_LOG_FORMAT": "xml"})
    assert Settings.from_env({"GATEWAY_LOG_LEVEL": "debug", "GATEWAY_LOG_FORMAT": "text"}).log_level == "debug"
