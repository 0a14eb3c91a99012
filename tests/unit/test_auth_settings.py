"""Password hashing, and the one typed configuration: validation, sources, unknown names, secrets (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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


def problems_of(environ: dict[str, str], **kwargs: object) -> list[str]:
    """The problems ``Settings.from_env(environ)`` reports (AssertionError when it accepts)."""
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(environ, **kwargs)  # type: ignore[arg-type]
    assert refused.value.code == "GATEWAY-E001"
    return list(refused.value.problems)


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    """A malformed number, an unknown level, an invalid value, an unknown name and the production checks are all
    reported by one start, one line per problem, each naming its variable; the checks between fields still run for
    the fields that did parse."""
    problems = problems_of({"GATEWAY_PORT": "nove", "GATEWAY_LOG_LEVEL": "verboso", "GATEWAY_HEADER_TIMEOUT_S": "0",
                            "GATEWAY_RELAY_ENABLE": "false", "GATEWAY_ENVIRONMENT": "production",
                            "GATEWAY_SECRET_KEY": "curta"})
    expected = ["GATEWAY_PORT: valor inválido 'nove'", "GATEWAY_LOG_LEVEL: valor inválido 'verboso'",
                "GATEWAY_HEADER_TIMEOUT_S: valor inválido '0' (deve ser > 0)",
                "GATEWAY_RELAY_ENABLE: variável de ambiente desconhecida; quis dizer GATEWAY_RELAY_ENABLED?",
                "GATEWAY_SECRET_KEY fraca em produção", "GATEWAY_SIGNING_KEY_PATH deve apontar",
                "GATEWAY_PUBLIC_URL é obrigatória", "GATEWAY_TSE_URL e GATEWAY_CNJ_URL são obrigatórias"]
    for start in expected:
        assert sum(p.startswith(start) for p in problems) == 1, (start, problems)
    assert len(problems) == len(expected) and all("\n" not in p for p in problems)
    assert not any("curta" in p for p in problems)  # a secret's value is never echoed


def test_unknown_names_are_refused_with_the_closest_valid_one() -> None:
    """A misspelt ``GATEWAY_*`` name is refused with the closest valid name; one with nothing close is refused
    without a guess; ``GATEWAY_TEST_*`` (the suite's) and ``GATEWAY_CONFIG_FILE`` are not settings and pass; names
    without the prefix are none of the gateway's business."""
    assert problems_of({"GATEWAY_DATABASE_ULR": "sqlite:///x.db"}) == [
        "GATEWAY_DATABASE_ULR: variável de ambiente desconhecida; quis dizer GATEWAY_DATABASE_URL?"]
    assert problems_of({"GATEWAY_XYZZY": "1"}) == [
        "GATEWAY_XYZZY: variável de ambiente desconhecida (veja gateway config show)"]
    s = Settings.from_env({"GATEWAY_TEST_PG_URL": "postgresql://x", "GATEWAY_TEST_ANYTHING": "1", "PATH": "/bin",
                           "GATEWAY_CONFIG_FILE": ""})
    assert s.port == 8080


def test_the_crash_hook_is_not_a_reserved_name_and_only_for_tests() -> None:
    """The crash hook is ``GATEWAY_CRASH_AT`` (the product reads no ``GATEWAY_TEST_*`` name: the old
    ``GATEWAY_TEST_CRASH_AT`` is ignored), accepted only with ``GATEWAY_ENVIRONMENT=test``."""
    assert Settings.from_env({"GATEWAY_ENVIRONMENT": "test", "GATEWAY_CRASH_AT": "after_commit:2"}).crash_at == (
        "after_commit:2")
    assert Settings.from_env({"GATEWAY_ENVIRONMENT": "test", "GATEWAY_TEST_CRASH_AT": "after_commit:2"}).crash_at == ""
    assert problems_of({"GATEWAY_CRASH_AT": "after_commit:2"}) == [
        "GATEWAY_CRASH_AT só é aceito com GATEWAY_ENVIRONMENT=test"]


def test_config_file_toml_and_env_under_the_environment(tmp_path: Path) -> None:
    """A TOML file (``GATEWAY_X`` or ``x`` keys) or a .env file gives settings beneath the environment, which wins;
    each value remembers its source (``padrão``, ``arquivo PATH``, ``ambiente``, ``fixado``); an unknown key in the
    file and a missing file are problems like any other."""
    toml = tmp_path / "gateway.toml"
    toml.write_text('GATEWAY_PORT = 9001\nlog_level = "DEBUG"\nrelay_enabled = false\n')
    s = Settings.from_env({"GATEWAY_CONFIG_FILE": str(toml), "GATEWAY_LOG_LEVEL": "WARNING"}, host="0.0.0.0")
    assert (s.port, s.log_level, s.relay_enabled, s.host) == (9001, "WARNING", False, "0.0.0.0")
    assert s.sources["port"] == f"arquivo {toml}" and s.sources["log_level"] == "ambiente"
    assert s.sources["host"] == "fixado" and s.sources["timezone"] == "padrão"
    dotenv = tmp_path / "gateway.env"
    dotenv.write_text("GATEWAY_PORT=9002\nGATEWAY_AUTO_MIGRATE=não\n")
    s = Settings.from_env({}, config_file=dotenv)
    assert (s.port, s.auto_migrate) == (9002, False) and s.sources["auto_migrate"] == f"arquivo {dotenv}"
    dotenv.write_text("GATEWAY_PORTA=9002\n")
    assert problems_of({}, config_file=dotenv) == [
        f"GATEWAY_PORTA: chave do arquivo {dotenv} desconhecida; quis dizer GATEWAY_PORT?"]
    assert problems_of({"GATEWAY_CONFIG_FILE": str(tmp_path / "nada.toml")}) == [
        f"GATEWAY_CONFIG_FILE: arquivo de configuração não encontrado: {tmp_path / 'nada.toml'}"]
    toml.write_text("port = \n")
    assert problems_of({}, config_file=toml)[0].startswith("GATEWAY_CONFIG_FILE: arquivo de configuração ilegível")


def test_settings_stay_frozen_typed_and_copyable() -> None:
    """The settings object is frozen; ``with_`` returns a validated copy (its changes marked ``fixado``) and refuses
    a bad value; the derived values (XML limits, networks, ops address) keep working."""
    s = Settings.from_env({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8", "GATEWAY_OPS_LISTEN": "127.0.0.1:9090"})
    with pytest.raises(ValidationError):
        s.port = 1  # type: ignore[misc]
    copy = s.with_(port=9003, infodip_max_depth=10)
    assert (copy.port, copy.infodip_limits.max_depth, s.port) == (9003, 10, 8080)
    assert copy.sources["port"] == "fixado" and copy.ops_address == ("127.0.0.1", 9090)
    assert str(copy.trusted_networks[0]) == "10.0.0.0/8"
    with pytest.raises(SettingsError, match="GATEWAY_PORT"):
        s.with_(port=70000)


def test_config_show_masks_secrets_and_names_sources() -> None:
    """``Settings.show`` (``gateway config show``) prints every setting as ``GATEWAY_NAME=value  # source`` with
    secrets as ``***`` and URL passwords masked."""
    s = Settings.from_env({"GATEWAY_SECRET_KEY": "segredo-" + "k" * 30, "GATEWAY_PGF_API_KEY": "chave-pgf-secreta",
                           "GATEWAY_DATABASE_URL": "postgresql://gw:senha-do-banco@db/gw"})
    text = "\n".join(s.show())
    assert "segredo-" not in text and "chave-pgf-secreta" not in text and "senha-do-banco" not in text
    lines = {line.split("=", 1)[0]: line for line in s.show()}
    assert set(lines) == {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    assert lines["GATEWAY_SECRET_KEY"].startswith("GATEWAY_SECRET_KEY=***") and lines[
        "GATEWAY_SECRET_KEY"].endswith("# ambiente")
    assert "GATEWAY_DATABASE_URL=postgresql://gw:***@db/gw" in lines["GATEWAY_DATABASE_URL"]
    assert lines["GATEWAY_PORT"].startswith("GATEWAY_PORT=8080 ") and lines["GATEWAY_PORT"].endswith("# padrão")
