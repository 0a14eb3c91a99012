"""The CRC SOAP 1.1 edge: ``/soap/crc`` (POST), its WSDL (``?wsdl``) and XSD (``?xsd=crc-1.0.xsd``).

Thin: authenticate the UsernameToken as soon as the envelope's Header has arrived (``contract.EnvelopeHead``: a bad
credential is answered before the batch is read), spool the body, read the envelope up to the operation's data with
the hardened ``iterparse`` (``gateway/obitos/contract.py``), call the service, answer — every error of the
gateway's tree is a Fault with ``tns:erros`` in its detail, as ``/soap/infodip`` does.
"""

from __future__ import annotations

import asyncio
import logging
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Authenticator, Caller
from gateway.edges.forwarded import BadHost, Forwarding
from gateway.edges.soap_infodip import bad_host, overloaded_headers, public_url, served_wsdl
from gateway.edges.spool import discard, spool
from gateway.errors import AuthenticationFailed, GatewayError, ServerError, ValidationFailed
from gateway.metrics import Metrics
from gateway.obitos import contract
from gateway.obitos.service import PAGE_MAX, BatchView, ObitosService
from gateway.schemas import CRC_WSDL, CRC_XSD
from gateway.xml.soap import UsernameToken, envelope, fault

log = logging.getLogger("gateway.obitos")
XML = "text/xml; charset=utf-8"
ENDPOINT = "/soap/crc"
NS = contract.NS


def errors_detail(error: GatewayError) -> str:
    """The ``erros`` element of a Fault's detail."""
    field = f"<c:campo>{escape(error.field)}</c:campo>" if error.field else ""
    return (f'<c:erros xmlns:c="{NS}"><c:erro><c:codigo>{error.code}</c:codigo>{field}'
            f"<c:mensagem>{escape(error.message)}</c:mensagem></c:erro></c:erros>")


def _opt(name: str, value: object) -> str:
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"<c:{name}>{escape(text)}</c:{name}>"


def situacao_xml(view: BatchView) -> str:
    """The ``tipoSituacaoLote`` content."""
    parts = [_opt("idLote", view.lote_id), _opt("competencia", view.competencia), _opt("situacao", view.status),
             _opt("total", view.total), _opt("processados", view.processed),
             _opt("aceitos", view.counts["aceito"]), _opt("duplicados", view.counts["duplicado"]),
             _opt("vinculados", view.counts["vinculado"]), _opt("rejeitados", view.counts["rejeitado"]),
             _opt("atrasados", view.late), _opt("reenvio", view.replay)]
    for o in view.outcomes:
        parts.append("<c:resultado>" + "".join((
            _opt("sequencia", o.seq), _opt("resultado", o.outcome), _opt("matricula", o.matricula),
            _opt("protocolo", o.protocol), _opt("protocoloAnterior", o.earlier), _opt("codigo", o.code),
            _opt("campo", o.field), _opt("mensagem", o.message),
            _opt("dataLimite", o.due_date.isoformat() if o.due_date else None),
            _opt("diasAtraso", o.days_late if o.due_date else None), _opt("municipioObito", o.municipio_ibge),
            _opt("dataRegistro", o.data_registro.isoformat() if o.data_registro else None))) + "</c:resultado>")
    parts.append(_opt("proximo", view.next_cursor))
    return "".join(parts)


def _response(operation: str, inner: str) -> bytes:
    return envelope(f'<c:{operation}Resposta xmlns:c="{NS}">{inner}</c:{operation}Resposta>')


class CrcEndpoint:
    """ASGI-level handler of ``/soap/crc``."""

    def __init__(self, service: ObitosService, auth: Authenticator, metrics: Metrics,
                 forwarding: Forwarding | None = None) -> None:
        self.service = service
        self.auth = auth
        self.metrics = metrics
        self.forwarding = forwarding or Forwarding()

    async def get(self, request: Request) -> Response:
        """``?wsdl`` and ``?xsd=crc-1.0.xsd``."""
        params = request.query_params
        if "wsdl" in params or "WSDL" in params:
            try:
                address = public_url(request, ENDPOINT, self.forwarding)
            except BadHost as exc:
                return bad_host(exc)
            return Response(served_wsdl(str(CRC_WSDL), address), media_type=XML)
        if params.get("xsd") == CRC_XSD.name:
            return Response(CRC_XSD.read_bytes(), media_type=XML)
        return Response("Use POST (SOAP 1.1), ?wsdl ou ?xsd=crc-1.0.xsd.\n", status_code=404, media_type="text/plain")

    async def _authenticate(self, tokens: list[UsernameToken]) -> Caller:
        """The sender of the envelope's UsernameTokens. Errors: INFODIP-E025 (two identities), the
        authenticator's (E020–E024)."""
        if len({(t.username, t.password) for t in tokens}) > 1:
            raise AuthenticationFailed("INFODIP-E025", field="Header/Security")
        return await self.auth.authenticate(tokens[0] if tokens else None)

    async def post(self, request: Request) -> Response:
        """One SOAP call."""
        settings = self.service.settings
        path = None
        handed = False
        try:
            head = contract.EnvelopeHead()
            authenticated: list[Caller] = []

            async def gate(piece: bytes | None) -> bool:
                # the sender is authenticated as soon as the Header is read, before the batch is spooled
                if not (head.feed(piece) if piece is not None else head.end()):
                    return False
                authenticated.append(await self._authenticate(head.tokens))
                return True

            path = await spool(request, settings.obitos_max_body_bytes, settings.obitos_spool_dir, gate=gate)
            loop = asyncio.get_running_loop()
            call = await loop.run_in_executor(None, contract.read_call, path)
            caller = authenticated[0] if authenticated else await self._authenticate(list(call.tokens))
            if call.operation == contract.ENVIAR:
                spooled = path
                handed = True
                view = await self.service.receive(caller, lambda: contract.XmlBatch(spooled, call), "soap",
                                                  on_done=lambda: discard(spooled), spooled=spooled)
                body = _response(call.operation, situacao_xml(view))
            elif call.operation == contract.CONSULTAR:
                limit = call.fields.get("limite") or "100"
                if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= PAGE_MAX:
                    raise ValidationFailed("INFODIP-E076", f"limite deve estar entre 1 e {PAGE_MAX}.", field="limite")
                view = await loop.run_in_executor(None, self.service.view, caller, call.fields.get("idLote", ""),
                                                  call.fields.get("cursor"), int(limit))
                body = _response(call.operation, situacao_xml(view))
            else:
                cns, comp = call.fields.get("cnsCartorio", ""), call.fields.get("competencia", "")
                made = await self.service.declare_none(caller, cns, comp)
                body = _response(call.operation, _opt("cnsCartorio", cns) + _opt("competencia", comp)
                                 + _opt("registrada", made))
            return Response(body, media_type=XML)
        except GatewayError as exc:
            self.metrics.rejected.labels("soap_crc", exc.code).inc()
            if isinstance(exc, ServerError):
                log.error("crc server error %s", exc)
            return Response(fault(exc, errors_detail(exc)), media_type=XML, status_code=500,
                            headers=overloaded_headers(exc))
        except Exception:
            log.exception("unexpected error in /soap/crc")
            err = ServerError("INFODIP-E090")
            return Response(fault(err, errors_detail(err)), status_code=500, media_type=XML)
        finally:
            if path is not None and not handed:
                discard(path)
