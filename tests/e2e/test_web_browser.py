"""The web form and the operators' console in a real browser (issue 16 point 4): Debian's Chromium driven by
Playwright against ``gateway serve`` with its relay and the TSE/CNJ simulators, on a real SQLite database.

- every kind end to end: sign in, choose the kind, fill the fields, see the as-you-type check and the server's
  error next to its field, fix it, submit, read the receipt, find it in the list, retify it;
- the console: a dead letter made by the TSE simulator's faults is found with its reason, replayed after the
  confirmation step, and seen delivered;
- CSRF refused, an idle session ended, a remetente refused by the console;
- a screenshot of each page under ``test-artifacts/screenshots/`` (the README's copies are in ``docs/img/``) and
  axe-core with no serious violation on each page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from gateway.admin import Actor
from gateway.bootstrap import console
from gateway.infodip.contract import NS
from gateway.infodip.domain import Kind
from gateway.infodip.samples import sample_path
from gateway.web import forms
from tests.browser import assert_accessible, screenshot
from tests.support import GatewayProcess, Mocks, password_of, recent_day, sample, test_settings, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "Senha-forte-do-navegador-7"
#: (CPF, name, organ, role): a tribunal's remetente (I–V, VII–IX), a cartório's (VI), an operador
TRIBUNAL = ("52998224725", "Ana Souza Lima", "TJRJ", "remetente")
CARTORIO = ("39053344705", "Sônia Regina Dutra", "RCPN-097543", "remetente")
OPERADOR = ("11144477735", "Bruno Operador", "CNJ", "operador")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mocks: Mocks) -> Iterator[GatewayProcess]:
    """A gateway with its relay and three people; the simulators healthy."""
    from tests.support import seed

    tmp = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{tmp / 'gateway.db'}"
    seed(url)
    settings = test_settings(url, tmp)
    with console(settings) as con:
        for cpf, name, organ, role in (TRIBUNAL, CARTORIO, OPERADOR):
            con.people.create(cpf, name, f"{cpf}@teste.jus.br", organ, role, password=PASSWORD,
                              actor=Actor("teste"))
    mocks.reset()
    proc = GatewayProcess(settings, tmp / "gw.log", extra_env=mocks.env()).start()
    yield proc
    proc.stop()
    mocks.reset()


def sample_values(kind: Kind) -> dict[str, str]:
    """The form's values of *kind*'s repository sample, the fact three days ago, no linked protocol."""
    root = etree.parse(str(sample_path(kind))).getroot()
    comm = root.find(f".//{{{NS}}}comunicacao")
    assert comm is not None
    values = forms.fields_of(kind, comm)
    values[forms.fact_field(kind).name] = recent_day(3).isoformat()
    for k in (Kind.III, Kind.V):
        values.pop(forms.BLOCK_FIELDS[k][2].name, None)
    return values


def sign_in(page: Any, gw: GatewayProcess, cpf: str, *, shot: str | None = None) -> None:
    """Sign in through the login page."""
    page.goto(gw.url + "/web/entrar")
    page.fill("#cpf", cpf)
    page.fill("#senha", PASSWORD)
    if shot:
        screenshot(page, shot)
        assert_accessible(page)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def fill(page: Any, values: dict[str, str]) -> None:
    """Type every value into its field (selects chosen by value)."""
    for name, value in values.items():
        field = page.locator(f"#{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def keep(page: Any, name: str) -> None:
    """A screenshot in the artifacts (the README shows copies of these, committed under ``docs/img/``; a test never
    writes into the repository)."""
    screenshot(page, name)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_end_to_end(browser_page: Any, gw: GatewayProcess, kind: Kind) -> None:
    """Sign in, choose the kind, type a CPF with wrong check digits (the page says so as it is typed, and the
    server refuses it next to its field with INFODIP-E030), fix it, submit, read the receipt, find the protocol in
    the list, retify it (version 2)."""
    page = browser_page
    first = kind is Kind.I
    sign_in(page, gw, CARTORIO[0] if kind is Kind.VI else TRIBUNAL[0], shot="web-entrar" if first else None)
    assert page.url.endswith("/web/")
    if first:
        keep(page, "web-inicio")
        assert_accessible(page)
    page.click(f"#tipo-{kind.value}")
    values = sample_values(kind)
    fill(page, {**values, "cabecalho-pessoa-cpf": "52998224700"})
    page.locator("#cabecalho-pessoa-cpf").blur()
    live = page.locator("#cabecalho-pessoa-cpf-verificacao")
    live.filter(has_text="inválido").wait_for()  # the as-you-type check (JavaScript on)
    page.click("#enviar")
    page.wait_for_load_state()
    error = page.locator("#cabecalho-pessoa-cpf-erro")
    assert "INFODIP-E030" in error.inner_text()
    assert page.locator("#cabecalho-pessoa-cpf").get_attribute("aria-invalid") == "true"
    if first:
        keep(page, "web-formulario-erro")
        assert_accessible(page)
    page.fill("#cabecalho-pessoa-cpf", values["cabecalho-pessoa-cpf"])
    page.click("#enviar")
    page.wait_for_url(re.compile(r"/web/comunicacoes/\d{8}-[0-9A-Z]{12}\?recibo=1"))
    protocol = page.locator("#protocolo").inner_text()
    assert "no prazo" in page.content()
    if first:
        keep(page, "web-recibo")
        assert_accessible(page)
    page.goto(gw.url + f"/web/comunicacoes?tipo={kind.value}")
    row = page.locator("#lista tbody tr", has_text=protocol)
    assert row.count() == 1
    if first:
        keep(page, "web-lista")
        assert_accessible(page)
    row.get_by_role("link", name=protocol).click()
    page.click("#retificar")
    assert page.locator("#cabecalho-pessoa-nome").input_value() == values["cabecalho-pessoa-nome"]
    page.fill("#cabecalho-pessoa-nome", values["cabecalho-pessoa-nome"] + " Retificado")
    page.click("#enviar")
    page.wait_for_url(re.compile(r"\?recibo=2"))
    assert "retificacao" in page.content()
    if first:  # cancelamento, with its reason and confirmation
        page.click("#cancelar")
        page.fill("#motivo", "Comunicada em duplicidade por engano.")
        page.click("#confirmar-cancelamento")
        page.wait_for_url(re.compile(r"\?recibo=3"))
        assert page.locator("#situacao").inner_text() == "cancelada"
        assert page.locator("#retificar").count() == 0


def test_without_javascript_a_draft_is_saved_and_submitted(chromium_browser: Any, gw: GatewayProcess) -> None:
    """With JavaScript off the main path still works: save a draft, come back to it from the home page, submit,
    get the receipt (the server's checks are the only ones)."""
    from tests.browser import TIMEOUT_MS

    context = chromium_browser.new_context(locale="pt-BR", java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page, gw, TRIBUNAL[0])
        page.click("#tipo-IV")
        values = sample_values(Kind.IV)
        fill(page, values)
        page.click("#salvar-rascunho")
        page.wait_for_load_state()
        assert page.locator("#rascunho-salvo").count() == 1
        page.goto(gw.url + "/web/")
        page.locator('a[href^="/web/rascunhos/"]').first.click()
        assert page.locator("#cabecalho-pessoa-nome").input_value() == values["cabecalho-pessoa-nome"]
        page.click("#enviar")
        page.wait_for_url(re.compile(r"\?recibo=1"))
        assert page.locator("#protocolo").inner_text()
        page.goto(gw.url + "/web/")
        assert page.locator('a[href^="/web/rascunhos/"]').count() == 0  # gone once its communication was accepted
    finally:
        context.close()


def test_console_replays_a_dead_letter_after_confirmation(browser_page: Any, gw: GatewayProcess,
                                                           mocks: Mocks) -> None:
    """The TSE simulator refuses (422): the letter dies with its reason; the operador finds it, confirms the
    replay, and once the simulator is healthy it is delivered."""
    mocks.faults("tse", error_rate=1.0, status=422)
    r = httpx.post(gw.url + "/soap/infodip", content=sample(Kind.VI, username="rcpn-rj-capital-01"), timeout=10)
    assert r.status_code == 200, r.text
    protocol = re.search(r"<i:protocolo>([^<]+)", r.text).group(1)  # type: ignore[union-attr]

    def state() -> str:
        got = httpx.get(f"{gw.url}/api/v1/comunicacoes/{protocol}",
                        auth=("rcpn-rj-capital-01", password_of("rcpn-rj-capital-01")), timeout=10).json()
        return next(e["situacao"] for e in got["entregas"] if e["destino"] == "TSE")

    wait_until(lambda: state() == "morta", what="a dead letter")
    mocks.faults("tse")
    page = browser_page
    sign_in(page, gw, OPERADOR[0])
    assert page.url.endswith("/console/")
    keep(page, "console-inicio")
    assert_accessible(page)
    page.click("text=Ver e reprocessar")
    row = page.locator("#mortas tbody tr", has_text=protocol)
    assert "422" in row.inner_text()
    keep(page, "console-mortas")
    assert_accessible(page)
    row.get_by_role("link", name=re.compile("Reprocessar")).click()
    assert protocol in page.locator("#a-reprocessar").inner_text()
    keep(page, "console-confirmar")
    assert_accessible(page)
    page.click("#confirmar")
    page.wait_for_url(re.compile(r"reprocessadas=1"))
    assert page.locator("#mortas tbody tr", has_text=protocol).count() == 0
    wait_until(lambda: state() == "entregue", what="the replayed letter delivered")
    for path, name in (("/console/atrasos", "console-atrasos"), ("/console/mni", "console-mni"),
                       ("/console/pessoas", "console-pessoas")):
        page.goto(gw.url + path)
        keep(page, name)
        assert_accessible(page)


def test_csrf_expiry_and_a_sender_refused_by_the_console(browser_page: Any, gw: GatewayProcess,
                                                        tmp_path: Path) -> None:
    """A POST without the page's token is refused (WEB-E003) and changes nothing; a remetente gets 403 WEB-E004 on
    the console; a session idle longer than the limit sends the person back to the login page."""
    page = browser_page
    sign_in(page, gw, TRIBUNAL[0])
    forged = page.request.post(gw.url + "/web/sair", form={"csrf": "forjado"})
    assert forged.status == 403 and "WEB-E003" in forged.text()
    page.goto(gw.url + "/web/")
    assert page.url.endswith("/web/")  # still signed in: the forged logout did nothing
    refused = page.goto(gw.url + "/console/")
    assert refused is not None and refused.status == 403
    assert "WEB-E004" in page.content()
    keep(page, "console-recusado")
    assert_accessible(page)
    short = GatewayProcess(test_settings(gw.settings.database_url, tmp_path), tmp_path / "idle.log",
                           extra_env={"GATEWAY_WEB_SESSION_IDLE_S": "1"}).start()
    try:
        sign_in(page, short, TRIBUNAL[0])
        assert page.url.endswith("/web/")
        wait_until(lambda: httpx.get(short.url + "/healthz", timeout=5).status_code == 200 and
                   page.goto(short.url + "/web/") is not None and "/web/entrar" in page.url,
                   timeout=15, interval=0.5, what="the idle session to end")
        assert "Sua sessão terminou" in page.content()
    finally:
        short.stop()
