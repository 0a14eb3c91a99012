"""The MNI hub's spill filter (gateway/mni/spill.py): long base64 runs and large MTOM parts go to disk, a
placeholder takes their place, and splicing gives back the very bytes received — whatever the chunking."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from gateway.errors import MalformedRequest
from gateway.limits import XmlLimits
from gateway.mni.mtom import split_multipart
from gateway.mni.reader import DocumentInfo, read_request
from gateway.mni.spill import MARK, PLACEHOLDER_LEN, Base64Filter, MultipartFilter, Spill, TooLarge, filtered
from gateway.xml.body import read_body
from gateway.xml.reader import mni_policy

THRESHOLD = 64


def spill_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("mni-*.spill"))


def run_filter(flt: Base64Filter | MultipartFilter, pieces: Iterable[bytes]) -> bytes:
    for piece in pieces:
        flt.feed(piece)
    return flt.finish()


def splits(body: bytes) -> Iterable[list[bytes]]:
    """*body* cut in two at every offset, then in pieces of 1 to 7 bytes."""
    for at in range(len(body) + 1):
        yield [body[:at], body[at:]]
    for size in range(1, 8):
        yield [body[i:i + size] for i in range(0, len(body), size)]


def spliced(spill: Spill, small: bytes) -> bytes:
    length, chunks = spill.splice(small)

    async def collect() -> bytes:
        return b"".join([c async for c in chunks])

    out = asyncio.run(collect())
    assert len(out) == length
    return out


def xml_with(run: bytes, tail: bytes = b"</c></d>") -> bytes:
    return b'<?xml version="1.0"?><d a="x>y"><c>' + run + tail


def test_a_long_run_is_spilled_at_every_split_and_spliced_back_byte_identical(tmp_path: Path) -> None:
    """A base64 run longer than the threshold, with line breaks, becomes one 60-byte placeholder wherever the
    chunks are cut, and splicing (streamed or joined) gives back the original bytes; the placeholder is valid base64
    and the same for the same run."""
    data = bytes(range(256)) * 2
    run = base64.encodebytes(data)  # 76-character lines
    body = xml_with(run)
    placeholders = set()
    for pieces in splits(body):
        spill = Spill(tmp_path, THRESHOLD)
        small = run_filter(Base64Filter(spill), pieces)
        assert len(spill.entries) == 1 and MARK in small
        placeholder = next(iter(spill.entries))
        assert len(placeholder) == PLACEHOLDER_LEN and small == xml_with(placeholder)
        assert base64.b64decode(placeholder, validate=True)
        placeholders.add(placeholder)
        assert spliced(spill, small) == body
        assert spill.joined(small) == body
        spill.close()
        assert spill_files(tmp_path) == []
    assert len(placeholders) == 1


@pytest.mark.parametrize("intruder", [b"&", b"-", b"]", b"\xc3\xa9", b'"'])
def test_a_run_with_another_character_is_flushed_back_verbatim(tmp_path: Path, intruder: bytes) -> None:
    """A run that turns out to hold a non-base64 character after passing the threshold is put back as it was, at
    every split, and its file is gone."""
    body = xml_with(b"QUJD" * 40 + intruder + b"QUJD" * 40)
    for pieces in splits(body):
        spill = Spill(tmp_path, THRESHOLD)
        assert run_filter(Base64Filter(spill), pieces) == body
        assert spill.entries == {}
        assert spill_files(tmp_path) == []


def test_runs_that_do_not_end_at_an_element_stay_verbatim(tmp_path: Path) -> None:
    """A run cut by the end of the body, a run of whitespace only, text not following a '>', and an attribute value
    after a '>' are never replaced."""
    spill = Spill(tmp_path, THRESHOLD)
    for body in (b"<c>" + b"QUJD" * 50, b"<c>" + b" \n\t" * 50 + b"</c>", b"QUJD" * 50 + b"<c/>",
                 b'<c a="x>' + b"QUJD" * 50 + b'"/>'):
        assert run_filter(Base64Filter(spill), [body]) == body
    assert spill.entries == {} and spill_files(tmp_path) == []


def test_threshold_edges(tmp_path: Path) -> None:
    """A run of exactly the threshold stays in the body; one byte more is spilled."""
    spill = Spill(tmp_path, THRESHOLD)
    at = xml_with(b"A" * THRESHOLD)
    assert run_filter(Base64Filter(spill), [at]) == at and not spill.entries
    over = xml_with(b"A" * (THRESHOLD + 1))
    small = run_filter(Base64Filter(spill), [over])
    assert small != over and len(spill.entries) == 1 and spill.joined(small) == over
    spill.close()


def test_several_runs_and_the_same_run_twice(tmp_path: Path) -> None:
    """Two documents and a repeat of the first: two files, the repeat sharing the first's placeholder; short runs
    untouched; every byte back after splicing."""
    one, two = base64.b64encode(b"1" * 300), base64.b64encode(b"2" * 300)
    body = (b"<r><a>" + one + b"</a><s>short</s><b>" + two + b"</b><a>" + one + b"</a></r>")
    for pieces in splits(body):
        spill = Spill(tmp_path, THRESHOLD)
        small = run_filter(Base64Filter(spill), pieces)
        assert len(spill.entries) == 2 and len(spill_files(tmp_path)) == 2
        assert small.count(MARK) == 3 and b"<s>short</s>" in small
        assert spliced(spill, small) == body
        spill.close()
    assert spill_files(tmp_path) == []


def test_documents_get_the_digest_of_the_content_not_of_the_placeholder(tmp_path: Path) -> None:
    """A document read from the small body (its digest is the placeholder's) gets back the decoded content's
    sha256 and size; a document that was not spilled keeps its own."""
    data = b"%PDF" + bytes(range(256)) * 3
    spill = Spill(tmp_path, THRESHOLD)
    small = run_filter(Base64Filter(spill), [xml_with(base64.encodebytes(data))])
    placeholder = small[small.index(MARK):small.index(MARK) + PLACEHOLDER_LEN]
    as_read = hashlib.sha256(base64.b64decode(placeholder)).hexdigest()
    docs = [DocumentInfo(0, "1", "application/pdf", as_read, 44, False),
            DocumentInfo(1, "2", "application/pdf", "ab" * 32, 3, False)]
    fixed = spill.documents(docs)
    assert (fixed[0].digest, fixed[0].size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert fixed[1] == docs[1]
    spill.close()


def mtom(boundary: str, attachment: bytes, newline: bytes = b"\r\n", encoding: str = "binary") -> bytes:
    nl = newline
    root = b'<e><c><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:doc1"/></c></e>'
    return (b"preamble" + nl + b"--" + boundary.encode() + nl + b"Content-Type: application/xop+xml" + nl
            + b"Content-ID: <root>" + nl + nl + root + nl + b"--" + boundary.encode() + nl
            + b"Content-Type: application/pdf" + nl + b"Content-Transfer-Encoding: " + encoding.encode() + nl
            + b"Content-ID: <doc1>" + nl + nl + attachment + nl + b"--" + boundary.encode() + b"--" + nl)


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_a_large_mtom_part_is_spilled_at_every_split(tmp_path: Path, newline: bytes) -> None:
    """The binary attachment of an MTOM body (CRLF or LF framing) is replaced by the placeholder's 44 decoded bytes
    wherever the chunks are cut: the parts split as before, the root part byte for byte, and the attachment's
    base64 (as the hub inlines it) is the placeholder, spliced back as the content's base64."""
    attachment = b"%PDF\r\n--not-the-boundary\n" + bytes(range(256)) * 2
    body = mtom("b0und", attachment, newline)
    want = split_multipart(body, 'multipart/related; boundary="b0und"; start="<root>"')
    for pieces in splits(body):
        spill = Spill(tmp_path, THRESHOLD)
        flt = spill.filter_for('multipart/related; type="application/xop+xml"; boundary="b0und"; start="<root>"')
        assert isinstance(flt, MultipartFilter)
        small = run_filter(flt, pieces)
        got = split_multipart(small, 'multipart/related; boundary="b0und"; start="<root>"')
        assert got.root == want.root
        placeholder = base64.b64encode(got.attachments["doc1"])
        assert placeholder in spill.entries
        assert spliced(spill, placeholder) == base64.b64encode(attachment)
        assert small.startswith(b"preamble" + newline + b"--b0und")
        spill.close()
        assert spill_files(tmp_path) == []


def test_mtom_parts_that_stay(tmp_path: Path) -> None:
    """A small attachment, one sent as base64 or quoted-printable, and the root part itself are never spilled."""
    spill = Spill(tmp_path, THRESHOLD)
    ctype = 'multipart/related; boundary="b"; start="<root>"'
    for body in (mtom("b", b"small"), mtom("b", base64.b64encode(b"x" * 300), encoding="base64"),
                 mtom("b", b"y" * 300, encoding="quoted-printable")):
        assert run_filter(spill.filter_for(ctype), [body]) == body
    assert spill.entries == {} and spill_files(tmp_path) == []
    root_is_big = mtom("b", b"z" * 300)  # start names the big part: it is the root, the other part is not
    small = run_filter(spill.filter_for('multipart/related; boundary="b"; start="<doc1>"'), [root_is_big])
    assert b"z" * 300 in small
    spill.close()


def test_an_undeclared_multipart_is_kept_verbatim(tmp_path: Path) -> None:
    """A body the reader would sniff as multipart (no multipart Content-Type, starts with ``--``) is not filtered
    as XML: a base64-looking run in a part is data there, and stays."""
    body = mtom("b", b">" + b"QUJD" * 100 + b"<").removeprefix(b"preamble\r\n")
    spill = Spill(tmp_path, THRESHOLD)
    assert run_filter(spill.filter_for(None, body[:200]), [body]) == body
    assert run_filter(spill.filter_for("application/octet-stream", body[:200]), [body]) == body
    assert spill.entries == {}
    xml = xml_with(b"QUJD" * 100)
    assert run_filter(spill.filter_for(None, xml[:200]), [xml]) != xml
    spill.close()


def test_close_removes_an_open_run_and_reports_once(tmp_path: Path) -> None:
    """A body cut short (the client left) leaves its run's file open: close() removes it and reports the spilled
    bytes to its callback once."""
    reported: list[int] = []
    spill = Spill(tmp_path, THRESHOLD, reported.append)
    flt = Base64Filter(spill)
    flt.feed(b"<r><a>" + b"QUJD" * 40 + b"</a><b>" + b"QUJD" * 100)
    assert len(spill_files(tmp_path)) == 2
    spill.close()
    spill.close()
    assert spill_files(tmp_path) == [] and reported == [160]


async def _chunks(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def test_bodies_under_the_threshold_are_left_alone(tmp_path: Path) -> None:
    """filtered() and read_body() give a body within the threshold as received (a single chunk: that very
    object), never building a filter."""
    spill = Spill(tmp_path, 10_000)
    body = xml_with(b"QUJD" * 1000)

    def no_filter(_head: bytes) -> Base64Filter:
        raise AssertionError("a small body went through the filter")

    assert asyncio.run(filtered(_chunks([body]), spill, "text/xml")) is body
    assert asyncio.run(read_body(_chunks([body[:5], body[5:]]), limit=1 << 20, family="MNI",
                                 spill_filter=no_filter, spill_above=10_000)) == body


def test_read_body_spills_after_inflating(tmp_path: Path) -> None:
    """A gzip body past the threshold is inflated, then filtered: the run is spilled and splices back."""
    body = xml_with(base64.b64encode(bytes(range(256)) * 40))
    spill = Spill(tmp_path, THRESHOLD)
    packed = gzip.compress(body)
    small = asyncio.run(read_body(_chunks([packed[:100], packed[100:]]), limit=1 << 20, family="MNI",
                                  content_encoding="gzip", spill_filter=lambda head: spill.filter_for("text/xml", head),
                                  spill_above=THRESHOLD))
    assert len(small) < 200 and spill.joined(small) == body
    spill.close()


def test_filtered_stops_past_the_limit(tmp_path: Path) -> None:
    """An answer past the spill's limit is refused as soon as it passes it (TooLarge), its run's file removed on
    close; one exactly at the limit is read."""
    body = xml_with(b"QUJD" * 100)
    spill = Spill(tmp_path, THRESHOLD, limit=len(body) - 1)
    with pytest.raises(TooLarge):
        asyncio.run(filtered(_chunks([body[:300], body[300:]]), spill, "text/xml"))
    spill.close()
    assert spill_files(tmp_path) == []
    spill = Spill(tmp_path, THRESHOLD, limit=len(body))
    assert spill.joined(asyncio.run(filtered(_chunks([body[:300], body[300:]]), spill, "text/xml"))) == body
    spill.close()


def test_a_spilled_text_outside_conteudo_is_refused_as_the_reader_would(tmp_path: Path) -> None:
    """A long base64 text in an element the MNI policy bounds (here ``idConsultante``) is refused with the reader's
    own MNI-E005 although the body read holds only its placeholder; in ``conteudo`` it is accepted."""
    limits = XmlLimits(1 << 20, 64, 1000, 1000)
    run = b"QUJD" * 400
    for field, refused in ((b"idConsultante", True), (b"conteudo", False)):
        body = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                b'<ser:consultarProcesso xmlns:ser="http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/" '
                b'xmlns:tip="http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"><tip:' + field + b">"
                + run + b"</tip:" + field + b"></ser:consultarProcesso></soap:Body></soap:Envelope>")
        spill = Spill(tmp_path, THRESHOLD)
        small = run_filter(spill.filter_for("text/xml", body[:200]), [body])
        msg = read_request(small, "text/xml", limits)
        if refused:
            with pytest.raises(MalformedRequest) as direct:
                read_request(body, "text/xml", limits)
            with pytest.raises(MalformedRequest) as spilled:
                spill.check_texts(msg.root, mni_policy(limits))
            assert spilled.value.code == direct.value.code == "MNI-E005"
        else:
            spill.check_texts(msg.root, mni_policy(limits))
        spill.close()


def _filing(conteudo: bytes) -> bytes:
    return (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<ser:entregarManifestacaoProcessual xmlns:ser="http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/" '
            b'xmlns:tip="http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2" '
            b'xmlns:int="http://www.cnj.jus.br/intercomunicacao-2.2.2">'
            b"<tip:idManifestante>u</tip:idManifestante><tip:senhaManifestante>p</tip:senhaManifestante>"
            b"<tip:numeroProcesso>08123459320198190001</tip:numeroProcesso>"
            b'<tip:documento tipoDocumento="58" mimetype="application/pdf"><int:conteudo>' + conteudo
            + b"</int:conteudo></tip:documento><tip:dataEnvio>20261121120000</tip:dataEnvio>"
            b"</ser:entregarManifestacaoProcessual></soap:Body></soap:Envelope>")


def test_the_filing_key_sees_the_document_not_the_placeholder(tmp_path: Path) -> None:
    """The documents read from a spilled request, once given back their content's digest, are those read from the
    whole request — inline (with line breaks) and as MTOM — so a filing's idempotency key does not change with the
    spilling, and the same document sent either way has the same digest."""
    limits = XmlLimits(1 << 24, 64, 1 << 20, 20_000)
    data = b"%PDF-1.4\n" + bytes(range(256)) * 40
    inline = _filing(base64.encodebytes(data))
    root = _filing(b'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:doc1"/>')
    ctype = 'multipart/related; type="application/xop+xml"; boundary="b"; start="<root>"'
    multipart = (b"--b\r\nContent-Type: application/xop+xml\r\nContent-ID: <root>\r\n\r\n" + root
                 + b"\r\n--b\r\nContent-Type: application/pdf\r\nContent-ID: <doc1>\r\n\r\n" + data + b"\r\n--b--\r\n")
    seen = set()
    for body, content_type in ((inline, "text/xml"), (multipart, ctype)):
        whole = read_request(body, content_type, limits).documents
        spill = Spill(tmp_path, THRESHOLD)
        small = run_filter(spill.filter_for(content_type, body[:200]), [body])
        assert len(small) < 2000 and spill.entries
        spilled = spill.documents(read_request(small, content_type, limits).documents)
        assert [(d.digest, d.size) for d in spilled] == [(d.digest, d.size) for d in whole]
        seen.add(spilled[0].digest)
        spill.close()
    assert seen == {hashlib.sha256(data).hexdigest()}
