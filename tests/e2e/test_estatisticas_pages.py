"""The public pages of issue 15 (point 3) in Debian's headless Chromium, against ``gateway serve`` on loopback with
a store the consultation's generator filled (gateway/datagen.py): the statistics page and the certificate
verification page, a screenshot of each kept under test-artifacts/screenshots/, the numbers on the page equal to
the API's, and axe-core with no serious violation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.clock import SystemClock
from gateway.datagen import generate
from gateway.db.engine import make_engine
from tests.browser import assert_accessible, screenshot
from tests.support import GatewayProcess, seed, test_settings

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CPF = "52998224725"


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("paginas15")
    db_url = f"sqlite:///{tmp / 'gw.db'}"
    seed(db_url)
    engine = make_engine(db_url)
    generate(engine, SystemClock(), 4000, deliveries=False)
    engine.dispose()
    proc = GatewayProcess(test_settings(db_url, tmp), tmp / "gw.log").start()
    try:
        yield proc.url
    finally:
        proc.stop()


def table_cells(page: Any, selector: str) -> list[list[str]]:
    """The body rows of the table under *selector*, each cell's text."""
    return [[c.strip() for c in row] for row in page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => Array.from(r.children).map(c => c.textContent))")]


def shown(values: list[int | None]) -> list[str]:
    return ["—" if v is None else str(v) for v in values]


def test_statistics_page_shows_the_api_numbers(browser_page: Any, gateway_url: str) -> None:
    year = max(httpx.get(f"{gateway_url}/api/v1/estatisticas", timeout=30).json()["anosDisponiveis"])
    api = httpx.get(f"{gateway_url}/api/v1/estatisticas?ano={year}", timeout=30).json()
    browser_page.goto(f"{gateway_url}/estatisticas?ano={year}")
    assert browser_page.locator("h1").inner_text() == "Estatísticas públicas"
    compared = 0
    for t in api["tabelas"]:
        rows = table_cells(browser_page, f"#tabela-{t['tipo']}-uf")
        expected = [["Total", *shown([*t["total"]["meses"], t["total"]["ano"]])]] + [
            [r["uf"], *shown([*r["meses"], r["ano"]])] for r in t["porUf"]]
        assert rows == expected
        organs = table_cells(browser_page, f"#tabela-{t['tipo']}-orgao")
        assert organs == [[f"{r['orgao']} ({r['uf']})", *shown([*r["meses"], r["ano"]])] for r in t["porOrgao"]]
        situation = table_cells(browser_page, f"#tabela-{t['tipo']}-situacao")
        assert [r[1] for r in situation] == shown([t["porSituacao"][s] for s in ("ativa", "cancelada", "total")])
        compared += sum(1 for r in rows for c in r[1:] if c != "—")
    assert compared > 50  # the generated store gives real, published numbers (not only suppressed cells)
    assert any("—" in r for t in api["tabelas"] for r in table_cells(browser_page, f"#tabela-{t['tipo']}-orgao"))
    chart = browser_page.locator("figure.grafico img")
    assert chart.get_attribute("alt") and browser_page.evaluate(
        "img => img.complete && img.naturalWidth > 0", chart.element_handle())
    screenshot(browser_page, "estatisticas")
    assert_accessible(browser_page)
    # the filter form works without script: one kind, one UF
    browser_page.select_option("#tipo", "I")
    browser_page.select_option("#uf", "SP")
    browser_page.click("form.filtros button[type=submit]")
    only = httpx.get(f"{gateway_url}/api/v1/estatisticas?ano={year}&tipo=I&uf=SP", timeout=30).json()
    assert table_cells(browser_page, "#tabela-I-uf")[1:] == [
        [r["uf"], *shown([*r["meses"], r["ano"]])] for r in only["tabelas"][0]["porUf"]]


def test_verification_page_answers_and_checks_an_upload(browser_page: Any, gateway_url: str,
                                                        tmp_path: Path) -> None:
    issued = httpx.post(f"{gateway_url}/api/v1/certidoes", json={"cpf": CPF, "nome": "Ana Beatriz Lima"}, timeout=30)
    assert issued.status_code == 201, issued.text
    cert = issued.json()
    browser_page.goto(f"{gateway_url}/certidoes/verificar")
    browser_page.fill("#codigo", cert["codigoFormatado"])
    browser_page.click("form[method=get] button[type=submit]")
    api = httpx.get(f"{gateway_url}/api/v1/certidoes/{cert['codigo']}", timeout=30).json()
    assert browser_page.locator("#r-codigo").inner_text() == api["codigo"]
    assert browser_page.locator("#r-tipo").inner_text() == api["tipo"]
    assert browser_page.locator("#r-pdf").inner_text() == api["sha256"]["pdf"] == cert["sha256"]["pdf"]
    assert browser_page.locator("#r-xml").inner_text() == api["sha256"]["xml"]
    assert "Ana Beatriz Lima" in browser_page.locator("#r-nome").inner_text()
    assert "pessoas físicas" in browser_page.locator("main").inner_text()
    screenshot(browser_page, "certidao-verificar")
    assert_accessible(browser_page)
    # the PDF uploaded through the form matches; the same file changed by one byte does not
    pdf = base64.b64decode(cert["pdf"])
    (tmp_path / "certidao.pdf").write_bytes(pdf)
    browser_page.set_input_files("#arquivo", str(tmp_path / "certidao.pdf"))
    browser_page.click("form[method=post] button[type=submit]")
    assert "confere: é o PDF" in browser_page.locator("#conferencia").inner_text()
    screenshot(browser_page, "certidao-conferida")
    assert_accessible(browser_page)
    changed = bytearray(pdf)
    changed[len(changed) // 2] ^= 1
    (tmp_path / "alterada.pdf").write_bytes(bytes(changed))
    browser_page.set_input_files("#arquivo", str(tmp_path / "alterada.pdf"))
    browser_page.click("form[method=post] button[type=submit]")
    assert "NÃO confere" in browser_page.locator("#conferencia").inner_text()
    # an unknown code
    browser_page.goto(f"{gateway_url}/certidoes/verificar?codigo=AAAA-AAAA-AAAA")
    assert "não encontrada" in browser_page.locator("#nao-encontrada").inner_text()
    assert_accessible(browser_page)
