"""Simulator of the TSE INFODIP store: SOAP 1.1 (its own WSDL), batches, deduplication by message id.

Run alone: ``python -m mocks.tse --port 8081``; WSDL at ``/?wsdl``. Contract:
``schemas/partners/tse-infodip/1.0/tse-infodip-1.0.wsdl``.

Processing (DOMAIN.md §2a): after registering a version the store processes it on its own time; the gateway asks
``consultarProcessamento`` what it did. The simulator answers ``pendente`` until ``atrasoMs`` after the registration,
then the outcome steered by ``POST /_mock/processamento`` ``{"padrao": "processado", "porMensagem": {id: outcome},
"atrasoMs": 0}`` (outcomes: ``processado``, ``eleitor-nao-encontrado``, ``revisao-manual``); ``desconhecido`` for an
id it never registered. Reset restores the defaults.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree

from mocks.common import MockState, mock_app, serve

NS = "urn:gateway-interop:tse-infodip:1.0"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL = Path(__file__).resolve().parent.parent / "schemas" / "partners" / "tse-infodip" / "1.0" / "tse-infodip-1.0.wsdl"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _fault(code: str, text: str) -> web.Response:
    body = (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault><faultcode>{code}</faultcode>'
            f"<faultstring>{escape(text)}</faultstring></soap:Fault></soap:Body></soap:Envelope>")
    return web.Response(status=500, body=body.encode(), content_type="text/xml", charset="utf-8")


def create_app(url: str) -> web.Application:
    """The TSE simulator answering at *url*."""
    state = MockState("tse")
    app = mock_app(state)
    wsdl = WSDL.read_text(encoding="utf-8").replace("http://127.0.0.1:8081/", url + "/")
    steering: dict[str, Any] = {"padrao": "processado", "porMensagem": {}, "atrasoMs": 0}
    registered: dict[str, float] = {}  # message id → when it was first registered (monotonic)

    def restore() -> None:
        steering.update(padrao="processado", porMensagem={}, atrasoMs=0)
        registered.clear()

    state.on_reset.append(restore)

    async def steer(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            assert isinstance(body, dict) and isinstance(body.get("porMensagem", {}), dict)
        except (ValueError, AssertionError):
            return web.json_response({"erro": "esperado {padrao, porMensagem, atrasoMs}"}, status=400)
        for key in ("padrao", "atrasoMs"):
            if key in body:
                steering[key] = body[key]
        steering["porMensagem"].update(body.get("porMensagem", {}))
        return web.json_response(steering)

    def outcomes(op: etree._Element) -> web.Response:
        items = []
        for el in op.iterfind(f"{{{NS}}}idMensagem"):
            message_id = (el.text or "").strip()
            at = registered.get(message_id)
            if at is None:
                items.append(f"<t:processamento><t:idMensagem>{escape(message_id)}</t:idMensagem>"
                             "<t:situacao>desconhecido</t:situacao></t:processamento>")
                continue
            if (time.monotonic() - at) * 1000 < float(steering["atrasoMs"]):
                items.append(f"<t:processamento><t:idMensagem>{escape(message_id)}</t:idMensagem>"
                             "<t:situacao>pendente</t:situacao></t:processamento>")
                continue
            outcome = steering["porMensagem"].get(message_id, steering["padrao"])
            why = {"eleitor-nao-encontrado": "nenhuma inscrição corresponde aos dados da pessoa",
                   "revisao-manual": "dados insuficientes para o processamento automático"}.get(outcome)
            items.append(f"<t:processamento><t:idMensagem>{escape(message_id)}</t:idMensagem>"
                         f"<t:situacao>{escape(outcome)}</t:situacao>"
                         f"<t:dataProcessamento>{datetime.now(UTC).isoformat()}</t:dataProcessamento>"
                         + (f"<t:motivo>{escape(why)}</t:motivo>" if why else "") + "</t:processamento>")
        body = (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
                f'<t:consultarProcessamentoResposta xmlns:t="{NS}">{"".join(items)}'
                "</t:consultarProcessamentoResposta></soap:Body></soap:Envelope>")
        return web.Response(body=body.encode(), content_type="text/xml", charset="utf-8")

    async def get(request: web.Request) -> web.Response:
        if "wsdl" in request.query or "WSDL" in request.query:
            return web.Response(text=wsdl, content_type="text/xml")
        return web.Response(text="Repositório INFODIP (simulador). WSDL em /?wsdl\n")

    async def post(request: web.Request) -> web.Response:
        try:
            root = etree.fromstring(await request.read(), _PARSER)
        except etree.XMLSyntaxError as exc:
            return _fault("soap:Client", f"XML malformado: {exc}")
        asked = root.find(f"{{{SOAP}}}Body/{{{NS}}}consultarProcessamento")
        if asked is not None:
            return outcomes(asked)
        op = root.find(f"{{{SOAP}}}Body/{{{NS}}}registrarComunicacoes")
        if op is None:
            return _fault("soap:Client", "operação desconhecida")
        results: list[tuple[str, str, str | None, str | None]] = []
        for reg in op.iterfind(f"{{{NS}}}registro"):
            message_id = (reg.findtext(f"{{{NS}}}idMensagem") or "").strip()
            content = reg.find(f"{{{NS}}}conteudo")
            if not message_id or content is None or len(content) != 1:
                results.append((message_id, "rejeitado", None, "registro sem idMensagem ou sem conteúdo"))
                continue
            receipt, duplicate = state.record(
                message_id, "registrarComunicacoes", etree.tostring(content[0], method="c14n", exclusive=True).decode(),
                protocolo=reg.findtext(f"{{{NS}}}protocolo"), versao=reg.findtext(f"{{{NS}}}versao"),
                operacao_infodip=reg.findtext(f"{{{NS}}}operacao"), tipo=reg.findtext(f"{{{NS}}}tipo"))
            registered.setdefault(message_id, time.monotonic())
            results.append((message_id, "duplicado" if duplicate else "registrado", receipt, None))
        out = "".join(
            f"<t:resultado><t:idMensagem>{escape(m)}</t:idMensagem><t:situacao>{s}</t:situacao>"
            + (f"<t:recibo>{r}</t:recibo>" if r else "")
            + (f"<t:motivo>{escape(why)}</t:motivo>" if why else "")
            + "</t:resultado>"
            for m, s, r, why in results
        )
        body = (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
                f'<t:registrarComunicacoesResposta xmlns:t="{NS}">{out}</t:registrarComunicacoesResposta>'
                "</soap:Body></soap:Envelope>")
        return web.Response(body=body.encode(), content_type="text/xml", charset="utf-8")

    app.router.add_get("/", get)
    app.router.add_post("/", post)
    app.router.add_post("/_mock/processamento", steer)
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m mocks.tse``."""
    return serve(create_app, "Simulador do repositório INFODIP (TSE)", argv)


if __name__ == "__main__":
    sys.exit(main())
