"""The tribunal MNI client (adapters/tribunal.py) against real sockets on 127.0.0.1: each way a call can fail is
translated once into the one tree by what is known of the request's fate (nothing sent / sent, no answer /
the answer broke off)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from adapters.tribunal import AiohttpTribunalClient, FakeTribunalClient, TribunalAnswer, TribunalCall
from gateway.errors import PartnerError, PartnerTimeout, PartnerUnreachable, PartnerUnreadable

BODY = b"<soap:Envelope/>"
#: What the test tribunal does once it has read the whole request (*stop* is set when the test is over).
Behaviour = Callable[[asyncio.StreamWriter, asyncio.Event], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return head + await reader.readexactly(length)


async def _post_to(behaviour: Behaviour, timeout_s: float = 5.0) -> TribunalAnswer:
    """Serve connections with *behaviour* on a free loopback port and post to it; the server is closed after and
    must have received the whole request."""
    stop = asyncio.Event()
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            received.append(await _read_request(reader))
            await behaviour(writer, stop)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AiohttpTribunalClient(timeout_s=timeout_s, connect_timeout_s=2)
    try:
        return await client.post(f"http://127.0.0.1:{port}/pje1grau", BODY, "consultarProcesso")
    finally:
        stop.set()
        await client.aclose()
        server.close()
        await server.wait_closed()
        assert received and received[0].endswith(BODY)


async def _hold(_w: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    await asyncio.wait_for(stop.wait(), timeout=10)


async def _close(_w: asyncio.StreamWriter, _stop: asyncio.Event) -> None:
    return None


async def _truncated(w: asyncio.StreamWriter, _stop: asyncio.Event) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<soap:Envelope>")
    await w.drain()


async def _garbage_status(w: asyncio.StreamWriter, _stop: asyncio.Event) -> None:
    w.write(b"NOT HTTP AT ALL\r\n\r\n")
    await w.drain()


async def _server_error(w: asyncio.StreamWriter, _stop: asyncio.Event) -> None:
    body = b"<html>Erro interno</html>"
    w.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    await w.drain()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _post_url(url: str) -> TribunalAnswer:
    client = AiohttpTribunalClient(timeout_s=5, connect_timeout_s=2)
    try:
        return await client.post(url, BODY, "entregarManifestacaoProcessual")
    finally:
        await client.aclose()


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/pje1grau", "htp:/tribunal", "http://", "tribunal sem url",
                                 "ftp://127.0.0.1/pje"])
def test_nothing_sent_is_unreachable(url: str) -> None:
    """A refused connection, a malformed or non-HTTP URL: the request never left, so PartnerUnreachable (a filing
    is dropped and may be resent), never 'outcome unknown'."""
    with pytest.raises(PartnerUnreachable) as e:
        asyncio.run(_post_url(url.format(port=_free_port())))
    assert e.value.retryable and "tribunal inacessível" in e.value.message


def test_connection_closed_after_the_request_is_no_answer() -> None:
    """The tribunal read the whole request and closed the connection: it may have acted — PartnerTimeout."""
    with pytest.raises(PartnerTimeout) as e:
        asyncio.run(_post_to(_close))
    assert "conexão encerrada" in e.value.message


def test_no_answer_in_time_is_a_timeout() -> None:
    """The tribunal holds the request past the call's timeout: PartnerTimeout (the outcome is unknown)."""
    with pytest.raises(PartnerTimeout) as e:
        asyncio.run(_post_to(_hold, timeout_s=0.3))
    assert e.value.message == "tempo esgotado"


@pytest.mark.parametrize("behaviour", [_truncated, _garbage_status])
def test_an_answer_that_breaks_off_is_unreadable(behaviour: Behaviour) -> None:
    """A body shorter than announced, or bytes that are not HTTP: the tribunal had the request and started to
    answer — PartnerUnreadable (may have acted)."""
    with pytest.raises(PartnerUnreadable) as e:
        asyncio.run(_post_to(behaviour))
    assert "resposta interrompida" in e.value.message


def test_any_http_status_is_an_answer() -> None:
    """An HTTP 500 with a body is the tribunal's answer (the hub reads it), not a transport error."""
    answer = asyncio.run(_post_to(_server_error))
    assert (answer.status, answer.content_type, answer.body) == (500, "text/html", b"<html>Erro interno</html>")


def test_the_fake_client_records_calls_and_answers_or_fails() -> None:
    """The fake client (same interface) records each call and answers from its handler, directly or awaited, or
    raises the handler's PartnerError."""
    def handler(call: TribunalCall) -> TribunalAnswer | Awaitable[TribunalAnswer]:
        if call.operation == "consultarProcesso":
            return TribunalAnswer(200, "text/xml", b"ok")
        if call.operation == "consultarAlteracao":
            async def later() -> TribunalAnswer:
                return TribunalAnswer(200, "text/xml", b"later")
            return later()
        raise PartnerUnreachable("tribunal inacessível", retryable=True)

    async def main() -> list[object]:
        fake = FakeTribunalClient(handler)
        out: list[object] = [await fake.post("http://t/1", b"a", "consultarProcesso"),
                             await fake.post("http://t/1", b"b", "consultarAlteracao")]
        try:
            await fake.post("http://t/2", b"c", "entregarManifestacaoProcessual")
        except PartnerError as exc:
            out.append(exc)
        await fake.aclose()
        out.append((fake.closed, [(c.url, c.operation, c.body) for c in fake.calls]))
        return out

    ok, later, failed, (closed, calls) = asyncio.run(main())  # type: ignore[misc]
    assert ok == TribunalAnswer(200, "text/xml", b"ok") and later == TribunalAnswer(200, "text/xml", b"later")
    assert isinstance(failed, PartnerUnreachable) and closed
    assert calls == [("http://t/1", "consultarProcesso", b"a"), ("http://t/1", "consultarAlteracao", b"b"),
                     ("http://t/2", "entregarManifestacaoProcessual", b"c")]
