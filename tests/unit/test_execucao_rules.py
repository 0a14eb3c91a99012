"""The execuções fiscais' pure rules and documents (issue 12 points 1–3): each check's code and field, the court by
the debtor's State (MG → TRF6), eproc's ListaCDA example refused field by field, the CDA signature verified, the
petition PDF's text extractable and the MNI request valid against the official MNI 2.2.2 schema."""

from __future__ import annotations

import asyncio
import base64
import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.divida.execucao import contract, documents, domain, samples
from gateway.divida.execucao.build import load_localidades
from gateway.divida.execucao.documents import Anexo, Assinatura, Verificador, create_signatario
from gateway.divida.execucao.domain import Modo, Regras

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "execucao"
LOCALIDADES = load_localidades("")


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> documents.Signatario:
    """A procuradoria key (also signing the CDAs)."""
    d = tmp_path_factory.mktemp("k")
    return create_signatario(str(d / "k.pem"), str(d / "c.pem"), "Teste")


def codes(body: dict[str, Any], procuradoria: str = "PGFN", regras: Regras | None = None) -> set[tuple[str, str]]:
    """(code, field) of every refusal of *body*."""
    pedido, erros = contract.pedido_of(body, procuradoria)
    if pedido is None:
        return {(e.codigo, e.campo or "") for e in erros}
    v = domain.verificar(pedido, regras or Regras(), LOCALIDADES)
    return {(e.codigo, e.campo or "") for e in v.erros}


def test_trf_by_state_minas_is_trf6() -> None:
    """Lei 14.226/2021: Minas Gerais → TRF6 (4.06); SP → TRF3; DF → TRF1; every UF has a TRF."""
    assert domain.trf_jtr("MG") == "4.06" and domain.trf_jtr("SP") == "4.03" and domain.trf_jtr("DF") == "4.01"
    assert set(domain.UF_BY_IBGE.values()) == set(domain.TRF_BY_UF)


def test_valid_request_passes_and_goes_to_the_debtors_court(signer: documents.Signatario) -> None:
    """A sample request has no refusal, its destination is the TRF and unit of the debtor's municipality."""
    for jtr, (ibge, _uf) in samples.MUNICIPIOS.items():
        pedido, erros = contract.pedido_of(samples.request(signer, "r", jtr=jtr), "PGFN")
        assert pedido is not None and not erros
        v = domain.verificar(pedido, Regras(), LOCALIDADES)
        assert not v.erros and v.destino == domain.Destino(jtr, LOCALIDADES[ibge].codigo)
        assert pedido.credor_cnpj == domain.UNIAO[1]


@pytest.mark.parametrize(("path", "value", "code", "field"), [
    ("devedor.cpfCnpj", "11222333000100", "EXEC-E003", "cdas[0].devedor.cpfCnpj"),
    ("numeroInscricao", "7061000000199", "EXEC-E003", "cdas[0].numeroInscricao"),
    ("devedor.endereco.uf", "SP", "EXEC-E003", "cdas[0].devedor.endereco.uf"),
    ("devedor.endereco.municipioIbge", "3100104", "EXEC-E016", "cdas[0].devedor.endereco.municipioIbge"),
    ("fundamentoLegal", None, "EXEC-E002", "cdas[0].fundamentoLegal"),
    ("dataInscricao", None, "EXEC-E002", "cdas[0].dataInscricao"),
    ("processoAdministrativo", None, "EXEC-E002", "cdas[0].processoAdministrativo"),
    ("devedor.endereco", None, "EXEC-E002", "cdas[0].devedor.endereco"),
    ("valorPrincipal", "12,50", "EXEC-E004", "cdas[0].valorPrincipal"),
    ("dataInicioJuros", "01/05/2024", "EXEC-E004", "cdas[0].dataInicioJuros"),
    ("documento.pdf", "não-base64", "EXEC-E004", "cdas[0].documento.pdf"),
    ("conciliacao", None, "EXEC-E011", "cdas[0].conciliacao"),
    ("protesto", None, "EXEC-E012", "cdas[0].protesto"),
    ("devedor.cpfCnpj", None, "EXEC-E010", "cdas[0].devedor.cpfCnpj"),
])
def test_each_rule_has_its_code_and_field(signer: documents.Signatario, path: str, value: object, code: str,
                                          field: str) -> None:
    """Each failed check is reported with its own code and the field naming the CDA."""
    body = samples.request(signer, "r")
    target = body["cdas"][0]
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[k]
    if value is None:
        target.pop(keys[-1])
    else:
        target[keys[-1]] = value
    assert (code, field) in codes(body)


def test_res_547_checks_can_only_flag_per_creditor(signer: documents.Signatario) -> None:
    """With PGF's rules set to flag, a CDA without conciliation, protest or CPF/CNPJ is accepted and flagged; the
    value below R$ 10.000 is always only flagged (EXEC-E013)."""
    body = samples.request(signer, "r", procuradoria="PGF", valor="900.00")
    c = body["cdas"][0]
    c.pop("conciliacao"), c.pop("protesto"), c["devedor"].pop("cpfCnpj")
    regras = Regras(Modo.SINALIZAR, Modo.SINALIZAR, Modo.SINALIZAR)
    pedido, _ = contract.pedido_of(body, "PGF")
    assert pedido is not None and pedido.credor_nome.startswith("INSTITUTO")
    v = domain.verificar(pedido, regras, LOCALIDADES)
    assert not v.erros
    assert {e.codigo for e in v.sinalizacoes} == {"EXEC-E010", "EXEC-E011", "EXEC-E012", "EXEC-E013"}
    assert domain.parse_regras('{"PGF": {"protesto": "sinalizar"}}')["PGF"].protesto is Modo.SINALIZAR
    with pytest.raises(ValueError):
        domain.parse_regras('{"PGF": {"outra": "sinalizar"}}')


def test_cdas_of_one_debtor_only_and_not_twice(signer: documents.Signatario) -> None:
    """LEF art. 28: CDAs of another debtor are refused (EXEC-E005); the same CDA twice too (EXEC-E006)."""
    body = samples.request(signer, "r", cdas=2)
    other = samples.request(signer, "r", n=2)["cdas"][0]
    mixed = copy.deepcopy(body)
    mixed["cdas"][1] = other
    assert ("EXEC-E005", "cdas[1].devedor") in codes(mixed)
    twice = copy.deepcopy(body)
    twice["cdas"][1] = twice["cdas"][0]
    assert ("EXEC-E006", "cdas[1].numeroInscricao") in codes(twice)


def test_pgf_needs_its_creditor_and_its_numbering(signer: documents.Signatario) -> None:
    """PGF's request names the autarchy (EXEC-E008 without it) and uses PGF inscription numbers (a PGFN one is
    EXEC-E003)."""
    body = samples.request(signer, "r", procuradoria="PGF")
    body.pop("credor")
    assert ("EXEC-E008", "credor") in codes(body, "PGF")
    pgfn_numbered = samples.request(signer, "r", procuradoria="PGFN")
    pgfn_numbered["credor"] = samples.INSS
    assert ("EXEC-E003", "cdas[0].numeroInscricao") in codes(pgfn_numbered, "PGF")


def test_eproc_lista_cda_example_is_refused_field_by_field() -> None:
    """eproc's ListaCDA example (tests/fixtures/execucao, verbatim) lacks the request's reference and most
    requisites: each missing one is named per CDA; what it has (ValorCda "333,45", DataApuracaoValorCDA) is read."""
    root = etree.fromstring((FIXTURES / "ListaCDA_outroParametro_payload.xml").read_bytes())
    data = contract.dict_of_lista_cda(root)
    assert data["cdas"][0]["valorAtualizado"] == "333.45"
    assert data["cdas"][0]["dataValorAtualizado"] == "2012-10-25"
    found = codes(data)
    assert ("EXEC-E002", "referencia") in found
    for i in (0, 1):
        for member in ("devedor", "dataInscricao", "valorPrincipal", "dataInicioJuros", "formaCalculoJuros",
                       "origem", "fundamentoLegal", "documento"):
            assert ("EXEC-E002", f"cdas[{i}].{member}") in found, member
    assert ("EXEC-E002", "cdas[1].natureza") in found  # the second CDA has no DescricaoTributoFiscal


def test_complete_lista_cda_is_read_like_json(signer: documents.Signatario) -> None:
    """A ListaCDA carrying every requisite (our elements beside eproc's) reads into the same request as JSON."""
    c = samples.request(signer, "r")["cdas"][0]
    d = c["devedor"]
    xml = f"""<ListaCDA referencia="X-1"><CDA>
      <NumeroCDA>{c['numeroInscricao']}</NumeroCDA><NumeroProcessoAdm>{c['processoAdministrativo']}</NumeroProcessoAdm>
      <DescricaoTributoFiscal>{c['natureza']}</DescricaoTributoFiscal><ValorCda>15.000,00</ValorCda>
      <DataApuracaoValorCDA>20261101000000</DataApuracaoValorCDA><Origem>{c['origem']}</Origem>
      <DataInscricao>2025-03-10</DataInscricao><ValorPrincipal>9000.00</ValorPrincipal>
      <DataInicioJuros>2024-05-01</DataInicioJuros><FormaCalculoJuros>SELIC</FormaCalculoJuros>
      <FundamentoLegal>Lei 9.430/1996</FundamentoLegal>
      <Devedor nome="{d['nome']}" cpfCnpj="{d['cpfCnpj']}">
        <Endereco logradouro="Rua A" municipioIbge="3106200" uf="MG"/></Devedor>
      <Conciliacao tipo="parcelamento" data="2025-01-01"/><ProtestoIneficiente>valor baixo</ProtestoIneficiente>
      <DocumentoPdf>{c['documento']['pdf']}</DocumentoPdf><AssinaturaP7s>{c['documento']['assinatura']}</AssinaturaP7s>
    </CDA></ListaCDA>"""
    pedido, erros = contract.pedido_of(contract.dict_of_lista_cda(etree.fromstring(xml.encode())), "PGFN")
    assert not erros and pedido is not None
    assert pedido.cdas[0].valor_atualizado == Decimal("15000.00") and pedido.cdas[0].protesto_ineficiente
    assert not domain.verificar(pedido, Regras(), LOCALIDADES).erros


def test_signatures_verified(signer: documents.Signatario, tmp_path: Path) -> None:
    """A detached PKCS#7 over the CDA's PDF verifies; over another PDF, absent, or not a PDF, it is refused
    (EXEC-E014 / EXEC-E015). With configured roots, a signer outside them is refused."""
    body = samples.request(signer, "r")
    pedido, _ = contract.pedido_of(body, "PGFN")
    assert pedido is not None
    v = Verificador()
    ok = asyncio.run(v.verificar(pedido.cdas[0], "cdas[0]"))
    assert isinstance(ok, Assinatura) and "Teste" in ok.signatario
    c = pedido.cdas[0]
    bad = asyncio.run(v.verificar(domain.Cda(**{**c.__dict__, "documento": domain.DocumentoAssinado(
        samples.cda_pdf("1", "2", "3"), c.documento.p7s)}), "cdas[0]"))
    assert isinstance(bad, domain.Erro) and bad.codigo == "EXEC-E014"
    unsigned = asyncio.run(v.verificar(domain.Cda(**{**c.__dict__, "documento": domain.DocumentoAssinado(
        c.documento.pdf, None)}), "cdas[0]"))
    assert isinstance(unsigned, domain.Erro) and unsigned.codigo == "EXEC-E014"
    not_pdf = asyncio.run(v.verificar(domain.Cda(**{**c.__dict__, "documento": domain.DocumentoAssinado(
        b"texto", c.documento.p7s)}), "cdas[0]"))
    assert isinstance(not_pdf, domain.Erro) and not_pdf.codigo == "EXEC-E015"
    other = create_signatario(str(tmp_path / "o.pem"), str(tmp_path / "oc.pem"), "Outra AC")
    strict = asyncio.run(Verificador([other.cert]).verificar(c, "cdas[0]"))
    assert isinstance(strict, domain.Erro) and strict.codigo == "EXEC-E014"
    trusted = asyncio.run(Verificador([signer.cert]).verificar(c, "cdas[0]"))
    assert isinstance(trusted, Assinatura) and trusted.confiavel


def test_petition_is_valid_against_the_official_mni_schema(signer: documents.Signatario) -> None:
    """The initial petition: class 1116, subject 6017, the União as polo ativo, the debtor in the polo passivo, the
    value of the claim, codigoLocalidade, each document signed and carrying MNI's CDA extension — valid against the
    official MNI 2.2.2 schema; the petition PDF's text is extractable (it names the CDA and the value)."""
    from datetime import UTC, datetime

    body = samples.request(signer, "r", cdas=2, jtr="4.06")
    pedido, _ = contract.pedido_of(body, "PGFN")
    assert pedido is not None
    v = domain.verificar(pedido, Regras(), LOCALIDADES)
    assert v.destino is not None
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    pdf = documents.render_petition(pedido, v.destino, "TRF6", now)
    cert = signer.cert.public_bytes(documents.serialization.Encoding.DER)
    anexos = [Anexo("1", "Petição inicial", pdf, signer.sign(pdf), cert, pedido.cdas)] + [
        Anexo("68", "CDA", c.documento.pdf, c.documento.p7s, cert, (c,)) for c in pedido.cdas]
    inner = documents.build_initial(pedido, v.destino, anexos, now)
    assert documents.validate(inner) == []
    tree = etree.fromstring(b"<r>" + inner + b"</r>")
    dados = tree.find(f"{{{documents.TIPOS_NS}}}dadosBasicos")
    assert dados is not None and dados.get("classeProcessual") == "1116"
    assert dados.get("codigoLocalidade") == LOCALIDADES["3106200"].codigo
    i = f"{{{documents.INTER_NS}}}"
    assert dados.findtext(f"{i}assunto/{i}codigoNacional") == "6017"
    assert dados.findtext(f"{i}valorCausa") == "30000.00"
    polos = {p.get("polo"): p for p in dados.findall(f"{i}polo")}
    assert polos["AT"].find(f"{i}parte/{i}pessoa").get("numeroDocumentoPrincipal") == domain.UNIAO[1]
    assert polos["PA"].find(f"{i}parte/{i}pessoa").get("numeroDocumentoPrincipal") == pedido.devedor.documento
    docs = tree.findall(f"{{{documents.TIPOS_NS}}}documento")
    assert len(docs) == 3 and all(d.find(f"{i}assinatura").get("assinatura") for d in docs)
    raw = base64.b64decode(docs[0].findtext(f"{i}conteudo") or "")
    assert raw.startswith(b"%PDF-")
    text = _pdf_text(raw)
    assert pedido.cdas[0].numero_inscricao in text and "30.000,00" in text
    broken = inner.replace(b'classeProcessual="1116"', b'classeProcessual="x"')
    assert documents.validate(broken)


def _pdf_text(pdf: bytes) -> str:
    """The text of a PDF (pyHanko's reader, a dependency already: no second PDF library for the tests)."""
    import io
    import zlib

    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page = reader.root["/Pages"]["/Kids"][0]
    contents = page["/Contents"]
    data = contents.data if hasattr(contents, "data") else b"".join(c.data for c in contents)
    try:
        data = zlib.decompress(data)
    except zlib.error:
        pass
    # fpdf2 writes text as (…) Tj strings; latin-1 encoded
    import re
    return " ".join(m.decode("latin-1") for m in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", data))


def test_pades_signed_cda_verified_and_tampering_refused(signer: documents.Signatario, tmp_path: Path) -> None:
    """A PAdES-signed CDA (signed here by pyHanko with a key of the same kind) is accepted without a detached
    signature; a byte changed inside the signed range, or anything appended after the signature, is EXEC-E014."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    create_signatario(str(tmp_path / "k.pem"), str(tmp_path / "c.pem"), "PAdES")
    pdf_signer = signers.SimpleSigner.load(str(tmp_path / "k.pem"), str(tmp_path / "c.pem"))
    assert pdf_signer is not None
    out = io.BytesIO()
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(samples.cda_pdf("1", "2", "3"))),
                     signers.PdfSignatureMetadata(field_name="Assinatura"), signer=pdf_signer, output=out)
    signed = out.getvalue()

    def check(pdf: bytes) -> object:
        body = samples.request(signer, "r")
        body["cdas"][0]["documento"] = {"pdf": base64.b64encode(pdf).decode()}
        pedido, erros = contract.pedido_of(body, "PGFN")
        assert pedido is not None and not erros
        return asyncio.run(Verificador().verificar(pedido.cdas[0], "cdas[0]"))

    ok = check(signed)
    assert isinstance(ok, Assinatura) and ok.p7s is None and "PAdES" in ok.signatario
    flipped = bytearray(signed)
    flipped[20] ^= 0x01  # inside the first byte range the signature covers
    bad = check(bytes(flipped))
    assert isinstance(bad, domain.Erro) and bad.codigo == "EXEC-E014"
    appended = check(signed + b"\n% acrescentado depois da assinatura\n")
    assert isinstance(appended, domain.Erro) and appended.codigo == "EXEC-E014"


def test_domain_imports_no_io_library() -> None:
    """The execuções' rules pull in no database, HTTP, PDF, signature or async I/O library (a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, gateway.divida.execucao.domain; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sqlalchemy', 'aiohttp', 'anyio', 'httpx', 'asyncio', 'starlette', 'fastapi', 'psycopg', 'pyhanko', "
            "'fpdf', 'lxml'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_localidades_table_covers_a_demo_municipality_per_trf() -> None:
    """The packaged table has at least one municipality per TRF, each entry's UF matching its IBGE code; a table with
    a contradicting UF is refused."""
    trfs = {domain.trf_jtr(loc.uf) for loc in LOCALIDADES.values()}
    assert trfs == {f"4.0{n}" for n in range(1, 7)}
    with pytest.raises(ValueError):
        domain.parse_localidades({"3106200": {"uf": "SP", "codigoLocalidade": "1"}})


def test_value_and_claim_sum(signer: documents.Signatario) -> None:
    """The value of the claim is the sum of the CDAs' updated values (reais, two places)."""
    pedido, _ = contract.pedido_of(samples.request(signer, "r", cdas=3, valor="1000.10"), "PGFN")
    assert pedido is not None and pedido.valor == Decimal("3000.30")
