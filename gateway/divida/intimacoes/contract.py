"""The intimations' wire formats: what is read from a court's MNI answers (avisos, the communication's content) and
the REST API's JSON shapes (pydantic models).

From ``consultarAvisosPendentes`` (MNI 2.2.2 ``tipoAvisoComunicacaoPendente``, read by local name in any namespace:
PJe and eproc serialise differently): ``idAviso``, ``tipoComunicacao``, the process header (``numero``,
``classeProcessual``, the poles' parties with ``numeroDocumentoPrincipal``, ``valorCausa``) and
``dataDisponibilizacao`` (``AAAAMMDDHHMMSS``, Brasília time). From ``consultarTeorComunicacao``
(``tipoComunicacaoProcessual``): the ``teor``, the deadline (``prazo``, ``tipoPrazo``) and the documents' metadata.
The exact bytes of each element are stored; the JSON is derived from them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from pydantic import BaseModel, Field

from gateway.divida.intimacoes.domain import Parte

BRT = ZoneInfo("America/Sao_Paulo")
ISO = "ISO 8601, com fuso"


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _local(c) == name]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in el if _local(c) == name), None)


def _text(el: etree._Element | None) -> str | None:
    return el.text.strip() if el is not None and el.text and el.text.strip() else None


def mni_datetime(value: str | None, tz: ZoneInfo = BRT) -> datetime | None:
    """An MNI ``tipoDataHora`` (``AAAAMMDDHHMMSS``, the court's civil time *tz*) as an aware datetime, or None when
    absent or unreadable."""
    if not value or len(value) < 8 or not value[:14].isdigit():
        return None
    try:
        return datetime.strptime(value[:14].ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=tz)
    except ValueError:
        return None


@dataclass(frozen=True)
class AvisoLido:
    """One aviso as a court listed it: its id and kind, the process (number, class, parties, value), the addressee,
    when it was made available (None when the court did not say) and the element's exact bytes."""

    aviso_id: str
    tipo: str | None
    numero_processo: str | None
    classe: int | None
    partes: tuple[Parte, ...]
    valor_causa: str | None
    destinatario: Parte | None
    disponibilizada_em: datetime | None
    xml: bytes


def _pessoa(parte: etree._Element, polo: str | None) -> Parte | None:
    pessoa = _child(parte, "pessoa")
    if pessoa is None:
        nome = _text(_child(parte, "interessePublico"))
        return Parte(polo, nome, None) if nome else None
    return Parte(polo, pessoa.get("nome") or "", pessoa.get("numeroDocumentoPrincipal"))


def _valor(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return str(Decimal(text).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None


def read_avisos(answer: etree._Element) -> list[AvisoLido]:
    """The avisos of a ``consultarAvisosPendentesResposta`` element (*answer*), in the order listed. An aviso without
    ``idAviso`` is skipped (nothing could find it again)."""
    out = []
    for av in _children(answer, "aviso"):
        aviso_id = av.get("idAviso")
        if not aviso_id:
            continue
        proc = _child(av, "processo")
        partes: list[Parte] = []
        classe = None
        numero = valor = None
        if proc is not None:
            numero = proc.get("numero")
            raw_classe = proc.get("classeProcessual")
            classe = int(raw_classe) if raw_classe and raw_classe.isdigit() else None
            for polo in _children(proc, "polo"):
                for parte in _children(polo, "parte"):
                    p = _pessoa(parte, polo.get("polo"))
                    if p is not None:
                        partes.append(p)
            valor = _valor(_text(_child(proc, "valorCausa")))
        dest = _child(av, "destinatario")
        out.append(AvisoLido(aviso_id, av.get("tipoComunicacao"), numero, classe, tuple(partes), valor,
                             _pessoa(dest, None) if dest is not None else None,
                             mni_datetime(_text(_child(av, "dataDisponibilizacao"))),
                             etree.tostring(av, encoding="UTF-8")))
    return out


def disponibilizacao_of(aviso_xml: bytes) -> datetime | None:
    """The ``dataDisponibilizacao`` of a stored ``aviso`` element (its exact bytes, as :func:`read_avisos` keeps
    them) as an aware datetime in Brasília time, or None when absent or unreadable."""
    el = etree.fromstring(aviso_xml, etree.XMLParser(resolve_entities=False, no_network=True))
    return mni_datetime(_text(_child(el, "dataDisponibilizacao")))


def comunicacao_of(answer: etree._Element, aviso_id: str) -> bytes | None:
    """The exact bytes of the ``comunicacao`` for *aviso_id* in a ``consultarTeorComunicacaoResposta`` (*answer*):
    the one whose ``id`` is the aviso's, else the only one; None when there is none."""
    found = _children(answer, "comunicacao")
    chosen = next((c for c in found if c.get("id") == aviso_id), found[0] if len(found) == 1 else None)
    return etree.tostring(chosen, encoding="UTF-8") if chosen is not None else None


def teor_json(comunicacao: bytes) -> dict[str, Any]:
    """The content of a stored ``comunicacao`` as the REST API gives it: ``teor``, ``prazo`` (days, or None),
    ``tipoPrazo``, ``tipoComunicacao``, ``dataReferencia`` and ``documentos`` (id, type, description, mimetype,
    hash) — plus the element itself, ``comunicacaoXml``."""
    el = etree.fromstring(comunicacao, etree.XMLParser(resolve_entities=False, no_network=True))
    prazo = el.get("prazo")
    return {
        "tipoComunicacao": el.get("tipoComunicacao"),
        "teor": _text(_child(el, "teor")),
        "prazo": int(prazo) if prazo and prazo.isdigit() else None,
        "tipoPrazo": el.get("tipoPrazo"),
        "dataReferencia": el.get("dataReferencia"),
        "documentos": [{"idDocumento": d.get("idDocumento"), "tipoDocumento": d.get("tipoDocumento"),
                        "descricao": d.get("descricao"), "mimetype": d.get("mimetype"), "hash": d.get("hash")}
                       for d in _children(el, "documento")],
        "comunicacaoXml": comunicacao.decode("utf-8"),
    }


def partes_json(partes: tuple[Parte, ...] | list[Parte]) -> str:
    """The stored JSON of *partes*."""
    return json.dumps([{"polo": p.polo, "nome": p.nome, "documento": p.documento} for p in partes],
                      ensure_ascii=False)


def partes_of(raw: str | None) -> tuple[Parte, ...]:
    """The parties stored by :func:`partes_json`."""
    return tuple(Parte(p.get("polo"), p.get("nome") or "", p.get("documento")) for p in json.loads(raw or "[]"))


# -- REST -----------------------------------------------------------------------------------------------------------


class ParteJson(BaseModel):
    """A party of the process."""

    polo: str | None = Field(description="AT (ativo), PA (passivo)…")
    nome: str
    documento: str | None = Field(description="CPF ou CNPJ, quando o tribunal o informou")


class Intimacao(BaseModel):
    """An intimation as listed (no content: listing does not take notice)."""

    id: str
    numeroProcesso: str | None
    tribunal: str = Field(description="J.TR", examples=["4.04"])
    instancia: str
    idAviso: str
    tipoComunicacao: str | None = Field(description="INT (intimação), CIT (citação)…")
    classeProcessual: int | None
    valorCausa: str | None = Field(description="decimal com ponto")
    partes: list[ParteJson]
    disponibilizadaEm: str = Field(description=ISO)
    situacao: str = Field(description="pendente | ciente | ciencia_tacita")
    cienciaPresumidaEm: str = Field(description="dia em que a ciência se presume feita se não aberta antes "
                                                "(Lei 11.419/2006 art. 5º §3º), AAAA-MM-DD")
    cienciaEm: str | None = Field(description="quando a procuradoria abriu a intimação (" + ISO + "), ou null")
    cienciaEfetivaEm: str | None = Field(description="dia do qual a ciência conta (aberta, ou presumida), ou null")
    coletadaEm: str = Field(description=ISO)


class PaginaIntimacoes(BaseModel):
    """A page of the listing; ``proximo`` is null on the last page."""

    itens: list[Intimacao]
    proximo: str | None


class Documento(BaseModel):
    """A document of the communication (metadata: its content is read from the court by consultarProcesso)."""

    idDocumento: str | None
    tipoDocumento: str | None
    descricao: str | None
    mimetype: str | None
    hash: str | None


class Ciencia(BaseModel):
    """The content of an intimation whose ciência was taken (the same on every call)."""

    intimacao: Intimacao
    teor: str | None
    prazo: int | None = Field(description="prazo em dias (tipoPrazo), quando o tribunal o informou")
    tipoPrazo: str | None
    dataReferencia: str | None
    documentos: list[Documento]
    comunicacaoXml: str = Field(description="o elemento comunicacao como o tribunal o respondeu (bytes exatos)")
    repetida: bool = Field(description="true quando a ciência já tinha sido tomada: o tribunal não foi chamado")


class NovoCallback(BaseModel):
    """Where to announce new intimations (one URL per procuradoria; a new one replaces the old)."""

    url: str = Field(examples=["https://pgfn.example/intimacoes/eventos"])


class Callback(BaseModel):
    """A procuradoria's callback: the secret only when it is created."""

    url: str
    posicao: int = Field(description="última intimação anunciada com 2xx do receptor")
    tentativas: int
    ultimoErro: str | None
    segredo: str | None = Field(None, description="chave HMAC-SHA256 de X-Gateway-Assinatura (só na criação)")
