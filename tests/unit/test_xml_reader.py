"""The hardened XML reader and the SOAP envelope reader, without a server."""

from __future__ import annotations

import pytest

from gateway.errors import GatewayError, MalformedRequest, MustUnderstand, VersionMismatch
from gateway.settings import XmlLimits
from gateway.xml.reader import read_xml
from gateway.xml.soap import SOAP11_NS, read_envelope, read_username_token

LIMITS = XmlLimits(max_body_bytes=10_000, max_depth=20, max_text_bytes=1000)


def code_of(data: bytes, limits: XmlLimits = LIMITS) -> str:
    """The error code reading *data* raises."""
    with pytest.raises(GatewayError) as e:
        read_envelope(read_xml(data, limits))
    return e.value.code


@pytest.mark.parametrize(("data", "code"), [
    (b"<a><b></a>", "INFODIP-E001"),
    (b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "INFODIP-E002"),
    (b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', "INFODIP-E002"),
    (b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]><a/>', "INFODIP-E002"),
    (b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>', "INFODIP-E003"),
    (b"<a>" + b"x" * 10_001 + b"</a>", "INFODIP-E004"),
    (b"<a>" + "é".encode("latin-1") + b"</a>", "INFODIP-E006"),
    ("<a>ç</a>".encode("utf-16"), "INFODIP-E006"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>', "INFODIP-E006"),
    (b"<a>" * 21 + b"</a>" * 21, "INFODIP-E005"),
    (b"<a>" + b"t" * 1001 + b"</a>", "INFODIP-E005"),
    (b'<a b="' + b"t" * 1001 + b'"/>', "INFODIP-E005"),
    (b"<a/>", "INFODIP-E007"),
    (f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Header/></s:Envelope>'.encode(), "INFODIP-E007"),
    (f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><a/><b/></s:Body></s:Envelope>'.encode(), "INFODIP-E007"),
    (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a/></s:Body></s:Envelope>',
     "INFODIP-E008"),
    (f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Header><h s:mustUnderstand="1"/></s:Header><s:Body><a/></s:Body>'
     "</s:Envelope>".encode(), "INFODIP-E012"),
])
def test_bad_documents_get_their_codes(data: bytes, code: str) -> None:
    """Each forbidden construct or broken limit is refused with its stable code."""
    assert code_of(data) == code


def test_fault_classes() -> None:
    """SOAP 1.2 is a VersionMismatch, mustUnderstand its own faultcode, the rest Client faults."""
    with pytest.raises(VersionMismatch):
        read_envelope(read_xml(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>', LIMITS))
    with pytest.raises(MalformedRequest) as e:
        read_xml(b"<a", LIMITS)
    assert e.value.faultcode == "soap:Client"
    assert MustUnderstand("x").faultcode == "soap:MustUnderstand"


def test_billion_laughs_is_refused_quickly() -> None:
    """The classic entity bomb never reaches the parser."""
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">' + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    ) + b"]><l>&j;</l>"
    assert code_of(bomb, XmlLimits(max_body_bytes=100_000)) == "INFODIP-E002"


def test_comments_and_cdata_are_allowed_and_latin1_when_enabled() -> None:
    """Comments and CDATA are ordinary XML; ISO-8859-1 is accepted only where the endpoint allows it."""
    root = read_xml(b"<a><!-- c --><![CDATA[x<y]]></a>", LIMITS)
    assert root.text == "x<y"
    latin = b'<?xml version="1.0" encoding="ISO-8859-1"?><a>' + "ç".encode("latin-1") + b"</a>"
    assert read_xml(latin, LIMITS, allow_latin1=True).text == "ç"


def test_username_token_is_read() -> None:
    """The UsernameToken's user, password and type are read from the WS-Security header."""
    data = (
        f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Header><w:Security xmlns:w="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd"><w:UsernameToken><w:Username> u1 </w:Username>'
        "<w:Password>p&amp;1</w:Password></w:UsernameToken></w:Security></s:Header><s:Body><a/></s:Body>"
        "</s:Envelope>"
    ).encode()
    token = read_username_token(read_envelope(read_xml(data, LIMITS)).header)
    assert token is not None and token.username == "u1" and token.password == "p&1"
    assert token.password_type.endswith("#PasswordText")
