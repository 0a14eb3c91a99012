"""Credential and key lifecycle on a real database (SQLite file and PostgreSQL): every administrative change is an
audit entry naming who, what and when; the password policy and the move rule refuse before anything is written;
revocation reaches a verdict cached in this process at once and one cached in another within the refresh period."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.admin import Actor, AdminError, AdminService
from gateway.auth import Authenticator
from gateway.auth_state import AuthState
from gateway.bootstrap import console
from gateway.clock import FakeClock, SystemClock
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log, credentials
from gateway.errors import AuthenticationFailed
from gateway.organs import OrganType
from gateway.passwords import PasswordRefused
from gateway.xml.soap import PASSWORD_TEXT, UsernameToken
from tests.support import KDF_N, password_of, test_settings

WHO = Actor("maria.operadora", "cli")


def last_entry(admin: AdminService) -> dict[str, Any]:
    """The newest audit entry, its detail parsed."""
    with admin.reader.connect() as conn:
        row = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).mappings().one()
    return {**row, "detail": json.loads(row["detail"])}


def entries(admin: AdminService) -> int:
    """How many audit entries there are."""
    with admin.reader.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


def test_every_administrative_change_is_audited_with_who_what_when(db_url: str, tmp_path: Path) -> None:
    """Registering an organ, granting and revoking scopes, creating, rotating, revoking, re-setting and moving a
    credential, disabling and enabling an organ and storing a hub credential each append one audit entry: the event
    says what, ``detail.operador``/``canal`` who, ``created_at`` when, ``organ_id`` which organ — never a password.
    Refusals (a weak password, a move without --mover, revoking twice, an unknown scope) write nothing. The chain
    verifies afterwards."""
    settings = test_settings(db_url, tmp_path)
    with console(settings) as con:
        admin = con.admin
        before = SystemClock().now() - timedelta(seconds=5)

        def check(event: str, **detail: Any) -> dict[str, Any]:
            entry = last_entry(admin)
            assert entry["event"] == event
            assert entry["detail"]["operador"] == "maria.operadora" and entry["detail"]["canal"] == "cli"
            assert all(entry["detail"].get(k) == v for k, v in detail.items()), entry["detail"]
            assert before <= entry["created_at"].replace(tzinfo=before.tzinfo) <= SystemClock().now()
            return entry

        organ_id = admin.add_organ("TJMG", "Tribunal de Justiça de MG", OrganType.TRIBUNAL, actor=WHO)
        assert check("admin.orgao.cadastro", orgao="TJMG", tipo="tribunal")["organ_id"] == organ_id
        assert admin.grant("TJMG", ["divida:ler", "operador"], actor=WHO) == ["divida:ler", "operador"]
        check("admin.permissao.concessao", escopos=["divida:ler", "operador"])
        assert admin.grant("TJMG", ["divida:ler"], actor=WHO) == []  # nothing new: no entry
        assert admin.revoke_grants("TJMG", ["operador"], actor=WHO) == ["operador"]
        check("admin.permissao.revogacao", escopos=["operador"])
        password = admin.create_credential("tjmg-api", "TJMG", actor=WHO)
        entry = check("admin.credencial.criacao", usuario="tjmg-api", orgao="TJMG")
        assert password not in json.dumps(entry["detail"]) and len(password) == 24
        new = admin.rotate_credential("tjmg-api", actor=WHO)
        check("admin.credencial.troca", usuario="tjmg-api", versao=2)
        assert new != password
        admin.revoke_credential("tjmg-api", actor=WHO)
        check("admin.credencial.revogacao", usuario="tjmg-api", versao=3)

        count = entries(admin)
        refusals = [
            (lambda: admin.create_credential("tjmg-outra", "TJMG", "curta", actor=WHO), "GATEWAY-E061"),
            (lambda: admin.set_credential("tjmg-outra", "TJMG", "tjmg-outra-2026!", actor=WHO), "GATEWAY-E061"),
            (lambda: admin.revoke_credential("tjmg-api", actor=WHO), "GATEWAY-E002"),
            (lambda: admin.rotate_credential("tjmg-api", actor=WHO), "GATEWAY-E002"),
            (lambda: admin.create_credential("tjrj-sistema", "TJMG", actor=WHO), "GATEWAY-E002"),
            (lambda: admin.set_credential("tjrj-sistema", "TJMG", actor=WHO), "GATEWAY-E002"),
            (lambda: admin.grant("TJMG", ["tudo"], actor=WHO), "GATEWAY-E002"),
            (lambda: admin.set_organ_active("TJXX", False, actor=WHO), "GATEWAY-E002"),
        ]
        for refused, code in refusals:
            with pytest.raises((AdminError, PasswordRefused, Exception)) as error:
                refused()
            assert getattr(error.value, "code", None) == code, error.value
        assert entries(admin) == count, "a refusal writes nothing"
        with admin.reader.connect() as conn:
            assert conn.execute(select(credentials.c.organ_id).where(
                credentials.c.username == "tjrj-sistema")).scalar_one() != organ_id

        admin.set_credential("tjmg-api", "TJMG", actor=WHO)
        check("admin.credencial.troca", usuario="tjmg-api", versao=4)
        admin.set_credential("tjrj-sistema", "TJMG", move=True, actor=WHO)
        check("admin.credencial.mudanca_orgao", usuario="tjrj-sistema", de_orgao="TJRJ", orgao="TJMG")
        admin.set_organ_active("TJMG", False, actor=WHO)
        check("admin.orgao.desativacao", orgao="TJMG")
        admin.set_organ_active("TJMG", True, actor=WHO)
        check("admin.orgao.reativacao", orgao="TJMG")
        admin.set_tribunal_credential("PGFN", "8.19", "1", "pgfn-no-tj", "segredo-no-tribunal", actor=WHO)
        entry = check("admin.mni.credencial", orgao="PGFN", tribunal="8.19", instalacao="1")
        assert "segredo-no-tribunal" not in json.dumps(entry["detail"])
        listed = {c.username: c for c in admin.credentials("TJMG")}
        assert set(listed) == {"tjmg-api", "tjrj-sistema"} and listed["tjmg-api"].active
        organs = {o.code: o for o in admin.organs()}
        assert organs["TJMG"].grants == ("divida:ler",) and organs["TJMG"].credentials == 2
        report, _signed = con.verify_audit()
        assert report.ok and report.entries >= 12


def authenticate(auth: Authenticator, user: str, password: str) -> str:
    """``ok`` or the refusal's code, authenticating on a fresh event loop."""
    async def attempt() -> str:
        try:
            await auth.authenticate(UsernameToken(user, password, PASSWORD_TEXT), client="10.0.0.1")
        except AuthenticationFailed as exc:
            return exc.code
        return "ok"

    return asyncio.run(attempt())


def test_revocation_reaches_this_process_at_once_and_another_within_the_refresh_period(
        db_url: str, tmp_path: Path) -> None:
    """Two authenticators on one database stand for two processes, A (whose admin service made the change) and B
    (a clock of its own). With verdicts cached and used on both: a rotated password is refused by A at once, while
    B — whose snapshot was confirmed less than the refresh period ago — still accepts the old one; once B's clock
    passes the period it refuses it too, and the new password works on both. The same for a disabled organ and a
    revoked credential. One snapshot reload per change, none while the epoch stands."""
    settings = test_settings(db_url, tmp_path)
    with console(settings) as con:
        reader = make_engine(db_url)
        clock_a, clock_b = FakeClock(), FakeClock()
        a = Authenticator(reader, b"k" * 32, 60, KDF_N, state=AuthState(reader, clock_a, 1.0))
        b = Authenticator(reader, b"k" * 32, 60, KDF_N, state=AuthState(reader, clock_b, 1.0))
        admin = con.admin
        admin.listeners.append(a.state.invalidate)
        old = password_of("tjrj-sistema")
        for _ in range(2):  # the first verifies (KDF), the second is a cached verdict checked against a snapshot
            assert authenticate(a, "tjrj-sistema", old) == authenticate(b, "tjrj-sistema", old) == "ok"

        new = admin.rotate_credential("tjrj-sistema", actor=WHO)
        assert authenticate(a, "tjrj-sistema", old) == "INFODIP-E021", "A refuses at once"
        assert authenticate(b, "tjrj-sistema", old) == "ok", "B within its period: still the cached verdict"
        clock_b.advance(1.0)
        assert authenticate(b, "tjrj-sistema", old) == "INFODIP-E021", "B after the period"
        assert authenticate(a, "tjrj-sistema", new) == authenticate(b, "tjrj-sistema", new) == "ok"

        assert authenticate(b, "tjrj-vep", password_of("tjrj-vep")) == "ok"
        admin.set_organ_active("TJRJ-VEP", False, actor=WHO)
        assert authenticate(a, "tjrj-vep", password_of("tjrj-vep")) == "INFODIP-E021"
        clock_b.advance(1.0)
        assert authenticate(b, "tjrj-vep", password_of("tjrj-vep")) == "INFODIP-E021"
        admin.set_organ_active("TJRJ-VEP", True, actor=WHO)
        clock_b.advance(1.0)
        assert authenticate(b, "tjrj-vep", password_of("tjrj-vep")) == "ok"

        assert authenticate(b, "crc-nacional", password_of("crc-nacional")) == "ok"
        admin.revoke_credential("crc-nacional", actor=WHO)
        assert authenticate(a, "crc-nacional", password_of("crc-nacional")) == "INFODIP-E021"
        reloads = b.state.reloads
        clock_b.advance(1.0)
        assert authenticate(b, "crc-nacional", password_of("crc-nacional")) == "INFODIP-E021"
        assert authenticate(b, "tjrj-sistema", new) == "ok"
        assert b.state.reloads == reloads + 1, "one reload for the change, none while the epoch stands"
        reader.dispose()
