"""The MNI hub end to end: zeep (from the served official WSDL) → gateway → simulated tribunals, on loopback."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from sqlalchemy import insert, select

from gateway.db.engine import make_engine
from gateway.db.tables import mni_avisos, mni_filings, mni_process_locations, organs
from tests.support import (
    FIXTURES,
    GatewayProcess,
    Tribunals,
    configure_hub,
    password_of,
    test_settings,
    wait_until,
)

pytestmark = pytest.mark.e2e
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PJE_PROCESS = "08123459320198190001"  # 8.19, installation 1
SECOND_DEGREE = "00234564420188190001"  # 8.19, installation 2
EPROC_PROCESS = "50123459520234047100"  # 4.04
MNI_FIXTURES = FIXTURES / "mni"
OUT_OF_SCOPE = {"ListaCDA_outroParametro_payload.xml",
                "entregarManifestacaoProcessual_resp_erro_controleExterno_MNI2.1.xml"}


def _hub(db_url: str, tribunals: Tribunals, tmp: Path, timeout_s: float = 30.0) -> GatewayProcess:
    settings = configure_hub(db_url, test_settings(db_url, tmp, mni_timeout_s=timeout_s), tribunals, tmp)
    # PGF's entry lists only TJRJ here (the simulated TRF4 now has a PGF account too, for the execuções fiscais), so
    # that deny by default is tested on a client whose tribunal list leaves out an installation it has an account at
    registry = Path(settings.mni_registry_path or "")
    doc = json.loads(registry.read_text())
    doc["clientes"]["PGF"]["tribunais"] = ["8.19"]
    doc["clientes"]["PGF"]["tribunalPadrao"] = "8.19"
    registry.write_text(json.dumps(doc))
    return GatewayProcess(settings, tmp / f"gw-{timeout_s}.log").start()


@pytest.fixture
def hub(db_url: str, tribunals: Tribunals, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway whose MNI hub routes to the two simulated tribunals."""
    tribunals.reset()
    proc = _hub(db_url, tribunals, tmp_path)
    yield proc
    proc.stop()
    tribunals.reset()


def service(gw: GatewayProcess) -> zeep.proxy.ServiceProxy:
    """zeep built from the gateway's served official WSDL (non-strict, as integrators configure it for real
    tribunals' answers)."""
    return zeep.Client(gw.url + "/soap/mni?wsdl", settings=zeep.Settings(strict=False)).service


def pgfn() -> dict[str, str]:
    """The hub credentials of the PGFN client (MNI fields)."""
    return {"idConsultante": "pgfn-mni", "senhaConsultante": password_of("pgfn-mni")}


def pdf(size: int = 2000, seed: bytes = b"") -> bytes:
    """A small PDF-looking document."""
    return b"%PDF-1.4\n" + seed + b"x" * size + b"\n%%EOF"


def code_of(mensagem: str | None) -> str | None:
    """The MNI-E code at the start of a mensagem."""
    m = re.match(r"(MNI-E\d{3})", mensagem or "")
    return m.group(1) if m else None


def raw(gw: GatewayProcess, body: bytes, content_type: str = "text/xml; charset=utf-8") -> httpx.Response:
    """POST raw bytes to the hub."""
    return httpx.post(gw.url + "/soap/mni", content=body, headers={"Content-Type": content_type}, timeout=120)


def envelope(operation: str, inner: str) -> bytes:
    """A minimal MNI request."""
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            f"<soap:Body><ser:{operation}>{inner}</ser:{operation}></soap:Body></soap:Envelope>").encode()


def answer_of(r: httpx.Response) -> tuple[bool | None, str]:
    """(sucesso, mensagem) of a raw answer."""
    root = etree.fromstring(r.content)
    sucesso = root.findtext(f".//{{{TIPOS}}}sucesso")
    return (None if sucesso is None else sucesso == "true"), root.findtext(f".//{{{TIPOS}}}mensagem") or ""


def test_six_operations_through_zeep(hub: GatewayProcess, tribunals: Tribunals, db_url: str) -> None:
    """Avisos are merged from every installation of the client's tribunals; teor by idAviso reaches the right
    tribunal and registers ciência; a 2nd-degree process is found and remembered; a filing gets its protocol and a
    resend after a client timeout gets the same one without reaching the tribunal twice; consultarAlteracao
    answers hashes that change with the filing; confirmarRecebimento is refused with its code."""
    s = service(hub)
    avisos = s.consultarAvisosPendentes(**pgfn())
    assert avisos.sucesso is True
    ids = {a.idAviso for a in avisos.aviso}
    demo_ids = {a["idAviso"] for jtr in ("8.19", "4.04") for a in tribunals.demo(jtr)["avisos"]  # type: ignore[union-attr]
                if str(a["consultant"]).startswith("pgfn")}
    assert ids == demo_ids
    target = sorted(ids)[0]
    teor = s.consultarTeorComunicacao(**pgfn(), identificadorAviso=target)
    assert teor.sucesso is True
    assert target not in {a.idAviso for a in s.consultarAvisosPendentes(**pgfn()).aviso}

    up = s.consultarProcesso(**pgfn(), numeroProcesso=SECOND_DEGREE, movimentos=True, incluirCabecalho=True)
    assert up.sucesso is True and up.processo.dadosBasicos.numero == SECOND_DEGREE
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(mni_process_locations.c.instance).where(
            mni_process_locations.c.process_number == SECOND_DEGREE)).scalar_one() == "2"
    engine.dispose()
    before = len([e for e in tribunals.received("8.19") if e["numeroProcesso"] == SECOND_DEGREE])
    s.consultarProcesso(**pgfn(), numeroProcesso=SECOND_DEGREE)
    after = [e for e in tribunals.received("8.19") if e["numeroProcesso"] == SECOND_DEGREE]
    assert len(after) == before + 1 and after[-1]["installation"] == "2"  # no probing the second time

    alt1 = s.consultarAlteracao(**pgfn(), numeroProcesso=PJE_PROCESS)
    doc = {"conteudo": pdf(seed=b"zeep"), "mimetype": "application/pdf", "tipoDocumento": "58",
           "_value_1": zeep.xsd.SkipValue}
    cred = {"idManifestante": "pgfn-mni", "senhaManifestante": password_of("pgfn-mni")}
    filed = s.entregarManifestacaoProcessual(**cred, numeroProcesso=PJE_PROCESS, documento=[doc],
                                             dataEnvio="20261121120000")
    assert filed.sucesso is True and len(filed.protocoloRecebimento) == 30
    again = s.entregarManifestacaoProcessual(**cred, numeroProcesso=PJE_PROCESS, documento=[doc],
                                            dataEnvio="20261121120500")
    assert again.protocoloRecebimento == filed.protocoloRecebimento
    filings = [e for e in tribunals.received("8.19") if e["operation"] == "entregarManifestacaoProcessual"]
    assert len(filings) == 1
    alt2 = s.consultarAlteracao(**pgfn(), numeroProcesso=PJE_PROCESS)
    assert alt1.sucesso and alt2.sucesso and alt1.hashDocumentos != alt2.hashDocumentos
    eproc = s.consultarProcesso(**pgfn(), numeroProcesso=EPROC_PROCESS, incluirCabecalho=True)
    assert eproc.sucesso is True  # eproc's date-salted password computed by the hub
    confirm = s.confirmarRecebimento(idRecebedor="pgfn-mni", senhaRecebedor=password_of("pgfn-mni"), protocolo="1")
    assert confirm.sucesso is False and code_of(confirm.mensagem) == "MNI-E045"
    # every call is an audit entry with client, installation, operation and digests — never a password
    from gateway.db.tables import audit_log

    engine = make_engine(db_url)

    def audited() -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(select(audit_log.c.event, audit_log.c.detail).where(
                audit_log.c.event.like("mni.%"))).all())

    # a consultation's entry is committed with the next group commit, just after the answer
    wait_until(lambda: any(e.event == "mni.confirmarRecebimento" for e in audited()), what="audit entries")
    entries = audited()
    engine.dispose()
    assert len(entries) >= 10
    import json

    details = [json.loads(e.detail) for e in entries]
    operations = {d["operacao"] for d in details}
    assert {"consultarAvisosPendentes", "consultarProcesso", "entregarManifestacaoProcessual",
            "consultarAlteracao", "consultarTeorComunicacao", "confirmarRecebimento"} <= operations
    assert all(d["cliente"] == "PGFN" and len(d["requisicao"]) == 64 and len(d["resposta"]) == 64 for d in details)
    assert any("8.19/2" in d["instalacoes"] for d in details)
    everything = " ".join(e.detail for e in entries)
    assert password_of("pgfn-mni") not in everything and "senha-pgfn" not in everything


def test_initial_petition_gets_its_new_number(hub: GatewayProcess, tribunals: Tribunals) -> None:
    """An initial petition goes to the tribunal named in outroParametro "tribunal" and its new number comes back
    in a parametro; the process is then found there."""
    content = base64.b64encode(pdf(seed=b"inicial")).decode()
    body = envelope("entregarManifestacaoProcessual", (
        "<tip:idManifestante>pgfn-mni</tip:idManifestante>"
        f"<tip:senhaManifestante>{password_of('pgfn-mni')}</tip:senhaManifestante>"
        '<tip:dadosBasicos numero="00000000000000000000" classeProcessual="1116" codigoLocalidade="1" '
        'competencia="1" nivelSigilo="0"><int:polo polo="AT"><int:parte><int:pessoa nome="UNIÃO (FAZENDA NACIONAL)" '
        'tipoPessoa="juridica" numeroDocumentoPrincipal="00394460000141"/></int:parte></int:polo>'
        '<int:polo polo="PA"><int:parte><int:pessoa nome="EMPRESA DEVEDORA LTDA" tipoPessoa="juridica" '
        'numeroDocumentoPrincipal="11222333000181"/></int:parte></int:polo>'
        '<int:assunto><int:codigoNacional>6017</int:codigoNacional></int:assunto>'
        '<int:valorCausa>25000.00</int:valorCausa></tip:dadosBasicos>'
        f'<tip:documento mimetype="application/pdf" tipoDocumento="58"><int:conteudo>{content}</int:conteudo>'
        '<int:assinatura assinatura="cDdz"/></tip:documento><tip:dataEnvio>20261121120000</tip:dataEnvio>'
        '<int:outroParametro nome="tribunal" valor="8.19"/>'))  # class 1116: the simulator checks 6017, a signature
    r = raw(hub, body)
    assert r.status_code == 200, r.text
    sucesso, mensagem = answer_of(r)
    assert sucesso is True, mensagem
    new_number = re.search(r'nome="numeroProcesso" valor="(\d{20})"', r.text)
    assert new_number is not None
    found = service(hub).consultarProcesso(**pgfn(), numeroProcesso=new_number.group(1), incluirCabecalho=True)
    assert found.sucesso is True


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_error_paths_are_coded_answers(hub: GatewayProcess, tribunals: Tribunals, db_url: str) -> None:
    """Failed login, a non-client organ, an unknown tribunal, a tribunal down, a process in no installation, an
    unknown and an ambiguous aviso, and strict mode: each a sucesso=false with its own code, HTTP 200."""
    s = service(hub)
    assert code_of(s.consultarProcesso(idConsultante="pgfn-mni", senhaConsultante="errada",
                                       numeroProcesso=PJE_PROCESS).mensagem) == "MNI-E021"
    assert code_of(s.consultarProcesso(idConsultante="tjrj-sistema", senhaConsultante=password_of("tjrj-sistema"),
                                       numeroProcesso=PJE_PROCESS).mensagem) == "MNI-E022"
    assert code_of(s.consultarProcesso(**pgfn(), numeroProcesso="00000011220248260001").mensagem) == "MNI-E040"
    # deny by default: PGF's registry entry lists only TJRJ, so TRF4 is out of its reach
    assert code_of(s.consultarProcesso(idConsultante="pgf-mni", senhaConsultante=password_of("pgf-mni"),
                                       numeroProcesso=EPROC_PROCESS).mensagem) == "MNI-E040"
    assert code_of(s.consultarProcesso(**pgfn(), numeroProcesso="09999994620198190001").mensagem) == "MNI-E046"
    assert code_of(s.consultarTeorComunicacao(**pgfn(), identificadorAviso="202001010000001").mensagem) == "MNI-E048"
    engine = make_engine(db_url, writer=True)  # takes the write lock at BEGIN: the gateway writes concurrently
    with engine.begin() as conn:
        organ = conn.execute(select(organs.c.id).where(organs.c.code == "PGFN")).scalar_one()
        from datetime import UTC, datetime

        for jtr in ("8.19", "4.04"):
            conn.execute(insert(mni_avisos).values(organ_id=organ, aviso_id="202611200000009", jtr=jtr,
                                                   instance="1", process_number=None, seen_at=datetime.now(UTC)))
    engine.dispose()
    ambiguous = s.consultarTeorComunicacao(**pgfn(), identificadorAviso="202611200000009")
    assert code_of(ambiguous.mensagem) == "MNI-E044" and "numeroProcesso" in ambiguous.mensagem
    strict = (MNI_FIXTURES / "eproc-tjsc/entregarManifestacaoProcessual_req_incidental_assinaturaP7S.xml").read_bytes()
    strict = strict.replace(b"USU\xc3\x81RIO DE SISTEMA", b"pgfn-mni").replace(
        b"<ns3:senhaManifestante>SENHA<", f"<ns3:senhaManifestante>{password_of('pgfn-mni')}<".encode()).replace(
        b'<ns2:parametros nome="abrirPrazoAutomaticamente"',
        b'<ns2:parametros nome="modoEstrito" valor="true"/><ns2:parametros nome="abrirPrazoAutomaticamente"')
    sucesso, mensagem = answer_of(raw(hub, strict))
    assert sucesso is False and code_of(mensagem) == "MNI-E031" and "namespace-grafado-errado" in mensagem
    tribunals.faults("8.19", down=True)
    down = s.consultarProcesso(**pgfn(), numeroProcesso=PJE_PROCESS)
    tribunals.faults("8.19")
    assert code_of(down.mensagem) in ("MNI-E041", "MNI-E042")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_timeouts_and_an_indeterminate_filing_reconciled(db_url: str, tribunals: Tribunals, tmp_path: Path) -> None:
    """A slow tribunal is a coded timeout within the configured bound; a filing whose answer timed out is
    "resultado indeterminado", and its resend is reconciled through consultarAlteracao instead of being resent:
    the tribunal holds it once."""
    import time

    tribunals.reset()
    gw = _hub(db_url, tribunals, tmp_path, timeout_s=1.5)
    try:
        s = service(gw)
        tribunals.faults("4.04", latency_ms=3000)
        started = time.monotonic()
        slow = s.consultarProcesso(**pgfn(), numeroProcesso=EPROC_PROCESS)
        assert code_of(slow.mensagem) == "MNI-E042" and time.monotonic() - started < 6
        tribunals.faults("4.04")
        cred = {"idManifestante": "pgfn-mni", "senhaManifestante": password_of("pgfn-mni")}

        def doc(seed: bytes) -> dict[str, object]:
            return {"conteudo": pdf(seed=seed), "mimetype": "application/pdf", "tipoDocumento": "58",
                    "_value_1": zeep.xsd.SkipValue}

        def filings() -> int:
            return len([e for e in tribunals.received("8.19")
                        if e["operation"] == "entregarManifestacaoProcessual"])

        def config(**values: object) -> None:
            httpx.post(tribunals.url("8.19") + "/_mock/config", json=values, timeout=10).raise_for_status()

        def filing_states() -> list[str]:
            engine = make_engine(db_url)
            try:
                with engine.connect() as conn:
                    return sorted(conn.execute(select(mni_filings.c.state)).scalars())
            finally:
                engine.dispose()

        assert s.consultarProcesso(**pgfn(), numeroProcesso=PJE_PROCESS).sucesso  # the installation is known
        # 1. the tribunal files it but answers too late: resend → reconciled as filed, not sent again
        config(delay_after_ms={"entregarManifestacaoProcessual": 2500})
        first = s.entregarManifestacaoProcessual(**cred, numeroProcesso=PJE_PROCESS, documento=[doc(b"late")],
                                                 dataEnvio="20261121120000")
        assert code_of(first.mensagem) == "MNI-E043", first.mensagem
        # what the reconciliation will find: the tribunal recorded the filing whose answer came too late
        wait_until(lambda: filings() == 1, timeout=10, what="the tribunal to record the late filing")
        config(delay_after_ms={})
        second = s.entregarManifestacaoProcessual(**cred, numeroProcesso=PJE_PROCESS, documento=[doc(b"late")],
                                                  dataEnvio="20261121120000")
        assert second.sucesso is True and "reconciliada" in second.mensagem
        assert filings() == 1
        # 2. the tribunal held it and never acted: resend → reconciled as absent, then sent once
        config(stall_without_acting_ms={"entregarManifestacaoProcessual": 2500})
        lost = s.entregarManifestacaoProcessual(**cred, numeroProcesso=PJE_PROCESS, documento=[doc(b"lost")],
                                                dataEnvio="20261121120000")
        assert code_of(lost.mensagem) == "MNI-E043", lost.mensagem
        # the hub remembers it as indeterminate (never forgotten nor resent blindly) and the tribunal holds nothing
        wait_until(lambda: filing_states() == ["done", "indeterminate"], timeout=10, what="the indeterminate filing")
        assert filings() == 1
        config(stall_without_acting_ms={})
        resent = s.entregarManifestacaoProcessual(**cred, numeroProcesso=PJE_PROCESS, documento=[doc(b"lost")],
                                                  dataEnvio="20261121120000")
        assert resent.sucesso is True and len(resent.protocoloRecebimento) == 30
        assert filings() == 2
    finally:
        tribunals.faults("8.19")
        tribunals.faults("4.04")
        gw.stop()


def _in_scope(kind: str) -> list[Path]:
    out = []
    for p in sorted(MNI_FIXTURES.glob("*/*.xml")):
        if p.parent.name == "mni3-eproc-tjsp" or p.name in OUT_OF_SCOPE or "_excerpt" in p.name:
            continue
        is_request = "_req" in p.name
        if (kind == "req") == is_request and (is_request or "_resp" in p.name or "Resposta" in p.name):
            out.append(p)
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_reference_request_is_read_without_fault(hub: GatewayProcess) -> None:
    """Every real MNI 2.2.2 request of the reference set is read: routed, or a coded sucesso=false (their
    credentials are placeholders) — never a Fault."""
    requests = _in_scope("req")
    assert len(requests) == 14
    for path in requests:
        r = raw(hub, path.read_bytes())
        assert r.status_code == 200, (path.name, r.text[:500])
        sucesso, mensagem = answer_of(r)
        assert sucesso is not None and mensagem, path.name


def _operation_of(path: Path) -> str:
    for op in ("consultarAvisosPendentes", "consultarTeorComunicacao", "consultarProcesso",
               "entregarManifestacaoProcessual", "consultarAlteracao"):
        if path.name.startswith(op):
            return op
    raise AssertionError(path.name)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_reference_response_is_parsed_when_a_tribunal_sends_it(hub: GatewayProcess,
                                                                      tribunals: Tribunals) -> None:
    """Each real 2.2.2 response, sent by a simulated tribunal as its answer, reaches the client as a well-formed
    answer in the official namespaces with sucesso and mensagem."""
    responses = _in_scope("resp")
    assert len(responses) == 14
    s = service(hub)
    cred = {"idManifestante": "pgfn-mni", "senhaManifestante": password_of("pgfn-mni")}
    for path in responses:
        op = _operation_of(path)
        tribunals.reset()
        httpx.post(tribunals.url("8.19") + "/_mock/canned", json={
            "operation": op, "status": 200, "content_type": "text/xml; charset=utf-8",
            "body_base64": base64.b64encode(path.read_bytes()).decode()}, timeout=10).raise_for_status()
        if op == "consultarAvisosPendentes":
            body = envelope(op, "<tip:idConsultante>pgfn-mni</tip:idConsultante>"
                                f"<tip:senhaConsultante>{password_of('pgfn-mni')}</tip:senhaConsultante>")
        elif op == "entregarManifestacaoProcessual":
            content = base64.b64encode(pdf(seed=path.name.encode())).decode()
            body = envelope(op, f"<tip:idManifestante>{cred['idManifestante']}</tip:idManifestante>"
                                f"<tip:senhaManifestante>{cred['senhaManifestante']}</tip:senhaManifestante>"
                                f"<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>"
                                '<tip:documento mimetype="application/pdf" tipoDocumento="58">'
                                f"<int:conteudo>{content}</int:conteudo></tip:documento>")
        else:
            body = envelope(op, "<tip:idConsultante>pgfn-mni</tip:idConsultante>"
                                f"<tip:senhaConsultante>{password_of('pgfn-mni')}</tip:senhaConsultante>"
                                f"<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>")
        r = raw(hub, body)
        assert r.status_code == 200, (path.name, r.text[:500])
        root = etree.fromstring(r.content)
        assert etree.QName(root).namespace == SOAP
        op_el = root.find(f"{{{SOAP}}}Body")[0]  # type: ignore[index]
        assert etree.QName(op_el).namespace == SERVICO, path.name
        assert op_el.find(f"{{{TIPOS}}}sucesso") is not None and op_el.find(f"{{{TIPOS}}}mensagem") is not None
    del s


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_gateway_answers_validate_against_the_official_xsd(hub: GatewayProcess) -> None:
    """The answers the hub shapes itself — a coded refusal for each of the six operations, and the avisos merged
    from three installations — validate against the official MNI schemas (the WSDL's wrapper elements)."""
    from gateway.mni.schema import operation_schema

    schema = operation_schema()
    bad = {"idConsultante": "pgfn-mni", "senhaConsultante": "errada"}
    refusals = {
        "consultarAvisosPendentes": "",
        "consultarTeorComunicacao": "<tip:identificadorAviso>202001010000001</tip:identificadorAviso>",
        "consultarProcesso": f"<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>",
        "consultarAlteracao": f"<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>",
    }
    bodies = [envelope(op, f"<tip:idConsultante>{bad['idConsultante']}</tip:idConsultante>"
                           f"<tip:senhaConsultante>{bad['senhaConsultante']}</tip:senhaConsultante>{inner}")
              for op, inner in refusals.items()]
    bodies.append(envelope("entregarManifestacaoProcessual", (
        "<tip:idManifestante>pgfn-mni</tip:idManifestante><tip:senhaManifestante>errada</tip:senhaManifestante>"
        f"<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>"
        '<tip:documento mimetype="application/pdf"><int:conteudo>JVBERi0=</int:conteudo></tip:documento>'
        "<tip:dataEnvio>20261121120000</tip:dataEnvio>")))
    bodies.append(envelope("confirmarRecebimento", "<tip:idRecebedor>pgfn-mni</tip:idRecebedor>"
                                                   f"<tip:senhaRecebedor>{password_of('pgfn-mni')}</tip:senhaRecebedor>"
                                                   "<tip:protocolo>1</tip:protocolo>"))
    bodies.append(envelope("consultarAvisosPendentes", f"<tip:idConsultante>{pgfn()['idConsultante']}"
                                                       f"</tip:idConsultante><tip:senhaConsultante>"
                                                       f"{pgfn()['senhaConsultante']}</tip:senhaConsultante>"))
    for body in bodies:
        r = raw(hub, body)
        assert r.status_code == 200
        op_el = etree.fromstring(r.content).find(f"{{{SOAP}}}Body")[0]  # type: ignore[index]
        ok = schema.validate(op_el)
        errors = [e.message for e in schema.error_log if "##other" not in e.message]
        # real tribunals' data omits the ##other element of tipoDocumento; nothing else may be invalid
        assert ok or not errors, (etree.QName(op_el).localname, errors)
