"""The REST API's OAuth2 client credentials (RFC 6749 §4.4) and bearer tokens in the gateway as bootstrap wires it,
on a real database (SQLite file and PostgreSQL): the token endpoint and its RFC 6749 §5.2 errors, scopes checked
by ``require_scopes`` with problem details (RFC 9457), revocation of tokens, the operations API, and the audit of
consultations that return personal data."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.bootstrap import console, create_app
from gateway.db.tables import audit_log
from gateway.demo_grants import seed_sandbox
from gateway.edges.oauth import Principal, require_scopes
from gateway.infodip.domain import Kind
from gateway.sandbox import DEMO_ORGANS
from gateway.settings import Settings
from tests.support import infodip_request, password_of, sample, test_settings, wait_until

ADMIN = {"Authorization": "Bearer token-do-operador"}
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "codigo", "mensagem", "campo"}


def with_demo_grants(settings: Settings) -> dict[str, str]:
    """Give the seeded database the sandbox's grants and operations credential; return every password."""
    passwords = {o.username: password_of(o.username) for o in DEMO_ORGANS}
    with console(settings) as con:
        seed_sandbox(con.admin, passwords, DEMO_ORGANS)
    return passwords


@pytest.fixture
def gateway(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A gateway (operations token ``token-do-operador``) whose organs hold the sandbox's grants, with a test route
    asking for ``divida:ler`` and the ``On-Behalf-Of`` CPF."""
    settings = test_settings(db_url, tmp_path, admin_token="token-do-operador")
    passwords = with_demo_grants(settings)
    app = create_app(settings)

    @app.get("/api/v1/teste/quem")
    async def who(p: Annotated[Principal, Depends(require_scopes("divida:ler", on_behalf_of=True))]) -> Any:
        return {"orgao": p.caller.organ_code if p.caller else None, "cpf": p.on_behalf_of, "via": p.via}

    with TestClient(app) as client:
        yield client, passwords


def token(client: TestClient, user: str, password: str, **form: str) -> dict[str, Any]:
    """A token for *user* (form fields), HTTP 200 required."""
    r = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": user,
                                          "client_secret": password, **form})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    return dict(r.json())


def bearer(value: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {value}"}


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    """Check *r* is an RFC 9457 problem with *status* and *code*; return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = dict(r.json())
    assert set(body) == PROBLEM_MEMBERS, body
    assert (body["status"], body["codigo"], body["type"]) == (status, code, f"urn:gateway-interop:problema:{code}")
    assert body["mensagem"] == body["detail"] and body["title"]
    return body


def test_the_token_endpoint_issues_tokens_of_the_organs_grants(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """With form fields or HTTP Basic (RFC 6749 §2.3.1, form-urlencoded), ``grant_type=client_credentials`` gives
    ``{"access_token", "token_type": "Bearer", "expires_in": 900, "scope"}``: every grant of the organ without
    ``scope``, the subset asked for with it."""
    client, passwords = gateway
    full = token(client, "pgfn-mni", passwords["pgfn-mni"])
    assert set(full) == {"access_token", "token_type", "expires_in", "scope"}
    assert (full["token_type"], full["expires_in"], full["scope"]) == ("Bearer", 900,
                                                                        "execucao-fiscal:ajuizar intimacoes:ler")
    basic = base64.b64encode(f"pgfn-mni:{passwords['pgfn-mni'].replace('#', '%23')}".encode()).decode()
    r = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "intimacoes:ler"},
                    headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200 and r.json()["scope"] == "intimacoes:ler", r.text
    assert client.get("/api/v1/comunicacoes/INEXISTENTE", headers=bearer(r.json()["access_token"])).status_code == 404


def test_token_endpoint_errors_follow_rfc_6749(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Each refusal is ``{"error", "error_description"}`` (never a problem document) with RFC 6749 §5.2's code:
    invalid_request (no grant_type, JSON body, a repeated parameter, two client authentications),
    unsupported_grant_type, invalid_client (401 with ``WWW-Authenticate: Basic``: wrong secret, unknown client, none
    given), invalid_scope (a scope not granted, an unknown one, an organ with no grants)."""
    client, passwords = gateway
    secret = passwords["pgfn-mni"]
    ok = {"grant_type": "client_credentials", "client_id": "pgfn-mni", "client_secret": secret}
    basic = {"Authorization": "Basic " + base64.b64encode(f"pgfn-mni:{secret}".encode()).decode()}
    cases = [
        (client.post("/oauth/token", data={"client_id": "pgfn-mni", "client_secret": secret}), 400,
         "invalid_request"),
        (client.post("/oauth/token", json=ok), 400, "invalid_request"),
        (client.post("/oauth/token", content="grant_type=client_credentials&grant_type=client_credentials",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}), 400, "invalid_request"),
        (client.post("/oauth/token", data=ok, headers=basic), 400, "invalid_request"),
        (client.post("/oauth/token", data={**ok, "grant_type": "password"}), 400, "unsupported_grant_type"),
        (client.post("/oauth/token", data={**ok, "client_secret": "Errada-123456"}), 401, "invalid_client"),
        (client.post("/oauth/token", data={**ok, "client_id": "ninguem"}), 401, "invalid_client"),
        (client.post("/oauth/token", data={"grant_type": "client_credentials"}), 401, "invalid_client"),
        (client.post("/oauth/token", data={**ok, "scope": "intimacoes:ler operador"}), 400, "invalid_scope"),
        (client.post("/oauth/token", data={**ok, "scope": "tudo"}), 400, "invalid_scope"),
        (client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "tjrj-vep",
                                           "client_secret": passwords["tjrj-vep"]}), 400, "invalid_scope"),
    ]
    for r, status, error in cases:
        assert (r.status_code, r.json()["error"]) == (status, error), r.text
        assert set(r.json()) == {"error", "error_description"} and r.headers["cache-control"] == "no-store"
        if status == 401:
            assert r.headers["www-authenticate"] == 'Basic realm="gateway"'


def test_scopes_guard_the_routes_with_problem_details(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Dead letters need ``operador``: the operations organ's token and the operations token pass; a token without
    the scope is 403 GATEWAY-E063 (``WWW-Authenticate: Bearer error="insufficient_scope"``); no token or a bad one
    is 401 GATEWAY-E062 (``WWW-Authenticate: Bearer``), as RFC 9457 problems with codigo/mensagem/campo. The
    consultation keeps HTTP Basic and takes a bearer token of the organ; the operations token is no organ there.
    ``On-Behalf-Of`` is required where a route asks: missing 400 E064, not a CPF 422 E065, a masked CPF read as
    digits."""
    client, passwords = gateway
    operations = token(client, "operacao-gateway", passwords["operacao-gateway"], scope="operador")["access_token"]
    pgfn = token(client, "pgfn-mni", passwords["pgfn-mni"])["access_token"]
    assert client.get("/api/v1/dead-letters", headers=bearer(operations)).json() == []
    assert client.get("/api/v1/dead-letters", headers=ADMIN).json() == []
    refused = client.get("/api/v1/dead-letters", headers=bearer(pgfn))
    assert problem(refused, 403, "GATEWAY-E063")["campo"] == "Authorization"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="operador"' in refused.headers["www-authenticate"]
    missing = client.get("/api/v1/dead-letters")
    problem(missing, 401, "GATEWAY-E062")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = client.get("/api/v1/dead-letters", headers=bearer("nao.e.um.token"))
    problem(bad, 401, "GATEWAY-E062")
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert problem(client.post("/api/v1/dead-letters/replay", json={}, headers=bearer(pgfn)), 403, "GATEWAY-E063")

    tjrj = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
    url = "/api/v1/comunicacoes/INEXISTENTE"
    assert client.get(url, headers=bearer(tjrj)).status_code == 404
    assert client.get(url, auth=("tjrj-sistema", passwords["tjrj-sistema"])).status_code == 404
    anonymous = client.get(url)
    problem(anonymous, 401, "GATEWAY-E062")
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="gateway", Basic realm="gateway"'
    problem(client.get(url, headers=ADMIN), 403, "GATEWAY-E063")

    assert problem(client.get("/api/v1/teste/quem", headers=bearer(tjrj)), 400, "GATEWAY-E064")["campo"] == \
        "On-Behalf-Of"
    problem(client.get("/api/v1/teste/quem", headers={**bearer(tjrj), "On-Behalf-Of": "111.111.111-12"}), 422,
            "GATEWAY-E065")
    problem(client.get("/api/v1/teste/quem", headers={**bearer(pgfn), "On-Behalf-Of": "52998224725"}), 403,
            "GATEWAY-E063")
    who = client.get("/api/v1/teste/quem", headers={**bearer(tjrj), "On-Behalf-Of": "529.982.247-25"})
    assert who.json() == {"orgao": "TJRJ", "cpf": "52998224725", "via": "bearer"}


def test_a_changed_credential_or_disabled_organ_stops_its_tokens_here_at_once(
        gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Through the operations API of this process: a rotated password refuses the old password and every token
    issued before (401 GATEWAY-E062 "revogado") on the very next request; a disabled organ's tokens stop at once and
    work again once it is enabled; a revoked credential's token stops at once. A grant revoked by a command (another
    process) narrows an issued token within the refresh period (5 s deadline, polled). Each change is audited with
    the operator's credential."""
    client, passwords = gateway
    operations = bearer(token(client, "operacao-gateway", passwords["operacao-gateway"])["access_token"])
    url = "/api/v1/comunicacoes/INEXISTENTE"
    old = bearer(token(client, "pgfn-mni", passwords["pgfn-mni"])["access_token"])
    assert client.get(url, headers=old).status_code == 404

    rotated = client.post("/api/v1/admin/credenciais/pgfn-mni/senha", headers=operations)
    assert rotated.status_code == 200, rotated.text
    assert "revogado" in problem(client.get(url, headers=old), 401, "GATEWAY-E062")["detail"]
    assert client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "pgfn-mni",
                                             "client_secret": passwords["pgfn-mni"]}).status_code == 401
    new = bearer(token(client, "pgfn-mni", rotated.json()["senha"])["access_token"])
    assert client.get(url, headers=new).status_code == 404

    assert client.patch("/api/v1/admin/orgaos/PGFN", json={"ativo": False}, headers=operations).status_code == 200
    problem(client.get(url, headers=new), 401, "GATEWAY-E062")
    assert client.patch("/api/v1/admin/orgaos/PGFN", json={"ativo": True}, headers=operations).status_code == 200
    assert client.get(url, headers=new).status_code == 404

    tjrj = bearer(token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"])
    assert client.get("/api/v1/teste/quem", headers={**tjrj, "On-Behalf-Of": "52998224725"}).status_code == 200
    with console(client.app.state.gateway.settings) as con:  # type: ignore[attr-defined]
        con.admin.revoke_grants("TJRJ", ["divida:ler"])
    wait_until(lambda: client.get("/api/v1/teste/quem", headers={**tjrj, "On-Behalf-Of": "52998224725"})
               .status_code == 403, timeout=5, what="the revoked grant to reach the process")

    assert client.delete("/api/v1/admin/credenciais/tjrj-sistema", headers=operations).status_code == 200
    problem(client.get(url, headers=tjrj), 401, "GATEWAY-E062")
    second = client.delete("/api/v1/admin/credenciais/tjrj-sistema", headers=operations)
    assert second.status_code == 422 and second.json()["codigo"] == "GATEWAY-E002"

    with client.app.state.gateway.reader_engine.connect() as conn:  # type: ignore[attr-defined]
        audited = [(e, json.loads(d)) for e, d in conn.execute(select(audit_log.c.event, audit_log.c.detail).where(
            audit_log.c.event.like("admin.%")).order_by(audit_log.c.id))]
    rest = [(e, d["operador"], d.get("usuario") or d.get("orgao")) for e, d in audited if d["canal"] == "rest"]
    assert rest == [("admin.credencial.troca", "operacao-gateway", "pgfn-mni"),
                    ("admin.orgao.desativacao", "operacao-gateway", "PGFN"),
                    ("admin.orgao.reativacao", "operacao-gateway", "PGFN"),
                    ("admin.credencial.revogacao", "operacao-gateway", "tjrj-sistema")]


def test_the_token_endpoint_shares_the_login_throttle(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Ten wrong secrets of one client from one address, and the right one is refused too: 429 with
    ``Retry-After`` (RFC 6749 shape, ``invalid_client``) before any password check; another client is not
    affected."""
    client, passwords = gateway
    form = {"grant_type": "client_credentials", "client_id": "pgf-mni"}
    for i in range(10):
        assert client.post("/oauth/token", data={**form, "client_secret": f"Errada-{i:08d}"}).status_code == 401
    refused = client.post("/oauth/token", data={**form, "client_secret": passwords["pgf-mni"]})
    assert refused.status_code == 429 and refused.json()["error"] == "invalid_client"
    assert int(refused.headers["retry-after"]) > 0
    token(client, "pgfn-mni", passwords["pgfn-mni"])


def test_openapi_declares_the_oauth2_scheme_and_its_scopes(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """``/openapi.json`` names the client-credentials flow (token URL ``/oauth/token``, the eight scopes), documents
    the token endpoint's form, answers and errors, and the scope each guarded route needs."""
    client, _ = gateway
    schema = client.get("/openapi.json").json()
    flow = schema["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token" and len(flow["scopes"]) == 8
    post = schema["paths"]["/oauth/token"]["post"]
    assert "application/x-www-form-urlencoded" in post["requestBody"]["content"]
    assert {"200", "400", "401", "429"} <= set(post["responses"])
    dead = schema["paths"]["/api/v1/dead-letters"]["get"]["security"]
    assert {"OAuth2": ["operador"]} in dead
    assert "Problem" in schema["components"]["schemas"]


def test_consultations_returning_personal_data_are_audited(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """``consultarComunicacao`` (SOAP) and ``GET /api/v1/comunicacoes/{protocolo}`` (HTTP Basic, bearer) each write
    ``consulta.comunicacao`` naming the credential, the protocol and the channel; a consultation of an unknown
    protocol returns nothing personal and writes nothing."""
    client, passwords = gateway
    r = client.post("/soap/infodip", content=sample(Kind.I))
    assert r.status_code == 200, r.text
    protocol = r.text.split("<i:protocolo>")[1].split("<")[0]
    assert client.post("/soap/infodip", content=infodip_request(
        "consultarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>")).status_code == 200
    assert client.get(f"/api/v1/comunicacoes/{protocol}",
                      auth=("tjrj-sistema", passwords["tjrj-sistema"])).status_code == 200
    tjrj = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
    assert client.get(f"/api/v1/comunicacoes/{protocol}", headers=bearer(tjrj)).status_code == 200
    assert client.get("/api/v1/comunicacoes/INEXISTENTE", headers=bearer(tjrj)).status_code == 404
    with client.app.state.gateway.reader_engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(audit_log.c.protocol, audit_log.c.organ_id, audit_log.c.detail).where(
            audit_log.c.event == "consulta.comunicacao").order_by(audit_log.c.id)).all()
    assert [(p, json.loads(d)["usuario"], json.loads(d)["canal"]) for p, _o, d in rows] == [
        (protocol, "tjrj-sistema", "soap"), (protocol, "tjrj-sistema", "rest:basic"),
        (protocol, "tjrj-sistema", "rest:bearer")]
    assert all(organ_id is not None for _p, organ_id, _d in rows)
