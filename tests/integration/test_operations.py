"""Operator services on a real database (SQLite file and PostgreSQL): organs and credentials through the admin
service, dead letters and their replay through the delivery service, both as bootstrap wires them."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.admin import AdminError
from gateway.auth import Authenticator
from gateway.bootstrap import Gateway, console, create_app, tribunal_credential_store
from gateway.db.tables import audit_log, outbox
from gateway.hub.credentials import TribunalCredential
from gateway.infodip.domain import Kind
from gateway.organs import OrganType
from gateway.settings import SettingsError
from tests.support import KDF_N, sample, test_settings

OPERATOR = {"Authorization": "Bearer token-do-operador"}


def test_admin_service_registers_organs_and_credentials(db_url: str, tmp_path: Path) -> None:
    """An organ registered with a kinds override authenticates with exactly those kinds through a generated
    password; a second registration of its code, an unknown kind and an unknown organ are AdminError
    (GATEWAY-E002); a hub client's credential is stored encrypted and read back, and without any key it is a
    SettingsError (GATEWAY-E001)."""
    settings = test_settings(db_url, tmp_path)
    with console(settings) as con:
        organ_id = con.admin.add_organ("TJMG", "Tribunal de Justiça de MG", OrganType.TRIBUNAL, kinds=["I", " IV"])
        for refused in (lambda: con.admin.add_organ("TJMG", "outro", OrganType.TRIBUNAL),
                        lambda: con.admin.add_organ("TJMT", "TJMT", OrganType.TRIBUNAL, kinds=["X"]),
                        lambda: con.admin.set_credential("ninguem", "TJXX")):
            with pytest.raises(AdminError) as error:
                refused()
            assert error.value.code == "GATEWAY-E002"
        assert "TJMT" not in con.admin.organ_codes() and "TJMG" in con.admin.organ_codes()
        password = con.admin.set_credential("tjmg-sistema", "TJMG")
        assert len(password) >= 24
        caller = Authenticator(con.reader, b"k" * 32, 60, KDF_N).verify("tjmg-sistema", password)
        assert (caller.organ_id, caller.kinds) == (organ_id, frozenset({Kind.I, Kind.IV}))
        con.admin.set_tribunal_credential("TJMG", "8.13", "1", "tjmg-no-tribunal", "segredo")
        store = tribunal_credential_store(settings)
        assert store is not None
        with con.reader.connect() as conn:
            assert store.get(conn, organ_id, "8.13", "1") == TribunalCredential("tjmg-no-tribunal", "segredo")
    with console(settings.with_(secret_key="")) as con, pytest.raises(SettingsError):
        con.admin.set_tribunal_credential("TJMG", "8.13", "2", "u", "p")


def test_dead_letters_are_listed_counted_and_replayed(db_url: str, tmp_path: Path) -> None:
    """A dead delivery appears in ``/api/v1/dead-letters`` (with its reason and an ISO time with offset) and in
    ``gateway_dead_letters``; the REST replay puts it back as pending with no attempts, audits it, and wakes the
    relay once (the listener bootstrap wires); a second replay finds nothing and wakes nobody."""
    app = create_app(test_settings(db_url, tmp_path, admin_token="token-do-operador"))
    with TestClient(app) as client:
        gw: Gateway = app.state.gateway
        woken: list[int] = []
        gw.delivery.listeners.append(lambda: woken.append(1))
        accepted = client.post("/soap/infodip", content=sample(Kind.I))
        assert accepted.status_code == 200
        with gw.writer_engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.destination == "TSE")
                         .values(status="dead", attempts=12, last_error="GATEWAY-E012: recusada (HTTP 400)"))
        dead = client.get("/api/v1/dead-letters", headers=OPERATOR).json()
        assert [(d["destino"], d["tentativas"], d["motivo"]) for d in dead] == [
            ("TSE", 12, "GATEWAY-E012: recusada (HTTP 400)")]
        assert dead[0]["atualizadoEm"].endswith("+00:00")
        assert client.get("/api/v1/dead-letters", params={"destino": "CNJ"}, headers=OPERATOR).json() == []
        assert gw.delivery.outbox_counts()["TSE"] == {"dead": 1}
        assert 'gateway_dead_letters{destination="TSE"} 1.0' in client.get("/metrics").text

        replayed = client.post("/api/v1/dead-letters/replay", json={"destino": "TSE"}, headers=OPERATOR).json()
        assert replayed["reprocessadas"] == [{"idMensagem": dead[0]["idMensagem"], "destino": "TSE"}]
        assert woken == [1]
        with gw.reader_engine.connect() as conn:
            row = conn.execute(select(outbox.c.status, outbox.c.attempts).where(outbox.c.destination == "TSE")).one()
            audited = conn.execute(select(audit_log.c.event).where(
                audit_log.c.message_id == dead[0]["idMensagem"])).scalars().all()
        assert (row.status, row.attempts) == ("pending", 0)
        assert "entrega.reprocessamento" in audited
        again = client.post("/api/v1/dead-letters/replay", json={}, headers=OPERATOR).json()
        assert again == {"reprocessadas": []} and woken == [1]
