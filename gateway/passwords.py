"""The password policy of organs' credentials, and the generator the CLI uses by default.

A password given by an operator (``gateway credential create|rotate|set --password``, the sandbox, tests) is
refused (:class:`PasswordRefused`, ``GATEWAY-E061``) when it

- has fewer than :data:`MIN_LENGTH` (12) characters;
- uses a single class of characters (only lower-case letters, only upper-case, only digits, or only symbols);
- is one of the common passwords of :data:`COMMON` (compared in lower case), the lists people actually type —
  ``senha1234567``, ``password1234``, ``123456789012``, keyboard rows;
- contains the username (in any case), which a guesser tries first.

Without ``--password`` the gateway generates one: 18 random bytes from :mod:`secrets`, URL-safe (24 characters,
~144 bits), drawn again in the negligible case it would break a rule. A policy of rules, not of composition: NIST SP
800-63B §5.1.1.2 asks for length and a block list rather than mandatory symbols; the one-class rule only refuses
what is trivially enumerable.
"""

from __future__ import annotations

import secrets

from gateway.errors import OperatorError

MIN_LENGTH = 12

#: Common passwords of 12 characters or more (shorter ones already fail the length rule), in lower case.
COMMON = frozenset({
    "123456789012", "1234567890123", "12345678901234", "123456123456", "111111111111", "000000000000",
    "123123123123", "121212121212", "098765432109", "147258369147", "qwertyuiopas", "qwertyuiop12",
    "qwerty123456", "qwerty123456!", "1q2w3e4r5t6y", "1qaz2wsx3edc", "zaq12wsxcde3", "asdfghjklçzx",
    "asdfghjkl123", "zxcvbnm12345", "password1234", "password123!", "password12345", "passw0rd1234",
    "p@ssw0rd1234", "p@ssword1234", "iloveyou1234", "welcome12345", "letmein12345", "admin1234567",
    "administrator", "administrador", "changeme1234", "trustno11234", "senha1234567", "senha123456!",
    "senha12345678", "senhasenha12", "senha@123456", "minhasenha12", "minhasenha123", "mudar1234567",
    "mudar@123456", "mudarsenha12", "trocar123456", "trocarsenha1", "brasil123456", "brasil@12345",
    "flamengo1234", "corinthians1", "palmeiras123", "saopaulo1234", "vasco1234567", "gremio123456",
    "cruzeiro1234", "botafogo1234", "fluminense12", "tribunal1234", "justica12345", "judiciario12",
    "usuario12345", "usuario@1234", "teste1234567", "teste@123456", "gateway12345", "gateway@1234",
    "abcdefghijkl", "abcdef123456", "abc123abc123", "aaaaaaaaaaaa", "a1b2c3d4e5f6", "1234abcd1234",
    "aa1234567890", "12345678abcd", "12345678abc!",
})

#: The character classes of the one-class rule (any other character is a symbol).
_CLASSES = (str.islower, str.isupper, str.isdigit)


class PasswordRefused(OperatorError):
    """A password that breaks the policy (GATEWAY-E061); the message names the rule."""

    default_code = "GATEWAY-E061"


def _classes(password: str) -> int:
    found = {i for ch in password for i, test in enumerate(_CLASSES) if test(ch)}
    if any(not any(test(ch) for test in _CLASSES) for ch in password):
        found.add(len(_CLASSES))  # a symbol (or any other character)
    return len(found)


def weakness(password: str, username: str) -> str | None:
    """Why *password* breaks the policy for *username* (a Portuguese phrase), or None when it passes."""
    if len(password) < MIN_LENGTH:
        return f"senha com {len(password)} caracteres (mínimo {MIN_LENGTH})"
    if _classes(password) < 2:
        return "senha de uma só classe de caracteres (use ao menos duas: minúsculas, maiúsculas, dígitos, símbolos)"
    if password.lower() in COMMON:
        return "senha comum demais (consta da lista de senhas mais usadas)"
    if len(username) >= 3 and username.lower() in password.lower():
        return "senha contém o nome de usuário"
    return None


def check(password: str, username: str) -> None:
    """Refuse *password* for *username* when it breaks the policy. Errors: PasswordRefused (GATEWAY-E061)."""
    why = weakness(password, username)
    if why is not None:
        raise PasswordRefused(f"{why}; omita --password para gerar uma", field="password")


def generate(username: str) -> str:
    """A new password for *username*: 18 random bytes, URL-safe (24 characters), that passes the policy."""
    while True:
        password = secrets.token_urlsafe(18)
        if weakness(password, username) is None:
            return password
