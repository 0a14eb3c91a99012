"""Synthetic monthly death batches (sandbox, tests, bench, ``gateway obitos gerar``): fictitious people with valid
identifiers — CPF (mod 11), título de eleitor (DOMAIN.md §3), matrícula (Prov. CNJ 149/2023 art. 473) — written
as a JSON body (REST) or a SOAP 1.1 ``enviarLoteObitos`` request, streamed to a file (any size, constant memory).
"""

from __future__ import annotations

import calendar
import json
import random
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import IO
from xml.sax.saxutils import escape

from gateway import identifiers as ids
from gateway.obitos.contract import FIELDS, NS
from gateway.obitos.domain import matricula_check_digits

_FIRST = ("Maria", "José", "Ana", "João", "Antônia", "Francisco", "Francisca", "Carlos", "Adriana", "Paulo",
          "Juliana", "Pedro", "Márcia", "Lucas", "Fernanda", "Luiz", "Patrícia", "Marcos", "Aline", "Raimundo")
_LAST = ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
         "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa")
#: IBGE codes of some capitals (Rio de Janeiro, São Paulo, Belo Horizonte, Salvador, Porto Alegre)
#: the placeholder the sandbox replaces with the real password (as in the INFODIP samples)
SANDBOX_PASSWORD = "SENHA-DO-SANDBOX"
_MUNICIPIOS = ("3304557", "3550308", "3106200", "2927408", "4314902")


def matricula(cns: str, year: int, book_type: str, book: int, folha: int, termo: int) -> str:
    """A valid 32-digit matrícula of the civil registry of natural persons (acervo 01)."""
    first30 = f"{cns}0155{year:04d}{book_type}{book:05d}{folha:03d}{termo:07d}"
    return first30 + matricula_check_digits(first30)


def cpf(rng: random.Random) -> str:
    """A valid CPF (not all digits equal)."""
    while True:
        base = f"{rng.randrange(10**9):09d}"
        if len(set(base)) > 1:
            return base + ids.cpf_check_digits(base)


def titulo(rng: random.Random) -> str:
    """A valid título de eleitor of Rio de Janeiro (UF 03)."""
    seq = f"{rng.randrange(10**8):08d}"
    return seq + "03" + ids.titulo_eleitor_check_digits(seq, "03")


def records(n: int, cns: Sequence[str], competencia: str, seed: int = 13) -> Iterator[dict[str, str]]:
    """*n* synthetic deaths of the month *competencia* (``AAAA-MM``), spread over the cartórios *cns*, each
    registered on the day of the death or up to 3 days later (within the month's last day), 1 in 10 without a CPF
    (then with mother's name and birth date, as the rule requires)."""
    rng = random.Random(seed)
    year, month = (int(x) for x in competencia.split("-"))
    last = calendar.monthrange(year, month)[1]
    for i in range(n):
        day = date(year, month, rng.randint(1, last))
        registered = min(day + timedelta(days=rng.randint(0, 3)), date(year, month, last))
        c = cns[i % len(cns)]
        born = date(rng.randint(1925, 2005), rng.randint(1, 12), rng.randint(1, 28))
        rec = {
            "matricula": matricula(c, registered.year, "4", 1 + i // 300_000, 1 + (i // 1000) % 300,
                                   i + 1),
            "nome": f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {rng.choice(_LAST)}",
            "dataNascimento": born.isoformat(),
            "nomeMae": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "nomePai": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "sexo": rng.choice("MF"),
            "dataObito": day.isoformat(),
            "municipioObito": rng.choice(_MUNICIPIOS),
            "cnsCartorio": c,
            "dataRegistro": registered.isoformat(),
        }
        if i % 10:
            rec["cpf"] = cpf(rng)
        if i % 3 == 0:
            rec["tituloEleitor"] = titulo(rng)
        yield rec


def write_json(out: IO[str], lote_id: str, competencia: str, recs: Iterator[dict[str, str]]) -> int:
    """The REST body, streamed; returns how many records were written."""
    out.write(json.dumps({"idLote": lote_id, "competencia": competencia})[:-1] + ', "registros": [\n')
    n = 0
    for rec in recs:
        out.write(("" if n == 0 else ",\n") + json.dumps(rec, ensure_ascii=False))
        n += 1
    out.write("\n]}\n")
    return n


def registro_xml(rec: dict[str, str]) -> str:
    """One ``registro`` element (fields in the XSD's order)."""
    return "<crc:registro>" + "".join(f"<crc:{k}>{escape(rec[k])}</crc:{k}>" for k in FIELDS if k in rec) + \
        "</crc:registro>"


def write_soap(out: IO[str], lote_id: str, competencia: str, recs: Iterator[dict[str, str]],
               username: str = "crc-nacional", password: str = SANDBOX_PASSWORD) -> int:
    """The SOAP 1.1 ``enviarLoteObitos`` request with a UsernameToken, streamed; returns how many records."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
              f'xmlns:crc="{NS}"><soap:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
              'oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken>'
              f"<wsse:Username>{escape(username)}</wsse:Username><wsse:Password Type=\"http://docs.oasis-open.org/"
              'wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">'
              f"{escape(password)}</wsse:Password></wsse:UsernameToken></wsse:Security></soap:Header><soap:Body>"
              f"<crc:enviarLoteObitos><crc:idLote>{escape(lote_id)}</crc:idLote>"
              f"<crc:competencia>{competencia}</crc:competencia>\n")
    n = 0
    for rec in recs:
        out.write(registro_xml(rec) + "\n")
        n += 1
    out.write("</crc:enviarLoteObitos></soap:Body></soap:Envelope>\n")
    return n
