"""MNI 2.2.2 elements of the tribunal simulator's responses, built from its data model (``mocks.tribunal_data``).

Shapes follow the official XSDs, with one documented decision: ``tipoDocumento`` and ``tipoComunicacaoProcessual``
require an ``<any namespace="##other" processContents="strict"/>`` that no real PJe/eproc server sends and that
could only be satisfied by an element of a schema the contract does not define; the simulator omits it, as real
servers do. Validation errors that name ``##other`` are therefore expected, and no other.
"""

from __future__ import annotations

from lxml import etree

from mocks.tribunal_data import Aviso, Document, Person, Process
from mocks.tribunal_xml import Outgoing, i, sub


def pessoa(parent: etree._Element, tag: str, p: Person) -> etree._Element:
    """A ``tipoPessoa`` (``sexo`` is required by the XSD: ``D`` when unknown, e.g. for legal persons)."""
    doc = p.documento if p.documento and p.documento.isdigit() and len(p.documento) in (11, 14) else None
    return sub(parent, tag, nome=p.nome, sexo=p.sexo or "D", numeroDocumentoPrincipal=doc, tipoPessoa=p.tipo_pessoa)


def parte(parent: etree._Element, tag: str, p: Person) -> etree._Element:
    """A ``tipoParte`` holding one person."""
    el = sub(parent, tag)
    pessoa(el, i("pessoa"), p)
    return el


def cabecalho(parent: etree._Element, tag: str, p: Process) -> etree._Element:
    """A ``tipoCabecalhoProcesso`` (dadosBasicos)."""
    el = sub(parent, tag, numero=p.numero, competencia=p.competencia, classeProcessual=p.classe,
             codigoLocalidade=p.codigo_localidade, nivelSigilo=p.nivel_sigilo, dataAjuizamento=p.data_ajuizamento)
    for polo in p.polos:
        pel = sub(el, i("polo"), polo=polo.polo if polo.polo in ("AT", "PA", "TC", "FL", "TJ", "AD", "VI") else None)
        for person in polo.partes:
            parte(pel, i("parte"), person)
    for k, code in enumerate(p.assuntos):
        a = sub(el, i("assunto"), principal="true" if k == 0 else None)
        sub(a, i("codigoNacional"), str(code))
    if p.valor_causa is not None:
        sub(el, i("valorCausa"), repr(float(p.valor_causa)))
    o = p.orgao
    sub(el, i("orgaoJulgador"), codigoOrgao=o.codigo, nomeOrgao=o.nome, instancia=o.instancia,
        codigoMunicipioIBGE=o.ibge)
    return el


def documento(out: Outgoing, parent: etree._Element, tag: str, d: Document, with_content: bool) -> etree._Element:
    """A ``tipoDocumento``; its content only when asked (and still held: big received documents keep only a hash)."""
    el = sub(parent, tag, idDocumento=d.id, tipoDocumento=d.tipo, dataHora=d.data_hora, mimetype=d.mimetype,
             nivelSigilo=d.nivel_sigilo, movimento=d.movimento, hash=d.sha256, descricao=d.descricao)
    if with_content and d.available:
        out.blob(el, i("conteudo"), d)
    sub(el, i("outroParametro"), nome="tamanho", valor=str(d.size))
    if with_content and not d.available:
        sub(el, i("outroParametro"), nome="conteudoIndisponivel",
            valor="documento recebido acima de 1 MB: o simulador guardou apenas tamanho e sha256")
    return el


def processo(out: Outgoing, parent: etree._Element, tag: str, p: Process, *, cabecalho_: bool, movimentos: bool,
             listar: bool, conteudo: set[str], todos: bool, desde: str | None) -> etree._Element:
    """A ``tipoProcessoJudicial`` honouring the consultarProcesso options."""
    el = sub(parent, tag)
    if cabecalho_:
        cabecalho(el, i("dadosBasicos"), p)
    else:
        sub(el, i("dadosBasicos"))  # as eproc: the XSD requires dadosBasicos; an empty one says "not asked"
    if movimentos:
        for m in p.movements:
            if desde and m.data_hora <= desde:
                continue
            mel = sub(el, i("movimento"), dataHora=m.data_hora, identificadorMovimento=m.id)
            if m.complemento:
                sub(mel, i("complemento"), m.complemento)
            sub(mel, i("movimentoNacional"), codigoNacional=m.codigo)
            for doc_id in m.documentos:
                sub(mel, i("idDocumentoVinculado"), doc_id)
    for d in p.documents:
        wanted = todos or d.id in conteudo
        if not (listar or wanted) or (desde and d.data_hora <= desde and not wanted):
            continue
        documento(out, el, i("documento"), d, wanted)
    return el


def aviso(parent: etree._Element, tag: str, a: Aviso, p: Process) -> etree._Element:
    """A ``tipoAvisoComunicacaoPendente``."""
    el = sub(parent, tag, idAviso=a.id, tipoComunicacao=a.tipo)
    parte(el, i("destinatario"), a.destinatario)
    cabecalho(el, i("processo"), p)
    sub(el, i("dataDisponibilizacao"), a.disponibilizacao)
    return el


def comunicacao(out: Outgoing, parent: etree._Element, tag: str, a: Aviso, p: Process) -> etree._Element:
    """A ``tipoComunicacaoProcessual`` with its teor and the metadata of its documents."""
    el = sub(parent, tag, id=a.id, tipoComunicacao=a.tipo, tipoPrazo="DIA", dataReferencia=a.disponibilizacao,
             prazo=a.prazo, nivelSigilo=0)
    parte(el, i("destinatario"), a.destinatario)
    sub(el, i("processo"), a.numero)
    sub(el, i("teor"), a.teor)
    docs = {d.id: d for d in p.documents}
    for doc in (docs[x] for x in a.documentos if x in docs):
        documento(out, el, i("documento"), doc, False)
    if a.ciencia:
        sub(el, i("parametro"), f"dataCiencia:{a.ciencia}")
    return el
