"""The password policy, the generated passwords, the bearer tokens and the key settings (issue 10, point 4): pure,
no database."""

from __future__ import annotations

import secrets
from datetime import timedelta

import jwt
import pytest
from cryptography.fernet import Fernet

from gateway import keys, passwords
from gateway.auth import Caller
from gateway.clock import FakeClock
from gateway.grants import SCOPES, scopes_of
from gateway.hub.credentials import CredentialStore
from gateway.organs import OrganType
from gateway.settings import Settings, SettingsError
from gateway.tokens import ISSUER, InvalidToken, TokenIssuer, signing_key

CALLER = Caller("pgfn-api", 7, "PGFN", OrganType.MNI_CLIENTE, frozenset(), credential_id=42, version=3)


@pytest.mark.parametrize(("password", "rule"), [
    ("Curta#1", "mínimo 12"),
    ("x" * 11 + "Y", None),
    ("somenteminusculas", "uma só classe"),
    ("SOMENTEMAIUSCULAS", "uma só classe"),
    ("123456789012345", "uma só classe"),
    ("!@#$%^&*()_+-=", "uma só classe"),
    ("Senha1234567", "comum"),
    ("password1234", "comum"),
    ("QWERTYUIOPAS", "uma só classe"),
    ("qwerty123456", "comum"),
    ("xx-PGFN-API-2026", "nome de usuário"),
    ("Correto-Cavalo-Bateria-7", None),
])
def test_the_policy_names_the_rule_a_password_breaks(password: str, rule: str | None) -> None:
    """Each rule refuses what it says (length under 12, one class of characters, a common password in any case,
    the username inside it in any case) and a long mixed passphrase passes; the refusal is GATEWAY-E061 with the
    rule in its message."""
    why = passwords.weakness(password, "pgfn-api")
    if rule is None:
        assert why is None
        passwords.check(password, "pgfn-api")
    else:
        assert why is not None and rule in why
        with pytest.raises(passwords.PasswordRefused) as refused:
            passwords.check(password, "pgfn-api")
        assert refused.value.code == "GATEWAY-E061" and rule in refused.value.message


def test_generated_passwords_pass_the_policy_even_for_a_short_username() -> None:
    """2,000 generated passwords are 24 URL-safe characters, all different, and each passes the policy — also for
    a three-letter username that a random string could contain."""
    drawn = {passwords.generate("abc") for _ in range(2000)}
    assert len(drawn) == 2000
    assert all(len(p) == 24 and passwords.weakness(p, "abc") is None for p in drawn)


def test_scopes_are_exactly_those_of_the_design_and_unknown_ones_are_refused() -> None:
    """The seven scopes of DESIGN.md plus ``feed:ler`` (issue 14's change feed), no more; a list is checked,
    deduplicated and put in the catalogue's order; an unknown scope is GATEWAY-E002 naming it."""
    assert set(SCOPES) == {"divida:ler", "execucao-fiscal:ajuizar", "intimacoes:ler",
                           "direitos-politicos:consultar", "obitos:enviar", "relatorios:ler", "feed:ler",
                           "operador"}
    assert scopes_of(["operador", "divida:ler", "operador"]) == ("divida:ler", "operador")
    with pytest.raises(Exception, match="escopo desconhecido: 'divida:escrever'") as refused:
        scopes_of(["divida:escrever"])
    assert getattr(refused.value, "code", None) == "GATEWAY-E002"


def test_a_token_carries_the_credential_and_verifies_until_it_expires() -> None:
    """A token issued for a caller names its organ, credential id and version, username and scopes, with iss, aud,
    iat, exp (ttl) and a jti unique per token; it verifies until the clock reaches exp, then is GATEWAY-E062
    "expirado"."""
    clock = FakeClock()
    issuer = TokenIssuer(b"s" * 32, clock, ttl_s=900)
    first, second = issuer.issue(CALLER, ["intimacoes:ler"]), issuer.issue(CALLER, ["intimacoes:ler"])
    assert first.jti != second.jti and first.expires_in == 900 and first.scopes == ("intimacoes:ler",)
    raw = jwt.decode(first.token, options={"verify_signature": False})
    assert raw["iss"] == ISSUER and raw["exp"] - raw["iat"] == 900
    claims = issuer.verify(first.token)
    assert (claims.username, claims.organ_code, claims.credential_id, claims.version) == ("pgfn-api", "PGFN", 42, 3)
    assert claims.scopes == {"intimacoes:ler"}
    clock.advance(899)
    issuer.verify(first.token)
    clock.advance(1)
    with pytest.raises(InvalidToken, match="expirado") as expired:
        issuer.verify(first.token)
    assert expired.value.code == "GATEWAY-E062"


def test_forged_altered_and_foreign_tokens_are_refused() -> None:
    """A token signed with another secret, one whose payload was altered (a scope added), one for another
    audience, one with ``alg: none`` and garbage are all GATEWAY-E062; the key is derived from the secret (HKDF),
    never the secret itself."""
    clock = FakeClock()
    issuer = TokenIssuer(b"s" * 32, clock)
    good = issuer.issue(CALLER, ["intimacoes:ler"]).token
    assert signing_key(b"s" * 32) != b"s" * 32
    other = TokenIssuer(b"t" * 32, clock).issue(CALLER, ["operador"]).token
    header, _payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    altered_payload = jwt.encode({**claims, "scope": "intimacoes:ler operador"}, "k" * 32).split(".")[1]
    foreign = jwt.encode({**claims, "aud": "outra-api"}, signing_key(b"s" * 32), algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for bad in (other, f"{header}.{altered_payload}.{signature}", foreign, unsigned, "lixo", ""):
        with pytest.raises(InvalidToken):
            issuer.verify(bad)


def test_key_settings_name_the_current_key_first_and_refuse_what_cannot_work() -> None:
    """The current key writes and every listed key reads: explicit key first, then the previous ones, then the key
    derived from the secret; a previous key that is not a Fernet key, a refresh period above 2 s and a token
    lifetime under a minute are refused (GATEWAY-E001); a store of the new key still reads what the old one
    wrote."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secret = secrets.token_urlsafe(32)
    settings = Settings(secret_key=secret, mni_credentials_key=new, mni_credentials_previous_keys=f" {old} ,")
    listed = keys.fernet_keys(settings)
    assert listed[:2] == [new.encode(), old.encode()] and len(listed) == 3
    assert keys.fernet_keys(Settings()) == [] and keys.credential_store(Settings()) is None
    token = CredentialStore(old.encode()).fernet.encrypt(b"segredo")
    assert CredentialStore(listed).fernet.decrypt(token) == b"segredo"
    for wrong in (Settings(mni_credentials_previous_keys="curta"), Settings(auth_refresh_s=2.5),
                  Settings(auth_refresh_s=0), Settings(token_ttl_s=30)):
        with pytest.raises(SettingsError) as refused:
            keys.check_settings(wrong)
        assert refused.value.code == "GATEWAY-E001"
    keys.check_settings(Settings(auth_refresh_s=2.0, token_ttl_s=int(timedelta(hours=1).total_seconds())))


def test_a_weak_operations_token_is_refused_outside_the_test_suite() -> None:
    """``GATEWAY_ADMIN_TOKEN`` follows the secrets' rule (32+ characters, 80+ bits, no repeated pattern) in
    development and the sandbox as in production: a one-character token is GATEWAY-E001 naming it; a generated one
    passes; the suite's own environment (``test``) may use short ones."""
    for environment in ("development", "sandbox"):
        with pytest.raises(SettingsError, match="GATEWAY_ADMIN_TOKEN fraca") as refused:
            keys.check_settings(Settings(environment=environment, admin_token="x"))
        assert refused.value.code == "GATEWAY-E001"
        keys.check_settings(Settings(environment=environment, admin_token=secrets.token_urlsafe(24)))
    keys.check_settings(Settings(environment="test", admin_token="t"))
