"""Keys of the MNI hub's credentials towards tribunals: which keys read and which writes, the start-up check, and
``gateway keys rotate`` / ``gateway keys generate``.

Keys (Fernet, :mod:`gateway.hub.credentials`): the **current** key is ``GATEWAY_MNI_CREDENTIALS_KEY``, or the one
derived from ``GATEWAY_SECRET_KEY`` when that is empty; it writes and reads. These also read:
``GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS`` (comma-separated Fernet keys) and, when an explicit key is set, the key
derived from ``GATEWAY_SECRET_KEY`` (so moving from the derived key to an explicit one needs nothing listed).

Rotation, with every replica running meanwhile:

1. ``gateway keys generate`` prints a new key;
2. everywhere: ``GATEWAY_MNI_CREDENTIALS_KEY=<new>`` and ``GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS=<old>``
   (restart the replicas: they now read both and write with the new one);
3. ``gateway keys rotate`` re-encrypts every stored credential under the new key, in one audited transaction
   (``admin.chaves.rotacao``), and refuses, touching nothing, if any of them is readable by none of the keys;
4. once it ran, drop ``GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS``.

A key that cannot read every stored credential is refused at start (:func:`check_readable`, ``GATEWAY-E060``, one
line naming which credentials), instead of each hub call later answering MNI-E023.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine

from gateway.db.committer import Job, WriteContext
from gateway.db.tables import mni_credentials, organs
from gateway.hub.credentials import CredentialStore, fernet_key
from gateway.settings import Settings, SettingsError, secret_weakness


class KeyMismatch(SettingsError):
    """The configured keys cannot read the stored MNI credentials (GATEWAY-E060)."""

    default_code = "GATEWAY-E060"


def _fernet(value: str, name: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(value.encode())) == 32:
            return value.encode()
    except (binascii.Error, ValueError):
        pass
    raise SettingsError(f"{name}: chave inválida (use uma chave Fernet: 32 bytes em base64 URL-safe; "
                        "gere uma com gateway keys generate)")


def fernet_keys(settings: Settings, fallback_secret: str = "") -> list[bytes]:
    """The keys that read, the current one (which writes) first; empty when none can be formed (no explicit key and
    no secret). *fallback_secret* stands for an empty ``GATEWAY_SECRET_KEY`` (a development process's random one).
    Errors: SettingsError (GATEWAY-E001) for a key that is not a Fernet key."""
    secret = settings.secret_key or fallback_secret
    keys: list[bytes] = []
    if settings.mni_credentials_key:
        keys.append(_fernet(settings.mni_credentials_key, "GATEWAY_MNI_CREDENTIALS_KEY"))
    elif secret:
        keys.append(fernet_key("", secret))
    for old in (k.strip() for k in settings.mni_credentials_previous_keys.split(",")):
        if old:
            keys.append(_fernet(old, "GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS"))
    if settings.mni_credentials_key and secret:
        keys.append(fernet_key("", secret))
    return list(dict.fromkeys(keys))


def credential_store(settings: Settings, fallback_secret: str = "") -> CredentialStore | None:
    """The store of the hub clients' credentials under :func:`fernet_keys`; None when no key can be formed."""
    keys = fernet_keys(settings, fallback_secret)
    return CredentialStore(keys) if keys else None


def check_readable(engine: Engine, store: CredentialStore | None) -> None:
    """Refuse to go on when a stored MNI credential is readable by none of the keys (or there is no key at all).
    A database not migrated yet has nothing to check. Errors: KeyMismatch (GATEWAY-E060), one line."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(mni_credentials.name):
            return
        codes = dict(conn.execute(select(organs.c.id, organs.c.code)).all())
        if store is None:
            stored = conn.execute(select(mni_credentials.c.organ_id, mni_credentials.c.jtr,
                                         mni_credentials.c.instance)).all()
            bad = [(r.organ_id, r.jtr, r.instance) for r in stored]
            total = len(bad)
        else:
            bad = store.unreadable(conn)
            total = len(conn.execute(select(mni_credentials.c.organ_id)).all())
    if not bad:
        return
    named = ", ".join(f"{codes.get(o, o)}→{j}/{i}" for o, j, i in bad[:5]) + (" …" if len(bad) > 5 else "")
    which = ("nenhuma chave configurada (GATEWAY_MNI_CREDENTIALS_KEY ou GATEWAY_SECRET_KEY)" if store is None
             else "a chave atual (GATEWAY_MNI_CREDENTIALS_KEY, ou a derivada de GATEWAY_SECRET_KEY) e as anteriores")
    raise KeyMismatch(f"{which} não leem {len(bad)} de {total} credenciais MNI guardadas ({named}): configure a chave "
                      "com que foram cifradas (em GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS, se for uma anterior) e rode "
                      "gateway keys rotate")


def rotate_job(store: CredentialStore, operator: str, channel: str) -> Job[int]:
    """A job re-encrypting every stored MNI credential under the current key and auditing it
    (``admin.chaves.rotacao``: who, how many); returns how many. Errors: KeyMismatch (GATEWAY-E060), before any
    write, when one of them is readable by none of the keys."""

    def job(ctx: WriteContext) -> int:
        bad = store.unreadable(ctx.conn)
        if bad:
            raise KeyMismatch(f"{len(bad)} credencial(is) MNI ilegível(is) com as chaves configuradas: nada foi "
                              "recifrado; informe a chave antiga em GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS")
        count = store.reencrypt(ctx.conn)
        ctx.audit.append(ctx.conn, "admin.chaves.rotacao", ctx.clock.now(),
                         detail={"operador": operator, "canal": channel, "credenciais_mni": count})
        return count

    return job


def generate() -> str:
    """A new Fernet key (32 random bytes, URL-safe base64): what ``gateway keys generate`` prints."""
    return Fernet.generate_key().decode()


def check_settings(settings: Settings) -> None:
    """Refuse the settings of this module, of revocation and of tokens that cannot work, and a weak operations token
    (``GATEWAY_ADMIN_TOKEN``, a bearer credential holding ``operador``) in every environment but ``test``: the rule
    of production's secrets (:func:`gateway.settings.secret_weakness`). Errors: SettingsError (GATEWAY-E001)."""
    from gateway.auth_state import MAX_REFRESH_S

    if not 0 < settings.auth_refresh_s <= MAX_REFRESH_S:
        raise SettingsError(f"GATEWAY_AUTH_REFRESH_S deve estar entre 0 e {MAX_REFRESH_S:g} s (o limite prometido "
                            "para uma revogação chegar a todas as réplicas)")
    if not 60 <= settings.token_ttl_s <= 86_400:
        raise SettingsError("GATEWAY_TOKEN_TTL_S deve estar entre 60 e 86400 s")
    weakness = secret_weakness(settings.admin_token) if settings.admin_token else None
    if weakness and settings.environment != "test":  # production refuses it already (Settings.validate)
        raise SettingsError(f"GATEWAY_ADMIN_TOKEN fraca: {weakness}; é uma credencial da API de operação — gere uma "
                            "com python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    fernet_keys(settings)
