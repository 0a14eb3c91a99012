"""The web form and the console in process (issue 16), on a real SQLite database: people and the CLI's rules,
login with CSRF, every kind submitted through the INFODIP service with the webservice's codes, drafts, receipt,
list, retificação, cancelamento, session expiry by the injected clock, the console's role check and replay's
confirmation. The same flows in a real browser: tests/e2e/test_web_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from gateway.admin import Actor
from gateway.bootstrap import console, create_app
from gateway.clock import FakeClock
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log
from gateway.errors import OperatorError
from gateway.infodip.contract import NS
from gateway.infodip.domain import Kind
from gateway.infodip.samples import sample_path
from gateway.web import forms
from tests.support import recent_day, test_settings

REMETENTE = ("52998224725", "Ana Souza Lima", "ana@tjrj.jus.br", "TJRJ")
OPERADOR = ("11144477735", "Bruno Operador", "bruno@cnj.jus.br", "TJRJ")
PASSWORD = "Senha-forte-de-teste-9"
ACTOR = Actor("teste", "cli")


def sample_values(kind: Kind, day: str) -> dict[str, str]:
    """The form's values of *kind*'s repository sample, with the fact on *day*."""
    root = etree.parse(str(sample_path(kind))).getroot()
    comm = root.find(f".//{{{NS}}}comunicacao")
    assert comm is not None
    values = forms.fields_of(kind, comm)
    values[forms.fact_field(kind).name] = day
    values.pop(forms.BLOCK_FIELDS[Kind.III][2].name, None)  # no linked protocol (the sample's is fictitious)
    values.pop(forms.BLOCK_FIELDS[Kind.V][2].name, None)
    return values


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves (session expiry)."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def client(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    """The application in process (SQLite and PostgreSQL) with a remetente of TJRJ and an operador."""
    settings = test_settings(db_url, tmp_path, web_session_idle_s=600)
    with console(settings) as con:
        con.people.create(*REMETENTE, "remetente", password=PASSWORD, actor=ACTOR)
        con.people.create(*OPERADOR, "operador", password=PASSWORD, actor=ACTOR)
    with TestClient(create_app(settings, clock), base_url="http://127.0.0.1") as c:
        yield c


def csrf_of(html: str) -> str:
    """The first CSRF token on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def login(c: TestClient, cpf: str, password: str = PASSWORD) -> TestClient:
    """Sign in through the login page."""
    page = c.get("/web/entrar")
    r = c.post("/web/entrar", data={"csrf": csrf_of(page.text), "cpf": cpf, "senha": password},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def test_people_follow_the_password_policy_and_the_cli_rules(sqlite_url: str, tmp_path: Path) -> None:
    """A bad CPF, a weak password, an unknown organ and a repeated CPF are refused before anything is stored; a
    generated password works; disabling ends the person's access; every change is audited."""
    with console(test_settings(sqlite_url, tmp_path)) as con:
        with pytest.raises(OperatorError) as bad:
            con.people.create("52998224700", "X", "x@y.br", "TJRJ", "remetente", actor=ACTOR)
        assert bad.value.code == "GATEWAY-E002"
        with pytest.raises(OperatorError) as weak:
            con.people.create(*REMETENTE, "remetente", password="curta", actor=ACTOR)
        assert weak.value.code == "GATEWAY-E061"
        with pytest.raises(OperatorError):
            con.people.create("52998224725", "X", "x@y.br", "NAOEXISTE", "remetente", actor=ACTOR)
        generated = con.people.create(*REMETENTE, "remetente", actor=ACTOR)
        assert con.people.check_password(REMETENTE[0], generated).organ_code == "TJRJ"
        with pytest.raises(OperatorError):
            con.people.create(*REMETENTE, "remetente", actor=ACTOR)
        con.people.set_active(REMETENTE[0], False, actor=ACTOR)
        with pytest.raises(Exception) as refused:
            con.people.check_password(REMETENTE[0], generated)
        assert getattr(refused.value, "code", "") == "WEB-E001"
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        events = [r.event for r in conn.execute(select(audit_log.c.event))]
    engine.dispose()
    assert events.count("web.pessoa.criada") == 1 and "web.pessoa.desativada" in events


def test_login_needs_the_csrf_token_and_the_right_password(client: TestClient) -> None:
    """No token → 403 WEB-E003; a wrong password → 401 WEB-E001; the cookie is HttpOnly and SameSite=Strict."""
    page = client.get("/web/entrar")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    r = client.post("/web/entrar", data={"cpf": REMETENTE[0], "senha": PASSWORD})
    assert r.status_code == 403 and "WEB-E003" in r.text
    r = client.post("/web/entrar", data={"csrf": csrf_of(page.text), "cpf": REMETENTE[0], "senha": "errada-123X"})
    assert r.status_code == 401 and "WEB-E001" in r.text
    r = client.post("/web/entrar", data={"csrf": csrf_of(page.text), "cpf": REMETENTE[0], "senha": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/"
    cookie = r.headers["set-cookie"]
    assert "gw_sessao=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_the_organ_may_send_goes_through_the_service(client: TestClient, kind: Kind) -> None:
    """A kind the organ (a tribunal) may not send is refused (VI: WEB-E006); every other is stored with a receipt,
    found in the list; an error is shown next to its field with the webservice's code."""
    login(client, REMETENTE[0])
    page = client.get(f"/web/nova/{kind.value}")
    if kind is Kind.VI:
        assert page.status_code == 403 and "WEB-E006" in page.text
        return
    assert page.status_code == 200
    token, ref = csrf_of(page.text), re.search(r'name="referencia" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    values = sample_values(kind, recent_day(3).isoformat())
    bad = {**values, "cabecalho-pessoa-cpf": "52998224700"}
    r = client.post(f"/web/nova/{kind.value}", data={"csrf": token, "referencia": ref, "acao": "enviar", **bad})
    assert r.status_code == 422 and "INFODIP-E030" in r.text
    assert 'id="cabecalho-pessoa-cpf-erro"' in r.text
    r = client.post(f"/web/nova/{kind.value}", data={"csrf": token, "referencia": ref, "acao": "enviar", **values},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    receipt = client.get(r.headers["location"])
    protocol = re.search(r'id="protocolo">([^<]+)<', receipt.text).group(1)  # type: ignore[union-attr]
    assert "no prazo" in receipt.text and "pendente" in receipt.text
    assert protocol in client.get("/web/comunicacoes", params={"tipo": kind.value}).text
    metrics = client.get("/metrics").text
    assert f'gateway_messages_accepted_total{{channel="web",kind="{kind.value}",operation="envio"}} 1.0' in metrics
    assert 'gateway_messages_rejected_total{channel="web",code="INFODIP-E030"}' in metrics


def test_draft_retify_cancel_and_session_expiry(client: TestClient, clock: FakeClock) -> None:
    """A draft is saved and reopened; a retificação makes version 2; a cancelamento version 3; an idle session
    ends (the injected clock) and a POST with another session's token is refused."""
    login(client, REMETENTE[0])
    page = client.get("/web/nova/IV")
    values = sample_values(Kind.IV, recent_day(3).isoformat())
    r = client.post("/web/nova/IV", data={"csrf": csrf_of(page.text), "acao": "rascunho", **values})
    assert r.status_code == 200 and "Rascunho salvo" in r.text
    home = client.get("/web/")
    link = re.search(r'href="(/web/rascunhos/[0-9a-f]+)"', home.text).group(1)  # type: ignore[union-attr]
    draft = client.get(link)
    assert values["cabecalho-pessoa-nome"] in draft.text
    r = client.post("/web/nova/IV", data={"csrf": csrf_of(draft.text), "acao": "enviar",
                                          "rascunho": link.rsplit("/", 1)[1], **values}, follow_redirects=False)
    protocol = r.headers["location"].split("/")[3].split("?")[0]
    assert "rascunhos/" not in client.get("/web/").text
    form = client.get(f"/web/comunicacoes/{protocol}/retificar")
    assert values["cabecalho-pessoa-nome"] in form.text
    r = client.post(f"/web/comunicacoes/{protocol}/retificar", data={
        "csrf": csrf_of(form.text), "acao": "enviar", "referencia": "WEB-RETIF-1",
        **{**values, "cabecalho-pessoa-nome": "Nome Retificado"}}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("recibo=2")
    page = client.get(f"/web/comunicacoes/{protocol}/cancelar")
    r = client.post(f"/web/comunicacoes/{protocol}/cancelar", data={
        "csrf": csrf_of(page.text), "motivo": "Enviada em duplicidade por engano."}, follow_redirects=False)
    assert r.headers["location"].endswith("recibo=3")
    assert 'id="situacao">cancelada' in client.get(f"/web/comunicacoes/{protocol}").text
    clock.advance(601)
    r = client.get("/web/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/entrar?expirada=1")


def test_console_refuses_a_sender_and_replays_only_after_confirmation(client: TestClient) -> None:
    """A remetente gets 403 WEB-E004 on the console; an operador sees it, and a replay without the CSRF token is
    refused."""
    login(client, REMETENTE[0])
    r = client.get("/console/")
    assert r.status_code == 403 and "WEB-E004" in r.text
    client.cookies.clear()
    login(client, OPERADOR[0])
    for path in ("/console/", "/console/mortas", "/console/atrasos", "/console/mni", "/console/pessoas"):
        assert client.get(path).status_code == 200, path
    assert client.get("/console/graficos/entregas.svg").headers["content-type"].startswith("image/svg+xml")
    r = client.post("/console/mortas/reprocessar", data={"destino": "TSE", "confirmar": "sim"})
    assert r.status_code == 403 and "WEB-E003" in r.text


def test_gateway_user_commands(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``gateway user create|list|disable|enable|reset``: a generated password printed once and working; a bad CPF
    one line GATEWAY-E002 and exit 2; a weak password GATEWAY-E061; disabling refuses the person."""
    from gateway.cli import main
    from gateway.web.people import People

    monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GATEWAY_PASSWORD_KDF_N", "1024")
    assert main(["user", "create", "--cpf", REMETENTE[0], "--nome", REMETENTE[1], "--email", REMETENTE[2],
                 "--orgao", "TJRJ-1VFP", "--papel", "remetente", "--administrador", "--operador", "ana-admin"]) == 0
    password = capsys.readouterr().out.strip().rsplit("senha: ", 1)[1]
    assert main(["user", "create", "--cpf", "52998224700", "--nome", "X", "--email", "x@y.br", "--orgao", "TJRJ",
                 "--papel", "remetente"]) == 2
    assert capsys.readouterr().err.startswith("GATEWAY-E002")
    assert main(["user", "reset", REMETENTE[0], "--password", "fraca"]) == 2
    assert capsys.readouterr().err.startswith("GATEWAY-E061")
    assert main(["user", "list", "--orgao", "TJRJ-1VFP"]) == 0
    listed = capsys.readouterr().out
    assert REMETENTE[0] in listed and "1 pessoa(s)" in listed and password not in listed
    with console(test_settings(sqlite_url, tmp_path)) as con:
        people: People = con.people
        assert people.check_password(REMETENTE[0], password).admin
    assert main(["user", "disable", REMETENTE[0]]) == 0
    with console(test_settings(sqlite_url, tmp_path)) as con, pytest.raises(Exception) as refused:
        con.people.check_password(REMETENTE[0], password)
    assert getattr(refused.value, "code", "") == "WEB-E001"


def test_an_organs_administrator_manages_only_their_organ(client: TestClient, db_url: str, tmp_path: Path) -> None:
    """An organ's administrator (a remetente) opens /console/pessoas, creates a remetente of their own organ, and
    cannot disable a person of another organ; the rest of the console stays closed to them."""
    with console(test_settings(db_url, tmp_path)) as con:
        con.people.create("39053344705", "Chefe Cartório", "chefe@rcpn.jus.br", "RCPN-097543", "remetente",
                          admin=True, password=PASSWORD, actor=ACTOR)
    login(client, "39053344705")
    page = client.get("/console/pessoas")
    assert page.status_code == 200 and REMETENTE[0] not in page.text  # only the own organ's people
    r = client.post("/console/pessoas", data={"csrf": csrf_of(page.text), "acao": "criar", "cpf": "85016439044",
                                              "nome": "Nova Escrevente", "email": "nova@rcpn.jus.br",
                                              "orgao": "TJRJ", "papel": "operador"})
    assert r.status_code == 200 and "Senha inicial" in r.text
    r = client.post("/console/pessoas", data={"csrf": csrf_of(page.text), "acao": "desativar", "cpf": REMETENTE[0]})
    assert r.status_code == 422 and "GATEWAY-E002" in r.text
    assert client.get("/console/mortas").status_code == 403
    with console(test_settings(db_url, tmp_path)) as con:
        created = con.people.find("85016439044")
    assert created is not None and created.organ_code == "RCPN-097543" and created.role == "remetente"


def test_sandbox_demo_people_sign_in(sqlite_url: str, tmp_path: Path) -> None:
    """The sandbox's demo persons (one remetente per demo organ, a CNJ operador) are created once and keep their
    password across restarts."""
    from gateway.sandbox import DEMO_PEOPLE, seed_web_people

    with console(test_settings(sqlite_url, tmp_path)) as con:
        first = seed_web_people(con.people, tmp_path / "web-people.json")
        again = seed_web_people(con.people, tmp_path / "web-people.json")
        assert first == again and len(first) == len(DEMO_PEOPLE)
        for p in first:
            assert con.people.check_password(str(p["cpf"]), str(p["senha"])).role == p["papel"]
    assert {p["papel"] for p in first} == {"remetente", "operador"}
