"""The execuções fiscais' wire formats: the request as JSON or as eproc's ``ListaCDA`` XML (both read into one
:class:`~gateway.divida.execucao.domain.Pedido`, every field's problem collected with its code and field), and the
REST answers.

JSON (``application/json``; money as decimal strings with a dot, dates ISO 8601)::

    {"referencia": "PGFN-2026-000123", "credor": {"nome": "…", "cnpj": "…"} (PGF: the autarchy; PGFN: default the
     União), "callbackUrl": "https://…" (optional),
     "cdas": [{"numeroInscricao", "dataInscricao", "processoAdministrativo",
               "devedor": {"nome", "cpfCnpj", "endereco": {"logradouro", "municipioIbge", "uf", "cep"}},
               "corresponsaveis": [{… as devedor, "tipo": "SOLIDARIO"|"SUBSIDIARIO"}],
               "valorPrincipal", "dataInicioJuros", "formaCalculoJuros", "origem", "natureza", "fundamentoLegal",
               "baseCorrecaoMonetaria" (optional: "where there is one"), "valorAtualizado", "dataValorAtualizado",
               "conciliacao": {"tipo", "data"}, "protesto": {"tipo", "data"} | {"ineficiencia": "motivo"},
               "documento": {"pdf": base64, "assinatura": base64 PKCS#7 detached} | {"pdf": base64 PAdES}}]}

XML (``application/xml``): eproc's ``ListaCDA`` (``NumeroCDA``, ``NumeroProcessoAdm``, ``DescricaoTributoFiscal`` →
natureza, ``ValorCda`` "333,45" → valorAtualizado, ``DataApuracaoValorCDA`` AAAAMMDDhhmmss → dataValorAtualizado,
``Origem``) with the request's ``referencia``/``callbackUrl`` as attributes of ``ListaCDA``, an optional ``Credor
nome cnpj`` child, and per ``CDA`` the requisites eproc's list lacks as elements of the same names as the JSON members
with a capital initial (``DataInscricao``, ``ValorPrincipal``, ``Devedor nome cpfCnpj`` with ``Endereco
logradouro municipioIbge uf cep``, ``Corresponsavel``, ``Conciliacao tipo data``, ``Protesto tipo data`` or
``ProtestoIneficiente``, ``DocumentoPdf``/``AssinaturaP7s`` base64…). Read by the one hardened reader.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree
from pydantic import BaseModel, Field

from gateway.divida.execucao.domain import (
    UNIAO,
    Cda,
    DocumentoAssinado,
    Endereco,
    Erro,
    Pedido,
    Pessoa,
    digits,
)

Json = dict[str, Any]


class _Reader:
    """Collects every problem while reading one request dict."""

    def __init__(self) -> None:
        self.erros: list[Erro] = []

    def missing(self, campo: str, what: str = "") -> None:
        self.erros.append(Erro("EXEC-E002", campo, f"{what or campo}: campo obrigatório ausente (LEF art. 2º §5º)."))

    def text(self, d: Json, key: str, where: str, required: bool = True, cda: str = "") -> str | None:
        v = d.get(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                self.missing(f"{where}.{key}" if where else key, f"CDA {cda}: {key}" if cda else "")
            return None
        if not isinstance(v, str | int):
            self.erros.append(Erro("EXEC-E004", f"{where}.{key}", f"{key} deve ser texto."))
            return None
        return str(v).strip()

    def money(self, d: Json, key: str, where: str, cda: str) -> Decimal | None:
        raw = self.text(d, key, where, cda=cda)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
            if not value.is_finite() or value.as_tuple().exponent < -2:  # type: ignore[operator]
                raise InvalidOperation
        except InvalidOperation:
            self.erros.append(Erro("EXEC-E004", f"{where}.{key}",
                                   f"CDA {cda}: {key} deve ser decimal com ponto e até 2 casas (ex.: \"13676.34\")."))
            return None
        return value

    def date(self, d: Json, key: str, where: str, cda: str, required: bool = True) -> date | None:
        raw = self.text(d, key, where, required, cda)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.erros.append(Erro("EXEC-E004", f"{where}.{key}", f"CDA {cda}: {key} deve ser data AAAA-MM-DD."))
            return None

    def b64(self, d: Json, key: str, where: str, cda: str, required: bool = True) -> bytes | None:
        raw = self.text(d, key, where, required, cda)
        if raw is None:
            return None
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            self.erros.append(Erro("EXEC-E004", f"{where}.{key}", f"CDA {cda}: {key} não é base64 válido."))
            return None

    def obj(self, d: Json, key: str, where: str, cda: str, required: bool = True) -> Json | None:
        v = d.get(key)
        if v is None:
            if required:
                self.missing(f"{where}.{key}", f"CDA {cda}: {key}")
            return None
        if not isinstance(v, dict):
            self.erros.append(Erro("EXEC-E004", f"{where}.{key}", f"CDA {cda}: {key} deve ser um objeto."))
            return None
        return v

    def pessoa(self, d: Json | None, where: str, cda: str) -> Pessoa | None:
        if d is None:
            return None
        nome = self.text(d, "nome", where, cda=cda) or ""
        doc = digits(self.text(d, "cpfCnpj", where, required=False, cda=cda))
        end = self.obj(d, "endereco", where, cda)
        endereco = None
        if end is not None:
            w = f"{where}.endereco"
            endereco = Endereco(self.text(end, "logradouro", w, cda=cda) or "",
                                self.text(end, "municipioIbge", w, cda=cda) or "",
                                (self.text(end, "uf", w, cda=cda) or "").upper(),
                                digits(self.text(end, "cep", w, required=False, cda=cda)))
        tipo = self.text(d, "tipo", where, required=False, cda=cda)
        return Pessoa(nome, doc, endereco, tipo.upper() if tipo else None)


def pedido_of(data: object, procuradoria: str) -> tuple[Pedido | None, list[Erro]]:
    """Read a request (the JSON's dict, or what :func:`dict_of_lista_cda` made of the XML) for organ
    *procuradoria*. Returns the request (None when any field could not be read) and every problem found."""
    r = _Reader()
    if not isinstance(data, dict):
        return None, [Erro("EXEC-E001", None, "O corpo deve ser um objeto JSON.")]
    referencia = r.text(data, "referencia", "")
    credor = data.get("credor")
    if credor is None and procuradoria == "PGFN":
        credor_nome, credor_cnpj = UNIAO
    elif isinstance(credor, dict):
        credor_nome = r.text(credor, "nome", "credor") or ""
        credor_cnpj = digits(r.text(credor, "cnpj", "credor")) or ""
    else:
        r.erros.append(Erro("EXEC-E008", "credor", "Informe o credor (a autarquia ou fundação, para a PGF)."))
        credor_nome, credor_cnpj = "", ""
    callback = r.text(data, "callbackUrl", "", required=False)
    if callback is not None and not callback.startswith(("http://", "https://")):
        r.erros.append(Erro("EXEC-E004", "callbackUrl", "callbackUrl deve ser uma URL http(s)."))
    raw_cdas = data.get("cdas")
    if not isinstance(raw_cdas, list) or not raw_cdas:
        r.erros.append(Erro("EXEC-E002", "cdas", "Informe ao menos uma CDA."))
        raw_cdas = []
    if len(raw_cdas) > 500:
        r.erros.append(Erro("EXEC-E004", "cdas", "No máximo 500 CDAs por execução."))
        raw_cdas = []
    cdas = []
    for i, c in enumerate(raw_cdas):
        cda = _cda(r, c, f"cdas[{i}]")
        if cda is not None:
            cdas.append(cda)
    if r.erros or referencia is None:
        return None, r.erros
    return Pedido(procuradoria, credor_nome, credor_cnpj, referencia, tuple(cdas), callback), []


def _cda(r: _Reader, c: object, w: str) -> Cda | None:
    if not isinstance(c, dict):
        r.erros.append(Erro("EXEC-E004", w, "Cada CDA deve ser um objeto."))
        return None
    before = len(r.erros)
    numero = digits(r.text(c, "numeroInscricao", w)) or "?"
    devedor = r.pessoa(r.obj(c, "devedor", w, numero), f"{w}.devedor", numero)
    corr_raw = c.get("corresponsaveis") or []
    corresponsaveis = []
    if isinstance(corr_raw, list):
        for j, co in enumerate(corr_raw):
            pe = r.pessoa(co if isinstance(co, dict) else None, f"{w}.corresponsaveis[{j}]", numero)
            if pe is not None:
                corresponsaveis.append(pe)
    conc = r.obj(c, "conciliacao", w, numero, required=False)
    prot = r.obj(c, "protesto", w, numero, required=False)
    doc = r.obj(c, "documento", w, numero)
    pdf = p7s = None
    if doc is not None:
        pdf = r.b64(doc, "pdf", f"{w}.documento", numero)
        p7s = r.b64(doc, "assinatura", f"{w}.documento", numero, required=False)
    values = dict(
        data_inscricao=r.date(c, "dataInscricao", w, numero),
        processo_administrativo=r.text(c, "processoAdministrativo", w, cda=numero),
        valor_principal=r.money(c, "valorPrincipal", w, numero),
        data_inicio_juros=r.date(c, "dataInicioJuros", w, numero),
        forma_calculo_juros=r.text(c, "formaCalculoJuros", w, cda=numero),
        origem=r.text(c, "origem", w, cda=numero), natureza=r.text(c, "natureza", w, cda=numero),
        fundamento_legal=r.text(c, "fundamentoLegal", w, cda=numero),
        valor_atualizado=r.money(c, "valorAtualizado", w, numero),
        data_valor_atualizado=r.date(c, "dataValorAtualizado", w, numero))
    base = r.text(c, "baseCorrecaoMonetaria", w, required=False, cda=numero)
    if len(r.erros) > before or devedor is None or pdf is None:
        return None
    return Cda(numero, devedor=devedor, corresponsaveis=tuple(corresponsaveis), base_correcao_monetaria=base,
               conciliacao=(conc or {}).get("tipo"), data_conciliacao=_opt_date(conc, "data"),
               protesto=(prot or {}).get("tipo"), data_protesto=_opt_date(prot, "data"),
               protesto_ineficiente=(prot or {}).get("ineficiencia"),
               documento=DocumentoAssinado(pdf, p7s), **values)  # type: ignore[arg-type]


def _opt_date(d: Json | None, key: str) -> date | None:
    try:
        return date.fromisoformat(str(d[key])) if d and d.get(key) else None
    except ValueError:
        return None


# -- eproc's ListaCDA ----------------------------------------------------------------------------------------------

#: eproc's own elements → the JSON member they fill
_EPROC = {"NumeroCDA": "numeroInscricao", "NumeroProcessoAdm": "processoAdministrativo",
          "DescricaoTributoFiscal": "natureza", "Origem": "origem", "ValorCda": "valorAtualizado",
          "DataApuracaoValorCDA": "dataValorAtualizado"}
_OURS = ("DataInscricao", "ValorPrincipal", "DataInicioJuros", "FormaCalculoJuros", "FundamentoLegal",
         "BaseCorrecaoMonetaria", "ValorAtualizado", "DataValorAtualizado", "Natureza", "Origem",
         "ProcessoAdministrativo")
_MONEY = {"valorAtualizado", "valorPrincipal"}
_DATES = {"dataValorAtualizado", "dataInscricao", "dataInicioJuros"}


def _member(tag: str) -> str:
    return _EPROC.get(tag) or tag[0].lower() + tag[1:]


def _value(member: str, raw: str) -> str:
    raw = raw.strip()
    if member in _MONEY and "," in raw:  # eproc's "333,45" / "1.333,45"
        return raw.replace(".", "").replace(",", ".")
    if member in _DATES and len(raw) in (8, 14) and raw.isdigit():  # AAAAMMDD[hhmmss]
        try:
            return datetime.strptime(raw[:8], "%Y%m%d").date().isoformat()
        except ValueError:
            return raw
    return raw


def _pessoa_xml(el: etree._Element) -> Json:
    out: Json = {str(k): str(v) for k, v in el.attrib.items()}
    end = next((e for e in el if isinstance(e.tag, str) and etree.QName(e).localname == "Endereco"), None)
    if end is not None:
        out["endereco"] = dict(end.attrib)
    return out


def dict_of_lista_cda(root: etree._Element) -> Json:
    """eproc's ``ListaCDA`` (read by the hardened reader) as the JSON request's dict (module docstring)."""
    if etree.QName(root).localname != "ListaCDA":
        return {"_raiz": etree.QName(root).localname}
    out: Json = {str(k): str(v) for k, v in root.attrib.items()}
    cdas = []
    for el in root:
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        if name == "Credor":
            out["credor"] = dict(el.attrib)
        elif name == "CDA":
            cdas.append(_cda_xml(el))
    out["cdas"] = cdas
    return out


def _cda_xml(el: etree._Element) -> Json:
    c: Json = {"corresponsaveis": []}
    doc: Json = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        tag = etree.QName(child).localname
        text = (child.text or "").strip()
        if tag == "Devedor":
            c["devedor"] = _pessoa_xml(child)
        elif tag == "Corresponsavel":
            c["corresponsaveis"].append(_pessoa_xml(child))
        elif tag in ("Conciliacao", "Protesto"):
            c[tag.lower()] = dict(child.attrib)
        elif tag == "ProtestoIneficiente":
            c["protesto"] = {"ineficiencia": text}
        elif tag == "DocumentoPdf":
            doc["pdf"] = "".join(text.split())
        elif tag == "AssinaturaP7s":
            doc["assinatura"] = "".join(text.split())
        elif tag in _EPROC or tag in _OURS:
            if text:
                member = _member(tag)
                c[member] = _value(member, text)
    if doc:
        c["documento"] = doc
    return c


# -- answers -------------------------------------------------------------------------------------------------------


class Sinalizacao(BaseModel):
    """A check that did not refuse the request but is reported (e.g. EXEC-E013, value below R$ 10.000)."""

    codigo: str
    campo: str | None
    mensagem: str


class Execucao(BaseModel):
    """A filing and its state (issue 12 point 5)."""

    id: str
    referencia: str
    tipo: str = Field(description="inicial | suspensao_parcelamento | extincao_pagamento | substituicao_cda")
    situacao: str = Field(description="recebida | enviada | protocolada | recusada | indeterminada")
    procuradoria: str
    tribunal: str = Field(description="J.TR do TRF (4.01 a 4.06)", examples=["4.06"])
    codigoLocalidade: str | None
    valorCausa: str | None
    cdas: list[str]
    numeroProcesso: str | None = Field(description="número do processo (novo, na inicial) quando protocolada")
    protocolo: str | None
    dataProtocolo: str | None
    motivo: str | None = Field(description="razão do tribunal (recusada), ou o que se sabe (indeterminada)")
    resolucao: dict[str, Any] | None = None
    sinalizacoes: list[Sinalizacao]
    tentativas: int
    recebidaEm: str
    atualizadaEm: str
    execucaoOriginal: str | None = None
    segredoCallback: str | None = Field(None, description="chave HMAC dos callbacks: só na resposta que cria")


class Pagina(BaseModel):
    """A page of filings (cursor paging, DESIGN.md)."""

    itens: list[Execucao]
    proximo: str | None


class Resolucao(BaseModel):
    """How an authorised person resolves an ``indeterminada`` filing: the process number found at the court, or the
    explicit decision to resend (``decisao: "reenviar"``) with its justification. Audited with ``On-Behalf-Of``."""

    numeroProcesso: str | None = None
    decisao: str | None = Field(None, description="reenviar")
    justificativa: str = Field(min_length=10)


class Peticao(BaseModel):
    """A follow-up petition on a filed execução (issue 12 point 6). ``tipo``: ``suspensao_parcelamento``
    (LEF art. 40 / CTN art. 151 VI), ``extincao_pagamento`` (CPC art. 924 II), ``substituicao_cda`` (LEF art. 2º
    §8º: ``cda`` carries the new CDA, in the request's CDA shape, and ``numeroInscricao`` the one replaced)."""

    referencia: str
    tipo: str
    texto: str | None = None
    numeroInscricao: str | None = None
    cda: dict[str, Any] | None = None
