"""The one hardened XML reader and the SOAP envelope reader, without a server, for every endpoint's policy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.errors import CATALOGUE, GatewayError, MalformedRequest, MustUnderstand, VersionMismatch
from gateway.settings import XmlLimits
from gateway.xml.reader import LATIN1, UTF8, UTF16, XmlPolicy, infodip_policy, mni_policy, read_xml
from gateway.xml.soap import PASSWORD_TEXT, SOAP11_NS, SOAP12_NS, WSSE_NS, UsernameToken, read_envelope

LIMITS = XmlLimits(max_body_bytes=10_000, max_depth=20, max_text_bytes=1000)
INFODIP = infodip_policy(LIMITS)
MNI = mni_policy(LIMITS)
POLICIES = [pytest.param(INFODIP, id="INFODIP"), pytest.param(MNI, id="MNI")]


def code_of(data: bytes, policy: XmlPolicy = INFODIP, charset: str | None = None) -> str:
    """The error code reading *data* (XML, then the strict envelope) raises."""
    with pytest.raises(GatewayError) as e:
        root, _ = read_xml(data, policy, charset)
        read_envelope(root, policy.family)
    return e.value.code


def soap(body: str = "<a/>", header: str | None = None) -> bytes:
    """A SOAP 1.1 envelope with *body* in the Body and, when given, *header* in a Header."""
    head = "" if header is None else f"<s:Header>{header}</s:Header>"
    return f'<s:Envelope xmlns:s="{SOAP11_NS}">{head}<s:Body>{body}</s:Body></s:Envelope>'.encode()


BILLION_LAUGHS = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">' + b"".join(
    f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
) + b"]><l>&j;</l>"

# (body, check number): what every policy refuses, with the same number in each family.
ONE_SET_OF_CHECKS = [
    pytest.param(b"<a><b></a>", 1, id="malformed"),
    pytest.param(b"<a><depth></a>", 1, id="mismatch-naming-depth-is-not-a-limit"),
    pytest.param(b"<a>\x01</a>", 1, id="control-character"),
    pytest.param(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 2, id="doctype-internal-entity"),
    pytest.param(b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', 2, id="doctype-xxe"),
    pytest.param(b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]><a/>', 2,
                 id="parameter-entity"),
    pytest.param(b'<a><!ENTITY x "y"></a>', 2, id="entity-without-doctype"),
    pytest.param(b"<a><!ATTLIST a b CDATA #IMPLIED></a>", 2, id="attlist"),
    pytest.param(BILLION_LAUGHS, 2, id="billion-laughs"),
    pytest.param(BILLION_LAUGHS.decode().encode("utf-16"), 2, id="billion-laughs-utf16"),
    pytest.param(b'<?xml version="1.0"?>\n<!-- c --><?pi x?>\n<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', 2,
                 id="doctype-after-comment-and-pi"),
    pytest.param(b'\xef\xbb\xbf<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 2, id="doctype-after-utf8-bom"),
    pytest.param(b"<a/>\n<!DOCTYPE a>", 2, id="doctype-after-the-root"),
    pytest.param(b"<a>\n<!DOCTYPE a>\n</a>", 2, id="doctype-inside-an-element"),
    pytest.param(b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>', 3,
                 id="xinclude"),
    pytest.param(soap('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>'), 3,
                 id="xinclude-in-body"),
    pytest.param(b"<a>" + b"x" * 10_001 + b"</a>", 4, id="size"),
    pytest.param(b"<a>" * 21 + b"</a>" * 21, 5, id="depth"),
    pytest.param(b"<a>" * 300 + b"</a>" * 300, 5, id="depth-past-libxml2-cap"),
    pytest.param(b"<a>" + b"t" * 1001 + b"</a>", 5, id="text"),
    pytest.param(b'<a b="' + b"t" * 1001 + b'"/>', 5, id="attribute"),
    pytest.param(b"<a><conteudo b='" + b"t" * 1001 + b"'/></a>", 5, id="attribute-of-binary-element"),
    pytest.param(b"<a>" + "é".encode("latin-1") + b"</a>", 6, id="invalid-utf8"),
    pytest.param(b"<a>ok</a><!-- \xe9 -->", 6, id="invalid-utf8-after-root"),
    pytest.param("<a>ç</a>".encode("utf-32"), 6, id="utf32-bom"),
    pytest.param('<?xml version="1.0" encoding="UTF-32"?><a/>'.encode("utf-32-le"), 6, id="utf32le-no-bom"),
    pytest.param('<?xml version="1.0" encoding="UTF-32"?><a/>'.encode("utf-32-be"), 6, id="utf32be-no-bom"),
    pytest.param("<a/>".encode("utf-16-le"), 6, id="utf16-no-bom-no-declaration"),
    pytest.param('\ufeff<?xml version="1.0" encoding="UTF-8"?><a/>'.encode("utf-16-le"), 6,
                 id="utf16-bom-declaring-utf8"),
    pytest.param(b"\xff\xfe<\x00a\x00>\x00\x00\xd8<\x00/\x00a\x00>\x00", 6, id="utf16-lone-surrogate"),
    pytest.param(b"\xff\xfe<\x00a\x00/\x00>", 6, id="utf16-odd-length"),
    pytest.param(b'<?xml version="1.0" encoding="UTF-16"?><a/>', 6, id="declared-utf16"),
    pytest.param(b'<?xml version="1.0" encoding="EBCDIC-US"?><a/>', 6, id="declared-unknown"),
    pytest.param(b"<a>\x00</a>", 6, id="nul"),
    pytest.param(b'\xef\xbb\xbf<?xml version="1.0" encoding="ISO-8859-1"?><a/>', 6, id="bom-contradicts-decl"),
]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("data", "number"), ONE_SET_OF_CHECKS)
def test_one_set_of_checks_for_every_family(policy: XmlPolicy, data: bytes, number: int) -> None:
    """Each forbidden construct or broken limit is refused by every endpoint's policy with the same check number
    in its own family (INFODIP-E00n, MNI-E00n), a catalogued Client fault."""
    with pytest.raises(MalformedRequest) as e:
        read_xml(data, policy)
    assert e.value.code == f"{policy.family}-E{number:03d}" == policy.code(number)
    assert e.value.code in CATALOGUE and e.value.faultcode == "soap:Client"
    assert e.value.message.startswith(CATALOGUE[e.value.code])


@pytest.mark.parametrize("policy", POLICIES)
def test_binary_elements_are_exempt_from_the_text_limit_only(policy: XmlPolicy) -> None:
    """A long text is accepted only inside the policy's binary elements (MNI: conteudo, recibo; INFODIP: none), and
    giving INFODIP's policy the same names exempts them the same way: one mechanism, not one per family."""
    long_text = b"QUJD" * 300  # 1200 characters of base64, over the 1000 limit
    for name in ("conteudo", "recibo"):
        data = f'<a xmlns:i="urn:x"><i:{name}>'.encode() + long_text + f"</i:{name}></a>".encode()
        if name in policy.binary_elements:
            assert read_xml(data, policy)[0][0].text == long_text.decode()
        else:
            assert code_of(data, policy) == policy.code(5)
        exempt = dataclasses.replace(policy, binary_elements=frozenset({name}))
        assert read_xml(data, exempt)[0][0].text == long_text.decode()
    assert MNI.binary_elements == {"conteudo", "recibo"} and not INFODIP.binary_elements
    other = b"<a><outro>" + long_text + b"</outro></a>"
    assert code_of(other, dataclasses.replace(policy, binary_elements=frozenset({"conteudo"}))) == policy.code(5)


def test_huge_text_nodes_need_the_policy() -> None:
    """A binary text node over libxml2's 10 MB cap is read where the policy allows huge text (MNI) and refused
    with E005 where it does not, even when the element is exempt from the text limit."""
    limits = XmlLimits(max_body_bytes=12 * 1024 * 1024, max_depth=20, max_text_bytes=1000)
    data = b"<a><conteudo>" + b"A" * (11 * 1024 * 1024) + b"</conteudo></a>"
    root, _ = read_xml(data, mni_policy(limits))
    assert len(root[0].text or "") == 11 * 1024 * 1024
    strict = dataclasses.replace(infodip_policy(limits), binary_elements=frozenset({"conteudo"}))
    assert code_of(data, strict) == "INFODIP-E005"


def test_encodings_are_what_the_policy_accepts() -> None:
    """ISO-8859-1 (declared, or named by the HTTP charset of a body without declaration) is read by MNI and
    reported; INFODIP accepts UTF-8 only and ignores the charset (so the Latin-1 byte is invalid UTF-8)."""
    declared = b'<?xml version="1.0" encoding="ISO-8859-1"?><a>' + "ç".encode("latin-1") + b"</a>"
    root, info = read_xml(declared, MNI)
    assert (root.text, info.encoding, info.latin1) == ("ç", LATIN1, True)
    assert code_of(declared, INFODIP) == "INFODIP-E006"
    bare = b"<a>" + "ç".encode("latin-1") + b"</a>"
    root, info = read_xml(bare, MNI, charset="ISO-8859-1")
    assert (root.text, info.latin1) == ("ç", True)
    assert code_of(bare, MNI) == "MNI-E006"  # no charset: UTF-8, and the byte is not UTF-8
    assert code_of(bare, INFODIP, charset="ISO-8859-1") == "INFODIP-E006"
    utf8 = '<?xml version="1.0" encoding="utf-8"?><a>ç</a>'.encode()
    for policy in (INFODIP, MNI):
        root, info = read_xml(utf8, policy, charset="ISO-8859-1")  # the declaration wins over the charset
        assert (root.text, info.encoding) == ("ç", UTF8)


@pytest.mark.parametrize("policy", POLICIES)
def test_utf8_bom_decides_the_encoding(policy: XmlPolicy) -> None:
    """A UTF-8 byte-order mark is accepted, the declaration after it is still read, and it outweighs an HTTP
    charset (XML 1.0 Appendix F)."""
    for data in (b"\xef\xbb\xbf<a>\xc3\xa7</a>", b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><a>\xc3\xa7</a>'):
        root, info = read_xml(data, policy, charset="ISO-8859-1")
        assert (root.text, info.encoding) == ("ç", UTF8)
    assert code_of(b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-16"?><a/>', policy) == policy.code(6)


@pytest.mark.parametrize("policy", POLICIES)
def test_comments_and_cdata_are_ordinary_xml(policy: XmlPolicy) -> None:
    """Comments and CDATA are allowed (comments are dropped from the tree) under every policy."""
    root, info = read_xml(b"<a><!-- c --><![CDATA[x<y]]></a>", policy)
    assert root.text == "x<y" and len(root) == 0 and info.encoding == UTF8


@pytest.mark.parametrize(("data", "code"), [
    (b"<a/>", "INFODIP-E007"),
    (soap("<a/>").replace(b"<s:Body><a/></s:Body>", b"<s:Header/>"), "INFODIP-E007"),
    (soap("<a/><b/>"), "INFODIP-E007"),
    (soap("", header=None), "INFODIP-E007"),
    (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a/></s:Body></s:Envelope>',
     "INFODIP-E008"),
    (b"<Envelope><Body><a/></Body></Envelope>", "INFODIP-E008"),
    (soap("<a/>", '<h s:mustUnderstand="1"/>'), "INFODIP-E012"),
    (soap("<a/>").replace(b"</s:Body>", b"</s:Body><s:Header/>"), "INFODIP-E007"),
    (soap("<a/>").replace(b"</s:Body>", b"</s:Body><x/>"), "INFODIP-E007"),
])
def test_strict_envelope_codes(data: bytes, code: str) -> None:
    """The strict envelope reader (INFODIP) refuses each broken envelope with its stable code."""
    assert code_of(data) == code


def test_fault_classes() -> None:
    """An Envelope outside SOAP 1.1's namespace is a VersionMismatch, mustUnderstand its own faultcode, the rest
    Client faults — in both families."""
    for policy in (INFODIP, MNI):
        root, _ = read_xml(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>', policy)
        for tolerant in (False, True):
            with pytest.raises(VersionMismatch) as v:
                read_envelope(root, policy.family, tolerant=tolerant)
            assert v.value.code == policy.code(8)
    with pytest.raises(MalformedRequest) as e:
        read_xml(b"<a", INFODIP)
    assert e.value.faultcode == "soap:Client"
    with pytest.raises(MustUnderstand) as m:
        read_envelope(read_xml(soap("<a/>", '<h s:mustUnderstand="true"/>'), INFODIP)[0])
    assert m.value.faultcode == "soap:MustUnderstand"


def test_tolerant_envelope_reads_what_the_strict_one_refuses() -> None:
    """The tolerant mode (MNI) reads a Header after the Body and ignores unknown children, and lists unprocessed
    mustUnderstand headers instead of refusing them; a Security header is understood by both modes."""
    security = f'<w:Security xmlns:w="{WSSE_NS}" s:mustUnderstand="1"/>'
    data = soap("<op/>").replace(
        b"</s:Body>", f'</s:Body><s:Header>{security}<h s:mustUnderstand="1"/><g/></s:Header><x/>'.encode()
    )
    req = read_envelope(read_xml(data, MNI)[0], "MNI", tolerant=True)
    assert req.operation.tag == "op" and req.header is not None
    assert req.ignored_headers == ("h",)
    assert code_of(data, MNI) == "MNI-E007"
    strict = read_envelope(read_xml(soap("<op/>", security), INFODIP)[0])
    assert strict.ignored_headers == () and strict.username_token is None


def test_username_token_is_read_in_the_envelope_pass() -> None:
    """The UsernameToken's user, password and type come with the envelope, without a second look at the header."""
    data = soap("<a/>", (
        f'<w:Security xmlns:w="{WSSE_NS}"><w:UsernameToken><w:Username> u1 </w:Username>'
        "<w:Password>p&amp;1</w:Password></w:UsernameToken></w:Security>"
    ))
    for policy, tolerant in ((INFODIP, False), (MNI, True)):
        token = read_envelope(read_xml(data, policy)[0], policy.family, tolerant=tolerant).username_token
        assert token is not None and token.username == "u1" and token.password == "p&1"
        assert token.password_type.endswith("#PasswordText")


def test_policies_are_built_once_per_limits() -> None:
    """Each endpoint's factory returns the same policy object for the same limits (its compiled check is reused)."""
    assert infodip_policy(LIMITS) is INFODIP and mni_policy(LIMITS) is MNI
    assert INFODIP.tree_check is INFODIP.tree_check
    assert (INFODIP.family, MNI.family) == ("INFODIP", "MNI")
    assert MNI.huge_text and not INFODIP.huge_text
    assert MNI.encodings == {UTF8, UTF16, LATIN1} and INFODIP.encodings == {UTF8, UTF16}


# -- issue 8: UTF-16, DOCTYPE only in the prolog, limits while parsing, several Security headers ------------------


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-16-le"])
@pytest.mark.parametrize("declared", [True, False])
def test_utf16_is_read_like_utf8(policy: XmlPolicy, codec: str, declared: bool) -> None:
    """UTF-16 with a byte-order mark, or without one and declared, is read by every policy (XML 1.0 §4.3.3, WS-I
    BP R4003) into the same tree as its UTF-8 twin, and reported as UTF-16."""
    text = ('<?xml version="1.0" encoding="UTF-16"?>' if declared else "") + soap("<op>ação 😀</op>").decode()
    bom = "\ufeff" if codec != "utf-16" else ""  # the "utf-16" codec writes its own BOM
    data = (bom + text).encode(codec) if declared or codec == "utf-16" else ("\ufeff" + text).encode(codec)
    root, info = read_xml(data, policy)
    assert info.encoding == UTF16 and info.utf16
    assert read_envelope(root, policy.family).operation.text == "ação 😀"
    if declared and codec != "utf-16":  # without the byte-order mark: the declaration alone says UTF-16
        root, info = read_xml(text.encode(codec), policy)
        assert info.utf16 and root[0][0].text == "ação 😀"


@pytest.mark.parametrize("policy", POLICIES)
def test_the_http_charset_can_name_utf16(policy: XmlPolicy) -> None:
    """A UTF-16 body with neither byte-order mark nor declaration is read when the HTTP charset names UTF-16
    (XML 1.0 Appendix F: external information), in either byte order; without it, it stays E006."""
    for codec in ("utf-16-le", "utf-16-be"):
        data = "<a>ação</a>".encode(codec)
        for charset in ("utf-16", "UTF-16", codec):
            root, info = read_xml(data, policy, charset)
            assert info.utf16 and root.text == "ação"
        assert code_of(data, policy) == policy.code(6)
        assert code_of(data, policy, "utf-8") == policy.code(6)


@pytest.mark.parametrize("policy", POLICIES)
def test_utf16_gets_the_same_hardening(policy: XmlPolicy) -> None:
    """Every check runs on the decoded UTF-16 document: a DOCTYPE, an XInclude, the depth, text and size limits
    are refused with the same codes as in UTF-8 (the byte scans never look at UTF-16 bytes)."""
    cases = {
        '<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>': 2,
        '<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>': 3,
        "<a>" * 21 + "</a>" * 21: 5,
        "<a>" + "t" * 1001 + "</a>": 5,
        "<a><b></a>": 1,
    }
    for text, number in cases.items():
        for data in (text.encode("utf-16"), f'<?xml version="1.0" encoding="UTF-16"?>{text}'.encode("utf-16-be")):
            with pytest.raises(MalformedRequest) as e:
                read_xml(data, policy)
            assert e.value.code == policy.code(number), (text, e.value)
    with pytest.raises(MalformedRequest) as e:
        read_xml(("<a>" + "t" * 5001 + "</a>").encode("utf-16"), policy)  # 10 KB of UTF-16 bytes: over the body
    assert e.value.code == policy.code(4)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("where", [
    "<a><![CDATA[<!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>]]></a>",
    "<a><!-- <!DOCTYPE a> <!ENTITY x 'y'> --></a>",
    "<a b='&lt;!DOCTYPE a&gt;' c=\"<!DOCTYPE a>\"/>".replace("<!DOCTYPE a>\"", "&lt;!DOCTYPE a>\""),
    "<!-- <!DOCTYPE a> --><?pi <!DOCTYPE a>?><a/>",
    "<a>texto &lt;!DOCTYPE a&gt; citado</a>",
])
def test_doctype_text_outside_the_prolog_is_character_data(policy: XmlPolicy, where: str) -> None:
    """The text ``<!DOCTYPE`` (or ``<!ENTITY``) inside CDATA, a comment, a PI or an attribute value declares
    nothing: it is read, in UTF-8 and in UTF-16; only a real declaration in the prolog is refused (E002)."""
    for data in (where.encode(), where.encode("utf-16")):
        root, _ = read_xml(data, policy)
        assert root.tag == "a"


def flood(elements: int, inner: str = "<x/>") -> bytes:
    """A document whose root holds *elements* − 1 copies of *inner* (so *elements* elements in all)."""
    return ("<r>" + inner * (elements - 1) + "</r>").encode()


@pytest.mark.parametrize("policy", POLICIES)
def test_element_count_is_limited_exactly(policy: XmlPolicy) -> None:
    """The element limit is exact on both ways of parsing: max_elements elements are read, one more is E005 —
    whether the body is parsed in one call (few '<') or streamed (more '<' than the limit, or over 1 MiB)."""
    limits = dataclasses.replace(policy.limits, max_elements=100, max_body_bytes=4 * 1024 * 1024,
                                 max_text_bytes=100_000)
    strict = dataclasses.replace(policy, limits=limits)
    assert len(read_xml(flood(100), strict)[0]) == 99  # 101 '<': streamed, and exactly at the limit
    assert len(read_xml(flood(51, "<x></x>"), strict)[0]) == 50  # 101 '<', 51 elements
    assert len(read_xml(flood(20, "<x>" + "t" * 60_000 + "</x>"), strict)[0]) == 19  # 1.1 MB: streamed
    assert len(read_xml(b"<r>" + b"<x/>" * 98 + b"</r>", strict)[0]) == 98  # 100 '<': in one call
    for data in (flood(101), flood(101, "<x></x>"), flood(101, "<x>" + "t" * 11_000 + "</x>")):
        with pytest.raises(MalformedRequest) as e:
            read_xml(data, strict)
        assert e.value.code == policy.code(5) and "101" not in e.value.message and "100" in e.value.message


def test_large_documents_stream_with_every_check() -> None:
    """A body over 1 MiB is streamed: the depth, text, binary exemption and XInclude checks are the same as for
    a small one (the streamed pass refuses a long text or a deep tree while parsing)."""
    limits = XmlLimits(max_body_bytes=8 * 1024 * 1024, max_depth=20, max_text_bytes=1000)
    mni = mni_policy(limits)
    big = b"A" * (2 * 1024 * 1024)
    root, _ = read_xml(b"<a><b>x</b><conteudo>" + big + b"</conteudo></a>", mni)
    assert len(root[1].text or "") == len(big)
    refused = {
        b"<a><b>x</b><outro>" + big + b"</outro></a>": 5,
        b"<a>" + b"<b>" * 21 + big + b"</b>" * 21 + b"</a>": 5,
        b"<a b='" + big + b"'/>": 5,
        b"<a><conteudo>" + big + b"</conteudo><b>" + b"t" * 1001 + b"</b></a>": 5,
        b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><c>' + big + b"</c><xi:include href='x'/></a>": 3,
        b"<a><conteudo>" + big + b"</conteudo>": 1,
    }
    for data, number in refused.items():
        exempt = dataclasses.replace(mni, binary_elements=frozenset({"conteudo", "c"}))
        with pytest.raises(MalformedRequest) as e:
            read_xml(data, exempt)
        assert e.value.code == f"MNI-E{number:03d}", (data[:40], e.value)


def _peak_growth(script: str) -> tuple[int, int]:
    """Run *script* in a fresh interpreter, which calls ``reset()`` where measuring starts and prints an integer
    with ``done(n)``; that integer and the peak RSS growth (bytes) since ``reset()``."""
    code = textwrap.dedent("""
        def status(key):
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
            raise KeyError(key)

        def reset():
            global before
            before = status("VmRSS:")
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM (peak RSS) to the current RSS

        def done(n):
            print(n, status("VmHWM:") - before)
    """) + textwrap.dedent(script)
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).resolve().parents[2])
    assert finished.returncode == 0, finished.stderr
    out, growth = finished.stdout.split()
    return int(out), int(growth)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc (VmHWM reset)")
@pytest.mark.parametrize("family", ["INFODIP", "MNI"])
def test_a_16mb_flood_is_refused_in_bounded_memory(family: str) -> None:
    """A 16 MB body of empty elements, with the credential after them, is refused (E005) with peak RSS growth
    under 16 MB — the body is never built into a tree (which took ~1 GB before); the same for a 16 MB text node
    outside the binary elements under MNI's policy."""
    script = f"""
        from gateway.errors import MalformedRequest
        from gateway.settings import Settings
        from gateway.xml.reader import infodip_policy, mni_policy, read_xml
        settings = Settings.from_env({{}}, infodip_max_body_bytes=32 * 1024 * 1024)
        policy = mni_policy(settings.mni_limits) if "{family}" == "MNI" else infodip_policy(settings.infodip_limits)
        floods = [b"<r>" + b"<a/>" * (4 * 1024 * 1024) + b"<senha>x</senha></r>"]
        if "{family}" == "MNI":
            floods.append(b"<r><idConsultante>" + b"u" * (16 * 1024 * 1024) + b"</idConsultante></r>")
        codes = []
        reset()
        for data in floods:
            try:
                read_xml(data, policy)
            except MalformedRequest as exc:
                codes.append(exc.code)
        assert codes == ["{family}-E005"] * len(floods), codes
        done(len(floods))
    """
    _, growth = _peak_growth(script)
    assert growth < 16 * 1024 * 1024, f"peak RSS grew {growth / 2**20:.1f} MB"


SECURITY = f'<w:Security xmlns:w="{WSSE_NS}"{{attrs}}>{{token}}</w:Security>'


def security(user: str | None = None, password: str = "p", attrs: str = "") -> str:
    """A wsse:Security header block, with a UsernameToken for *user* when given."""
    token = "" if user is None else (f"<w:UsernameToken><w:Username>{user}</w:Username>"
                                     f"<w:Password>{password}</w:Password></w:UsernameToken>")
    return SECURITY.format(attrs=attrs, token=token)


@pytest.mark.parametrize(("policy", "tolerant"), [(INFODIP, False), (MNI, True)])
def test_the_token_is_read_from_every_security_header_addressed_to_us(policy: XmlPolicy, tolerant: bool) -> None:
    """Several wsse:Security blocks: the token is found in whichever block addressed to the gateway carries it (a
    Timestamp-only block first no longer hides it); blocks for another actor are skipped (their mustUnderstand
    too); the same identity twice is one identity; two identities are E025 in every family; a token only in a
    block for another node is E020 saying why, never a plain "absent"."""
    def identity(header: str) -> UsernameToken | None:
        req = read_envelope(read_xml(soap("<op/>", header), policy)[0], policy.family, tolerant=tolerant,
                            endpoint="/soap/x")
        return req.identity()

    other = ' s:actor="urn:outro-no" s:mustUnderstand="1"'
    token = identity(security() + security("u1"))
    assert token is not None and token.username == "u1"
    assert identity(security("u1", attrs=other) + security("u2")) == identity(security("u2"))
    assert identity(security("u1") + security("u1")) == identity(security("u1"))
    for ours in (' s:actor="http://schemas.xmlsoap.org/soap/actor/next"', ' s:actor="https://gw.exemplo/soap/x"',
                 f' xmlns:e="{SOAP12_NS}" e:role="http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"'):
        assert identity(security("u3", attrs=ours)) == UsernameToken("u3", "p", PASSWORD_TEXT)
    assert identity(security()) is None and identity("") is None
    for header, code in ((security("u1") + security("u2"), 25), (security("u1") + security("u1", "q"), 25),
                         (security("u1").replace("</w:Security>", "") + security("u2")[40:], 25),
                         (security("u1", attrs=other), 20)):
        with pytest.raises(GatewayError) as e:
            identity(header)
        assert e.value.code == policy.code(code) and e.value.faultcode == "soap:Client", header
        assert e.value.code in CATALOGUE
    with pytest.raises(GatewayError) as e:
        identity(security("u1", attrs=other))
    assert "outro nó" in e.value.message
    # a mustUnderstand block for another node is not ours to understand, even in the strict mode
    assert identity(f'<h s:actor="urn:outro-no" s:mustUnderstand="1"/>{security("u4")}') is not None
