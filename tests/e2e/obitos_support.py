"""Helpers of the death-batch tests: batches built from the synthetic generator, a gateway with small chunks."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from gateway.bootstrap import console
from gateway.obitos import synthetic
from gateway.obitos.domain import matricula_check_digits
from gateway.settings import Settings
from tests.support import KDF_N, password_of, recent_day

CARTORIO, CRC = "rcpn-rj-capital-01", "crc-nacional"
#: settings of the test gateways: chunks of 50 records, answered at once up to 100, refused beyond 3000
ENV = {"GATEWAY_OBITOS_CHUNK_RECORDS": "50", "GATEWAY_OBITOS_SYNC_MAX": "100", "GATEWAY_OBITOS_MAX_RECORDS": "3000"}


def grant(db_url: str) -> None:
    """Give the registries the scope ``obitos:enviar`` and the TJRJ ``relatorios:ler``."""
    with console(Settings.from_env({}, database_url=db_url, password_kdf_n=KDF_N)) as con:
        con.admin.grant("RCPN-097543", ["obitos:enviar"])
        con.admin.grant("CRC", ["obitos:enviar"])
        con.admin.grant("TJRJ", ["relatorios:ler"])


def last_month() -> str:
    """The competência before this month's (in Brasília)."""
    first = recent_day(0).replace(day=1)
    prev = first - timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


def recs(n: int, cns: tuple[str, ...] = ("097543",), competencia: str | None = None, seed: int = 1,
         first_termo: int = 1) -> list[dict[str, Any]]:
    """*n* valid synthetic records with matrículas from termo *first_termo* on (unique per test)."""
    out = []
    for i, rec in enumerate(synthetic.records(n, cns, competencia or last_month(), seed)):
        rec = dict(rec)
        reg = date.fromisoformat(rec["dataRegistro"])
        rec["matricula"] = synthetic.matricula(rec["cnsCartorio"], reg.year, "4", 1, 1, first_termo + i)
        out.append(rec)
    return out


def with_book(rec: dict[str, Any], book_type: str) -> dict[str, Any]:
    """*rec* with its matrícula's book type changed (check digits recomputed)."""
    m = rec["matricula"]
    first30 = m[:14] + book_type + m[15:30]
    return {**rec, "matricula": first30 + matricula_check_digits(first30)}


def on_date(rec: dict[str, Any], day: date) -> dict[str, Any]:
    """*rec* died and registered on *day* (the matrícula's year follows the registration)."""
    m = rec["matricula"]
    first30 = m[:10] + f"{day.year:04d}" + m[14:30]
    return {**rec, "dataObito": day.isoformat(), "dataRegistro": day.isoformat(),
            "matricula": first30 + matricula_check_digits(first30)}


def body(lote_id: str, records: list[dict[str, Any]], competencia: str | None = None) -> bytes:
    """The REST body."""
    return json.dumps({"idLote": lote_id, "competencia": competencia or last_month(),
                       "registros": records}).encode()


def soap_body(lote_id: str, records: list[dict[str, Any]], user: str = CRC, competencia: str | None = None) -> bytes:
    """The SOAP enviarLoteObitos request."""
    out = io.StringIO()
    synthetic.write_soap(out, lote_id, competencia or last_month(), iter(records), user, password_of(user))
    return out.getvalue().encode()


def soap_call(operation: str, inner: str, user: str = CRC) -> bytes:
    """Another CRC operation (consultarLote, declararSemObitos)."""
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:crc="urn:gateway-interop:crc:1.0"><soap:Header><wsse:Security xmlns:wsse="http://docs.oasis-open'
            '.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken>'
            f'<wsse:Username>{user}</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/'
            f'oasis-200401-wss-username-token-profile-1.0#PasswordText">{password_of(user)}</wsse:Password>'
            f"</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body><crc:{operation}>{inner}</crc:{operation}>"
            "</soap:Body></soap:Envelope>").encode()


def post_batch(url: str, data: bytes, user: str = CARTORIO) -> httpx.Response:
    """POST a JSON batch with HTTP Basic."""
    return httpx.post(url + "/api/v1/obitos/lotes", content=data, auth=(user, password_of(user)),
                      headers={"Content-Type": "application/json"}, timeout=120)


def get_batch(url: str, lote_id: str, user: str = CARTORIO, **params: Any) -> httpx.Response:
    """GET a batch's progress/outcomes."""
    return httpx.get(f"{url}/api/v1/obitos/lotes/{lote_id}", params=params, auth=(user, password_of(user)),
                     timeout=30)


def all_outcomes(url: str, lote_id: str, user: str = CARTORIO) -> list[dict[str, Any]]:
    """Every outcome of a concluded batch, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limite": 1000}
        if cursor:
            params["cursor"] = cursor
        page = get_batch(url, lote_id, user, **params).json()
        items.extend(page["itens"])
        cursor = page["proximo"]
        if not cursor:
            return items


__all__ = ["Path"]
