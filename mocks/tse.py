"""Simulator of the TSE INFODIP store: SOAP 1.1 (its own WSDL), batches, deduplication by message id.

Run alone: ``python -m mocks.tse --port 8081``; WSDL at ``/?wsdl``. Contract:
``schemas/partners/tse-infodip/1.0/tse-infodip-1.0.wsdl``.
"""

from __future__ import annotations

import sys
from pathlib import Path
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

    async def get(request: web.Request) -> web.Response:
        if "wsdl" in request.query or "WSDL" in request.query:
            return web.Response(text=wsdl, content_type="text/xml")
        return web.Response(text="Repositório INFODIP (simulador). WSDL em /?wsdl\n")

    async def post(request: web.Request) -> web.Response:
        try:
            root = etree.fromstring(await request.read(), _PARSER)
        except etree.XMLSyntaxError as exc:
            return _fault("soap:Client", f"XML malformado: {exc}")
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
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m mocks.tse``."""
    return serve(create_app, "Simulador do repositório INFODIP (TSE)", argv)


if __name__ == "__main__":
    sys.exit(main())
