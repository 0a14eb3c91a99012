"""The edge of ``POST /api/v1/pessoas/situacao`` answers every malformed, unauthenticated or unauthorised request
exactly as recorded (``tests/fixtures/consulta/edge_answers.json``: status, problem body and the headers that
matter), on SQLite and PostgreSQL — what the route answered when FastAPI's dependencies resolved it, kept when it
became one plain function (issue 14's CPU work): which check comes first (a JSON syntax error before the token, the
token before the body's schema, the scope before ``On-Behalf-Of``), each code, message and header."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import create_app
from tests.integration.test_consulta import ACTING, CPF, PURPOSE
from tests.integration.test_oauth import token, with_demo_grants
from tests.support import FIXTURES, test_settings

GOLDEN = FIXTURES / "consulta" / "edge_answers.json"
ADMIN = "token-do-operador"
PATH = "/api/v1/pessoas/situacao"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def gateway(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = test_settings(db_url, tmp_path, admin_token=ADMIN, consulta_rate_per_minute=10_000)
    passwords = with_demo_grants(settings)
    with TestClient(create_app(settings)) as client:
        yield client, passwords


def cases(tok: str, other: str) -> dict[str, tuple[str, dict[str, str], bytes]]:
    """Each case: method, headers, body."""
    good = json.dumps({"cpf": CPF, "finalidade": PURPOSE}).encode()
    auth = {"Authorization": f"Bearer {tok}", "On-Behalf-Of": ACTING}
    return {
        "no-token": ("POST", JSON, good),
        "no-token-bad-json": ("POST", JSON, b'{"cpf": '),
        "no-token-bad-schema": ("POST", JSON, b'{"cpf": 1}'),
        "bad-token": ("POST", {**JSON, "Authorization": "Bearer nao-e-um-token"}, good),
        "basic-not-taken": ("POST", {**JSON, "Authorization": "Basic dGpyai1zaXN0ZW1hOng="}, good),
        "empty-bearer": ("POST", {**JSON, "Authorization": "Bearer "}, good),
        "scope-missing": ("POST", {**JSON, "Authorization": f"Bearer {other}", "On-Behalf-Of": ACTING}, good),
        "operations-token": ("POST", {**JSON, "Authorization": f"Bearer {ADMIN}", "On-Behalf-Of": ACTING}, good),
        "no-on-behalf-of": ("POST", {**JSON, "Authorization": f"Bearer {tok}"}, good),
        "bad-on-behalf-of": ("POST", {**JSON, "Authorization": f"Bearer {tok}", "On-Behalf-Of": "123"}, good),
        "masked-on-behalf-of-no-purpose": ("POST", {**JSON, "Authorization": f"Bearer {tok}",
                                                    "On-Behalf-Of": "529.982.247-25"}, b'{"cpf": "' + CPF.encode()
                                           + b'"}'),
        "bad-json": ("POST", {**JSON, **auth}, b'{"cpf": '),
        "bad-json-no-on-behalf-of": ("POST", {**JSON, "Authorization": f"Bearer {tok}"}, b"[1,"),
        "not-utf8": ("POST", {**JSON, **auth}, b'{"cpf": "\xff"}'),
        "wrong-type": ("POST", {**JSON, **auth}, b'{"cpf": 1, "finalidade": 2}'),
        "empty-body": ("POST", {**JSON, **auth}, b""),
        "json-null": ("POST", {**JSON, **auth}, b"null"),
        "json-list": ("POST", {**JSON, **auth}, b"[]"),
        "text-plain": ("POST", {"Content-Type": "text/plain", **auth}, good),
        "no-content-type": ("POST", dict(auth), good),
        "json-suffix": ("POST", {"Content-Type": "application/problem+json", **auth}, good),
        "json-charset": ("POST", {"Content-Type": "application/json; charset=utf-8", **auth}, good),
        "name-too-long": ("POST", {**JSON, **auth}, json.dumps({"nome": "x" * 201, "finalidade": PURPOSE}).encode()),
        "bad-date": ("POST", {**JSON, **auth}, b'{"cpf": "' + CPF.encode() + b'", "data": "amanha", "finalidade": "'
                     + PURPOSE.encode() + b'"}'),
        "no-purpose": ("POST", {**JSON, **auth}, b'{"cpf": "' + CPF.encode() + b'"}'),
        "two-keys": ("POST", {**JSON, **auth}, json.dumps({"cpf": CPF, "tituloEleitor": "526137080388",
                                                           "finalidade": PURPOSE}).encode()),
        "bad-cpf": ("POST", {**JSON, **auth}, json.dumps({"cpf": "12345678900", "finalidade": PURPOSE}).encode()),
        "extra-member": ("POST", {**JSON, **auth}, json.dumps({"cpf": CPF, "finalidade": PURPOSE, "x": 1}).encode()),
        "ok": ("POST", {**JSON, **auth}, good),
        "get": ("GET", dict(auth), b""),
    }


def answers(client: TestClient, passwords: dict[str, str]) -> dict[str, Any]:
    """Every case's answer: status, the headers that matter, and the body (JSON) — the 200's body only by shape."""
    tok = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
    other = token(client, "pgfn-mni", passwords["pgfn-mni"])["access_token"]
    out: dict[str, Any] = {}
    for name, (method, headers, body) in cases(tok, other).items():
        r = client.request(method, PATH, headers=headers, content=body)
        kept = {h: r.headers[h] for h in ("content-type", "www-authenticate", "retry-after", "allow")
                if h in r.headers}
        content: Any = r.json() if r.content else None
        if r.status_code == 200:
            content = sorted(content)
        out[name] = {"status": r.status_code, "headers": kept, "body": content}
    return out


def test_edge_answers_as_recorded(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Each malformed, unauthenticated or unauthorised request (and one good one) is answered exactly as recorded:
    status, ``Content-Type``, ``WWW-Authenticate``, ``Retry-After``, ``Allow`` and the problem body."""
    client, passwords = gateway
    got = answers(client, passwords)
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(got) == set(want)
    for name in want:
        assert got[name] == want[name], name
