"""The REST and documentation surface in one shape: every REST error is an RFC 9457 problem keeping ``codigo``,
``mensagem`` and ``campo``; ``/openapi.json`` documents each route's answers and the problem; ``/docs`` loads
nothing from outside the gateway."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.bootstrap import create_app
from tests.support import password_of, test_settings

TOKEN = "token-de-operacao-" + "k7Qz" * 8
PROBLEM_KEYS = {"type", "title", "status", "detail", "codigo", "mensagem", "campo"}


@pytest.fixture
def client(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The application in process, with an operator token."""
    with TestClient(create_app(test_settings(sqlite_url, tmp_path, admin_token=TOKEN))) as c:
        yield c


def assert_problem(r: object, status: int, code: str) -> dict[str, object]:
    """*r* is an application/problem+json answer with *status* and *code*, carrying every member."""
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = dict(r.json())  # type: ignore[attr-defined]
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == status and body["codigo"] == code and body["type"].endswith(code)
    assert body["detail"] == body["mensagem"] and body["title"]
    return body


def test_every_rest_error_is_a_problem(client: TestClient) -> None:
    """The gateway's own refusals (no credential 401 with WWW-Authenticate, a wrong operator token 401, an unknown
    protocol 404), a body outside the contract (422, ``campo`` naming the member), an unknown route and a wrong
    method: one shape."""
    none = assert_problem(client.get("/api/v1/comunicacoes/X"), 401, "GATEWAY-E062")
    assert none["campo"] == "Authorization"
    assert "WWW-Authenticate" in client.get("/api/v1/comunicacoes/X").headers
    assert_problem(client.get("/api/v1/dead-letters", headers={"Authorization": "Bearer errado"}), 401,
                   "GATEWAY-E062")
    assert_problem(client.get("/api/v1/comunicacoes/2026000000000000000XX",
                              auth=("tjrj-sistema", password_of("tjrj-sistema"))), 404, "INFODIP-E051")
    wrong = assert_problem(client.get("/api/v1/comunicacoes/2026000000000000000XX",
                                      auth=("tjrj-sistema", "senha-errada")), 401, "INFODIP-E021")
    assert wrong["campo"] == "Authorization"  # where a REST client put it (not the SOAP header's path)
    bad = assert_problem(client.post("/api/v1/dead-letters/replay", json={"destino": 3},
                                     headers={"Authorization": f"Bearer {TOKEN}"}), 422, "GATEWAY-E070")
    assert bad["campo"] == "destino"
    assert_problem(client.get("/api/v1/nada"), 404, "GATEWAY-E071")
    assert_problem(client.delete("/api/v1/dead-letters", headers={"Authorization": f"Bearer {TOKEN}"}), 405,
                   "GATEWAY-E071")
    assert_problem(client.post("/api/v1/operacao/registro-mni/recarregar",
                               headers={"Authorization": f"Bearer {TOKEN}"}), 409, "GATEWAY-E001")


def test_openapi_documents_answers_and_problems(client: TestClient) -> None:
    """Every ``/api/v1`` route declares a typed success answer (200, or 201 for a creation; a schema reference, not
    a bare object) and its error answers as ``application/problem+json`` of the ``Problem`` schema, which lists the
    problem's members."""
    spec = client.get("/openapi.json").json()
    problem = spec["components"]["schemas"]["Problem"]
    assert PROBLEM_KEYS <= set(problem["properties"])
    routes = {(p, m): op for p, ops in spec["paths"].items() if p.startswith("/api/v1/") for m, op in ops.items()}
    assert len(routes) >= 4
    for (path, method), op in routes.items():
        success = next(s for s in op["responses"] if s.startswith("2"))  # 200, or 201 for a creation
        ok = op["responses"][success]["content"]["application/json"]["schema"]
        assert "$ref" in ok or "$ref" in ok.get("items", {}), (path, method, ok)
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert errors, (path, method)
        for status, answer in errors.items():
            assert set(answer["content"]) == {"application/problem+json"}, (path, status)
            assert answer["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


def test_docs_page_loads_nothing_from_outside(client: TestClient) -> None:
    """``/docs`` names no ``http(s)://`` URL (its script, style sheet and icon are the gateway's own, under
    ``/docs-assets/``), Swagger UI's online validator is off, and each asset it names is served."""
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert re.findall(r"https?://", page.text) == []
    assert '"validatorUrl": null' in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 3 and all(a.startswith("/docs-assets/") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404  # ReDoc would load its script from a CDN: not served


def test_an_unexpected_error_is_one_problem_and_the_connection_stays(client: TestClient,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A bug in a route (here a route that raises RuntimeError) answers 500 problem+json GATEWAY-E090, logged once
    with its traceback, and is not raised on to the server: Starlette's outermost handler re-raised it after
    answering, and the server then closed the kept-alive connection (the client's next request on it failed). The
    test client raises whatever reaches the server, so before the change this request raised RuntimeError."""
    app = client.app
    assert isinstance(app, FastAPI)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/_teste/falha", boom, methods=["GET"])
    with caplog.at_level(logging.ERROR, logger="gateway.rest"):
        r = client.get("/api/v1/_teste/falha")
    assert_problem(r, 500, "GATEWAY-E090")
    [record] = [rec for rec in caplog.records if rec.name == "gateway.rest"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert client.get("/healthz").status_code == 200
