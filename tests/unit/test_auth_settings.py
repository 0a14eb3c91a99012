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
