"""The adapters' one error boundary, in-process over httpx's own mock transport: transport failures, HTTP
statuses and unreadable answers become the partner errors of ``gateway/errors.py`` with the right ``retryable``
flag; our own bugs (TypeError, KeyError, AttributeError…) are never translated into a partner's failure."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable

import httpx
import pytest

from adapters.base import OutboundMessage, translating
from adapters.cnj import CnjAdapter
from adapters.tse import NS, SOAP, TseAdapter
from gateway.errors import (
    PartnerError,
    PartnerRefused,
    PartnerTimeout,
    PartnerUnreachable,
    PartnerUnreadable,
)

Handler = Callable[[httpx.Request], httpx.Response]
BATCH = [OutboundMessage(f"id-{n}", "20260105-ABCDEFGHJKMN", 1, "envio", "VI", "RCPN-097543",
                         dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC), b"<c>1</c>") for n in range(2)]


def deliver(kind: str, handler: Handler, url: str = "http://parceiro.test") -> object:
    """Deliver :data:`BATCH` through adapter *kind* ("tse" or "cnj") whose HTTP calls *handler* answers."""
    async def run() -> object:
        transport = httpx.MockTransport(handler)
        adapter = TseAdapter(url, transport=transport) if kind == "tse" else CnjAdapter(url, transport=transport)
        try:
            return await adapter.deliver(BATCH)
        finally:
            await adapter.aclose()
    return asyncio.run(run())


def raising(exc: Exception) -> Handler:
    """A handler failing the way the network would."""
    def handler(_request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


def answering(status: int, content: bytes, content_type: str = "application/json") -> Handler:
    """A handler answering *content* with *status*."""
    return lambda _request: httpx.Response(status, content=content, headers={"Content-Type": content_type})


def tse_answer(results: str) -> bytes:
    """A ``registrarComunicacoesResposta`` envelope holding *results*."""
    return (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><t:registrarComunicacoesResposta xmlns:t="{NS}">'
            f"{results}</t:registrarComunicacoesResposta></soap:Body></soap:Envelope>").encode()


def tse_result(message_id: str, situacao: str, extra: str = "") -> str:
    """One ``resultado`` element."""
    return (f"<t:resultado><t:idMensagem>{message_id}</t:idMensagem><t:situacao>{situacao}</t:situacao>{extra}"
            "</t:resultado>")


def cnj_answer(results: object) -> bytes:
    """A CNJ answer body."""
    return json.dumps({"resultados": results}).encode()


@pytest.mark.parametrize("kind", ["tse", "cnj"])
@pytest.mark.parametrize(("exc", "expected"), [
    (httpx.ConnectError("connection refused"), PartnerUnreachable),
    (httpx.ConnectTimeout("connect timed out"), PartnerUnreachable),
    (httpx.PoolTimeout("no free connection"), PartnerUnreachable),
    (httpx.ReadTimeout("read timed out"), PartnerTimeout),
    (httpx.WriteTimeout("write timed out"), PartnerTimeout),
    (httpx.RemoteProtocolError("server disconnected without sending a response"), PartnerTimeout),
    (httpx.ReadError("connection reset by peer"), PartnerTimeout),
])
def test_transport_failures_are_unreachable_when_nothing_was_sent_and_timeouts_otherwise(
    kind: str, exc: Exception, expected: type[PartnerError]
) -> None:
    """A connection never made is PartnerUnreachable (nothing sent); a timeout or a connection dropped after
    sending is PartnerTimeout (the outcome is unknown). Both are retryable and name the partner."""
    with pytest.raises(expected) as err:
        deliver(kind, raising(exc))
    assert err.value.retryable and err.value.partner == kind.upper()


def test_a_url_that_cannot_be_used_is_unreachable() -> None:
    """A partner URL httpx cannot parse, or whose scheme it does not speak (no connection is attempted), is
    PartnerUnreachable: nothing was sent."""
    with pytest.raises(PartnerUnreachable):
        deliver("cnj", answering(200, b"{}"), url="http://[::1")

    async def unsupported() -> None:
        adapter = TseAdapter("ftp://parceiro.test")
        try:
            await adapter.deliver(BATCH)
        finally:
            await adapter.aclose()

    with pytest.raises(PartnerUnreachable):
        asyncio.run(unsupported())


@pytest.mark.parametrize("kind", ["tse", "cnj"])
@pytest.mark.parametrize(("status", "expected", "retryable"), [
    (400, PartnerRefused, False),
    (422, PartnerRefused, False),
    (408, PartnerTimeout, True),
    (504, PartnerTimeout, True),
    (429, PartnerError, True),
    (503, PartnerError, True),
    (500, PartnerError, True),
    (501, PartnerError, False),
])
def test_http_statuses(kind: str, status: int, expected: type[PartnerError], retryable: bool) -> None:
    """A 4xx refusal is PartnerRefused and not retryable; 408/504 are timeouts; 429 and most 5xx ask to try again
    later; 501 will not change."""
    with pytest.raises(expected) as err:
        deliver(kind, answering(status, b"", "text/plain"))
    assert err.value.retryable is retryable and f"HTTP {status}" in err.value.message
    if expected is PartnerError:
        assert not isinstance(err.value, PartnerRefused)


@pytest.mark.parametrize("body", [
    b"<html>502 Bad Gateway",
    b"\xff\xfe\x00garbage",
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>',
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x/></soap:Body></soap:Envelope>',
    tse_answer(tse_result("id-0", "registrado") + "<t:resultado><t:situacao>registrado</t:situacao></t:resultado>"),
    tse_answer(tse_result("id-0", "registrado") + tse_result("id-1", "talvez")),
    tse_answer(tse_result("id-0", "registrado")),
    tse_answer(tse_result("id-0", "registrado") + tse_result("id-0", "duplicado")),
], ids=["not-xml", "not-utf8", "no-body", "other-element", "no-id", "unknown-situacao", "one-missing", "id-twice"])
def test_unreadable_tse_answers_are_retryable(body: bytes) -> None:
    """Whatever the TSE answers that is not a complete, readable answer for the batch is PartnerUnreadable, and
    retryable: the store may have kept the batch, and a resend is deduplicated by message id."""
    with pytest.raises(PartnerUnreadable) as err:
        deliver("tse", answering(200, body, "text/xml"))
    assert err.value.retryable and err.value.code == "GATEWAY-E013"


@pytest.mark.parametrize("body", [
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"[1, 2]",
    b'{"resultados": {"idMensagem": "id-0"}}',
    cnj_answer([{"idMensagem": "id-0", "situacao": "registrado"}, {"situacao": "registrado"}]),
    cnj_answer([{"idMensagem": "id-0", "situacao": "registrado"}, "id-1"]),
    cnj_answer([{"idMensagem": "id-0", "situacao": "registrado"}, {"idMensagem": "id-1"}]),
    cnj_answer([{"idMensagem": "id-0", "situacao": "registrado"}]),
], ids=["not-json", "not-utf8", "a-list", "not-a-list", "no-id", "not-an-object", "no-situacao", "one-missing"])
def test_unreadable_cnj_answers_are_retryable(body: bytes) -> None:
    """Whatever the CNJ answers that is not a complete, readable answer for the batch is PartnerUnreadable, and
    retryable."""
    with pytest.raises(PartnerUnreadable) as err:
        deliver("cnj", answering(200, body))
    assert err.value.retryable


def test_tse_faults_refuse_or_ask_to_retry() -> None:
    """A ``soap:Client`` Fault is the store refusing the batch (not retryable); a ``soap:Server`` Fault is its own
    failure (retryable)."""
    def fault(code: str) -> bytes:
        return (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode>'
                "<faultstring>falhou</faultstring></soap:Fault></soap:Body></soap:Envelope>").encode()

    with pytest.raises(PartnerRefused) as refused:
        deliver("tse", answering(500, fault("Client"), "text/xml"))
    assert not refused.value.retryable
    with pytest.raises(PartnerError) as failed:
        deliver("tse", answering(500, fault("Server"), "text/xml"))
    assert failed.value.retryable and not isinstance(failed.value, PartnerRefused)


def test_readable_answers_give_one_result_per_message() -> None:
    """Registered and duplicate messages are delivered with their receipts; a ``rejeitado`` one is a
    non-retryable refusal of that message alone, with the store's reason."""
    tse = deliver("tse", answering(200, tse_answer(
        tse_result("id-0", "duplicado", "<t:recibo>R0</t:recibo>")
        + tse_result("id-1", "rejeitado", "<t:motivo>sem conteúdo</t:motivo>")), "text/xml"))
    cnj = deliver("cnj", answering(200, cnj_answer([
        {"idMensagem": "id-1", "situacao": "rejeitado", "motivo": "sem conteúdo"},
        {"idMensagem": "id-0", "situacao": "registrado", "recibo": "R0"}])))
    for results in (tse, cnj):
        by_id = {r.message_id: r for r in results}  # type: ignore[attr-defined]
        assert by_id["id-0"].ok and by_id["id-0"].receipt == "R0"
        assert not by_id["id-1"].ok and not by_id["id-1"].retryable and "sem conteúdo" in by_id["id-1"].error


@pytest.mark.parametrize("bug", [TypeError("bad operand"), KeyError("situacao"), AttributeError("no attribute"),
                                 ValueError("ours")])
def test_our_bugs_are_never_translated_into_partner_errors(bug: Exception) -> None:
    """A programming error inside the boundary propagates as itself — from our code, and from inside an
    HTTP call — so it can never end as a dead letter blaming the partner."""
    with pytest.raises(type(bug)):
        with translating("TSE"):
            raise bug
    with pytest.raises(type(bug)):
        deliver("cnj", raising(bug))
