"""Death batches end to end (issue 13): a real gateway on 127.0.0.1 with the TSE and CNJ simulators, both channels
(REST JSON and SOAP ``/soap/crc``), every outcome, resends, the limit, a malformed record in the middle of a large
batch, months without deaths and the report, and delivery of the kind VI communications to the TSE exactly once."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from sqlalchemy import create_engine, func, select
from zeep.wsse.username import UsernameToken

from gateway.db.tables import communications, messages, obito_registros, outbox
from tests.e2e.obitos_support import (
    CARTORIO,
    CRC,
    ENV,
    all_outcomes,
    body,
    get_batch,
    grant,
    last_month,
    on_date,
    post_batch,
    recs,
    soap_body,
    soap_call,
    with_book,
)
from tests.support import GatewayProcess, Mocks, password_of, recent_day, seed, test_settings, wait_until

C = {"c": "urn:gateway-interop:crc:1.0"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Mocks, str]]:
    tmp = tmp_path_factory.mktemp("obitos")
    db_url = f"sqlite:///{tmp / 'gw.db'}"
    seed(db_url)
    grant(db_url)
    mocks = Mocks()
    gw = GatewayProcess(test_settings(db_url, tmp), tmp / "gw.log", {**mocks.env(), **ENV}).start()
    try:
        yield gw, mocks, db_url
    finally:
        gw.stop()
        mocks.stop()


def lid() -> str:
    return "L-" + uuid.uuid4().hex[:12]


_termo = iter(range(1000, 10_000_000, 5000))


def fresh(n: int, cns: tuple[str, ...] = ("097543",), seed: int = 1) -> list[dict[str, Any]]:
    """*n* records with matrículas no other test uses."""
    return recs(n, cns, seed=seed, first_termo=next(_termo))


def test_rest_small_batch_every_outcome_then_resent(env: tuple[GatewayProcess, Mocks, str]) -> None:
    gw, _mocks, db_url = env
    good = fresh(8, seed=2)
    good[0] = on_date(good[0], recent_day(2))  # on time: due the 15th of the next month
    # died and registered about three months ago: late, flagged, still accepted
    late = on_date(good[6], recent_day(0).replace(day=1) - timedelta(days=70))
    linked = {**good[0], "matricula": good[7]["matricula"]}  # same person and date, another registry entry
    records = [good[0], good[1], dict(good[0]), linked, with_book(good[2], "5"),
               {**good[3], "dataObito": "31/10/2026"}, {**good[4], "matricula": "1" * 32},
               {**fresh(1, ("123456",))[0]}, late, {**good[5], "cpf": None, "nomeMae": None}]
    lote = lid()
    r = post_batch(gw.url, body(lote, records))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["situacao"] == "concluido" and out["total"] == out["processados"] == 10
    res = [(i["resultado"], i["codigo"], i["campo"]) for i in out["itens"]]
    assert res == [("aceito", None, None), ("aceito", None, None), ("duplicado", None, None),
                   ("vinculado", None, None), ("rejeitado", "INFODIP-E063", "matricula"),
                   ("rejeitado", "INFODIP-E069", "dataObito"), ("rejeitado", "INFODIP-E062", "matricula"),
                   ("rejeitado", "INFODIP-E065", "matricula"), ("aceito", None, None),
                   ("rejeitado", "INFODIP-E068", "nomeMae")]
    items = out["itens"]
    first = items[0]["protocolo"]
    assert items[2]["protocoloAnterior"] == first and items[2]["protocolo"] is None  # same sender: shown
    assert items[3]["protocoloAnterior"] == first and items[3]["protocolo"] not in (None, first)
    assert items[8]["prazo"]["emAtraso"] is True and items[8]["prazo"]["diasAtraso"] > 0
    assert items[0]["prazo"]["emAtraso"] is False
    assert items[0]["municipioObito"] == good[0]["municipioObito"]
    assert items[0]["dataRegistro"] == good[0]["dataRegistro"]
    assert out["contagem"] == {"aceito": 3, "duplicado": 1, "vinculado": 1, "rejeitado": 5}
    # each stored record is an ordinary kind VI communication, consultable through the INFODIP REST API
    c = httpx.get(f"{gw.url}/api/v1/comunicacoes/{first}", auth=(CARTORIO, password_of(CARTORIO)), timeout=10)
    assert c.status_code == 200 and c.json()["tipo"] == "VI"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        dup = conn.execute(select(communications.c.duplicate_of).where(
            communications.c.protocol == items[3]["protocolo"])).scalar()
        payload = conn.execute(select(messages.c.payload).where(messages.c.protocol == first)).scalar()
    engine.dispose()
    assert dup == first
    assert b'tipo="VI"' in payload and good[0]["matricula"].encode() in payload
    # the same batch again: the earlier result, nothing stored twice
    again = post_batch(gw.url, body(lote, records))
    assert again.status_code == 200 and again.json()["reenvio"] is True
    assert [i["protocolo"] for i in again.json()["itens"]] == [i["protocolo"] for i in items]
    # the same id with another content: refused, nothing stored
    other = post_batch(gw.url, body(lote, [*records[:-1], fresh(1)[0]]))
    assert other.status_code == 409 and other.json()["codigo"] == "INFODIP-E061"
    # another sender's duplicate: the CRC sends the same matrícula; its outcome hides nothing of its own cartório
    crc = post_batch(gw.url, body(lid(), [good[1]]), user=CRC)
    assert crc.json()["itens"][0]["resultado"] == "duplicado"
    assert crc.json()["itens"][0]["protocoloAnterior"] == items[1]["protocolo"]  # the CRC answers for 097543


def test_soap_channel_same_rules(env: tuple[GatewayProcess, Mocks, str]) -> None:
    gw, _mocks, _db = env
    good = fresh(4, ("097543", "123456"), seed=3)
    linked = {**good[0], "matricula": good[3]["matricula"], "cnsCartorio": good[3]["cnsCartorio"]}
    records = [good[0], good[1], dict(good[1]), with_book(good[2], "5"), linked]
    lote = lid()
    r = httpx.post(gw.url + "/soap/crc", content=soap_body(lote, records), timeout=60,
                   headers={"Content-Type": "text/xml; charset=utf-8",
                            "SOAPAction": '"urn:gateway-interop:crc:1.0/enviarLoteObitos"'})
    assert r.status_code == 200, r.text
    doc = etree.fromstring(r.content)
    got = [(x.findtext("c:resultado", namespaces=C), x.findtext("c:codigo", namespaces=C))
           for x in doc.iterfind(".//c:resultado[c:sequencia]", C)]
    assert got == [("aceito", None), ("aceito", None), ("duplicado", None), ("rejeitado", "INFODIP-E063"),
                   ("vinculado", None)]
    assert doc.findtext(".//c:situacao", namespaces=C) == "concluido"
    # consultarLote pages the outcomes: zeep, from the served WSDL (which imports /xsd/crc-1.0.xsd)
    client = zeep.Client(gw.url + "/soap/crc?wsdl", wsse=UsernameToken(CRC, password_of(CRC)))
    page = client.service.consultarLote(idLote=lote, limite=2)
    assert page.situacao == "concluido" and page.total == 5 and page.vinculados == 1
    assert [x.resultado for x in page.resultado] == ["aceito", "aceito"] and page.proximo
    rest = client.service.consultarLote(idLote=lote, cursor=page.proximo, limite=10)
    assert [x.sequencia for x in rest.resultado] == [2, 3, 4] and rest.proximo is None
    assert rest.resultado[1].codigo == "INFODIP-E063" and rest.resultado[2].protocoloAnterior == \
        page.resultado[0].protocolo
    # a cartório may not send another cartório's record through SOAP either
    own = httpx.post(gw.url + "/soap/crc", content=soap_body(lid(), [fresh(1, ("123456",))[0]], user=CARTORIO),
                     timeout=30)
    assert b"INFODIP-E065" in own.content
    # the hardened reader's protections hold on the streaming path
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>' + soap_body(lid(), good[:1])[21:])
    bad = httpx.post(gw.url + "/soap/crc", content=evil, timeout=30)
    assert bad.status_code == 500 and b"INFODIP-E002" in bad.content
    wsdl = httpx.get(gw.url + "/soap/crc?wsdl", timeout=10)
    assert wsdl.status_code == 200 and b"enviarLoteObitos" in wsdl.content and b"/soap/crc" in wsdl.content


def test_large_batch_202_progress_and_malformed_record_in_the_middle(env: tuple[GatewayProcess, Mocks, str]) -> None:
    gw, _mocks, _db = env
    records: list[Any] = fresh(1000, ("097543", "123456"), seed=4)
    records[500] = {"matricula": 42, "nome": ["not", "text"]}  # malformed in the middle
    lote = lid()
    r = post_batch(gw.url, body(lote, records), user=CRC)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/obitos/lotes/{lote}"
    assert r.json()["situacao"] in ("processando", "concluido") and r.json()["total"] == 1000
    done = wait_until(lambda: (v := get_batch(gw.url, lote, CRC).json())["situacao"] == "concluido" and v,
                      120, 0.2, "batch concluded")
    assert done["processados"] == 1000
    assert done["contagem"] == {"aceito": 999, "duplicado": 0, "vinculado": 0, "rejeitado": 1}
    items = all_outcomes(gw.url, lote, CRC)
    assert [i["sequencia"] for i in items] == list(range(1000))
    assert items[500]["resultado"] == "rejeitado" and items[500]["codigo"] == "INFODIP-E069"
    assert all(i["resultado"] == "aceito" for i in items[:500] + items[501:])


def test_over_the_limit_refused_whole(env: tuple[GatewayProcess, Mocks, str]) -> None:
    gw, _mocks, _db = env
    lote = lid()
    r = post_batch(gw.url, body(lote, fresh(3001, seed=5)))
    assert r.status_code == 422 and r.json()["codigo"] == "INFODIP-E060"
    assert get_batch(gw.url, lote).status_code == 404


def test_other_organ_types_and_scopes_refused(env: tuple[GatewayProcess, Mocks, str]) -> None:
    gw, _mocks, _db = env
    r = httpx.post(gw.url + "/api/v1/obitos/lotes", content=body(lid(), fresh(1)), timeout=30,
                   auth=("tjrj-sistema", password_of("tjrj-sistema")))
    assert r.status_code == 403 and r.json()["codigo"] == "GATEWAY-E063"
    s = httpx.post(gw.url + "/soap/crc", content=soap_body(lid(), fresh(1), user="tjrj-sistema"), timeout=30)
    assert s.status_code == 500 and b"INFODIP-E075" in s.content


def test_months_without_deaths_and_the_report(env: tuple[GatewayProcess, Mocks, str]) -> None:
    gw, _mocks, _db = env
    comp = (recent_day(0).replace(day=1) - timedelta(days=400)).strftime("%Y-%m")
    d = httpx.post(gw.url + "/soap/crc", content=soap_call(
        "declararSemObitos", f"<crc:cnsCartorio>123456</crc:cnsCartorio><crc:competencia>{comp}</crc:competencia>"),
        timeout=30)
    assert d.status_code == 200 and etree.fromstring(d.content).findtext(".//c:registrada", namespaces=C) == "true"
    # the cartório 097543 sent a late record of that month
    year, month = (int(x) for x in comp.split("-"))
    rec = recs(1, competencia=comp, first_termo=next(_termo), seed=6)[0]
    sent = post_batch(gw.url, body(lid(), [rec], comp))
    assert sent.json()["itens"][0]["prazo"]["emAtraso"] is True
    again = httpx.post(gw.url + "/api/v1/obitos/sem-obitos", json={"cnsCartorio": "097543", "competencia": comp},
                       auth=(CARTORIO, password_of(CARTORIO)), timeout=30)
    assert again.status_code == 409 and again.json()["codigo"] == "INFODIP-E077"
    future = (recent_day(0).replace(day=28) + timedelta(days=5)).strftime("%Y-%m")  # next month
    ahead = httpx.post(gw.url + "/api/v1/obitos/sem-obitos", json={"cnsCartorio": "097543", "competencia": future},
                       auth=(CARTORIO, password_of(CARTORIO)), timeout=30)
    assert ahead.status_code == 422 and ahead.json()["codigo"] == "INFODIP-E071", ahead.text
    tj = ("tjrj-sistema", password_of("tjrj-sistema"))
    report = httpx.get(gw.url + "/api/v1/obitos/pendencias", params={"competencia": comp}, auth=tj, timeout=30)
    assert report.status_code == 200, report.text
    by_cns = {i["cnsCartorio"]: i for i in report.json()["itens"]}
    assert by_cns["097543"]["registros"] == 1 and by_cns["097543"]["atrasados"] == 1
    assert by_cns["097543"]["faltante"] is False
    assert by_cns["123456"]["declarouSemObitos"] is True and by_cns["123456"]["faltante"] is False
    later = (date(year, month, 1) + timedelta(days=40)).strftime("%Y-%m")
    missing = httpx.get(gw.url + "/api/v1/obitos/pendencias", params={"competencia": later, "formato": "csv"},
                        auth=tj, timeout=30)
    assert missing.headers["content-type"].startswith("text/csv")
    rows = {r["cnsCartorio"]: r for r in csv.DictReader(io.StringIO(missing.text))}
    assert rows["097543"]["faltante"] == "true" and rows["123456"]["faltante"] == "true"
    # a cartório sees only itself
    own = httpx.get(gw.url + "/api/v1/obitos/pendencias", params={"competencia": comp},
                    auth=(CARTORIO, password_of(CARTORIO)), timeout=30)
    assert [i["cnsCartorio"] for i in own.json()["itens"]] == ["097543"]


def test_kind_vi_from_batches_reach_the_tse_exactly_once(env: tuple[GatewayProcess, Mocks, str]) -> None:
    gw, mocks, db_url = env
    r = post_batch(gw.url, body(lid(), fresh(60, seed=7)))
    assert r.status_code == 200 and r.json()["contagem"]["aceito"] == 60
    engine = create_engine(db_url)

    def stored() -> set[str]:
        with engine.connect() as conn:
            return {m for (m,) in conn.execute(select(messages.c.message_id).join(
                obito_registros, obito_registros.c.message_id == messages.c.message_id))}

    def delivered() -> bool:
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(outbox).join(
                obito_registros, obito_registros.c.message_id == outbox.c.message_id).where(
                outbox.c.status != "delivered")).scalar()
        return left == 0

    wait_until(delivered, 120, 0.2, "batch versions delivered")
    ours = stored()
    received = [m for m in mocks.received("tse") if m["id"] in ours]
    assert {m["id"] for m in received} == ours
    assert len(received) == len(ours) and not any(m["duplicate"] for m in received)
    assert all(m["id"] not in {x["id"] for x in mocks.received("cnj")} for m in received)
    engine.dispose()


def test_a_batch_record_is_cancelled_with_infodip_and_can_be_sent_again(env: tuple[GatewayProcess, Mocks, str]) \
        -> None:
    gw, _mocks, _db = env
    rec = fresh(1, seed=8)[0]
    first = post_batch(gw.url, body(lid(), [rec])).json()["itens"][0]
    assert first["resultado"] == "aceito"
    cancel = (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
              f'xmlns:i="urn:gateway-interop:infodip:1.0"><soap:Header><wsse:Security xmlns:wsse="http://docs.oasis-'
              'open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>'
              f'{CARTORIO}</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-'
              f'wss-username-token-profile-1.0#PasswordText">{password_of(CARTORIO)}</wsse:Password>'
              "</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body><i:cancelarComunicacao>"
              f"<i:protocolo>{first['protocolo']}</i:protocolo><i:referenciaRemetente>{lid()}</i:referenciaRemetente>"
              "<i:motivo>Enviado por engano no lote</i:motivo></i:cancelarComunicacao></soap:Body></soap:Envelope>")
    c = httpx.post(gw.url + "/soap/infodip", content=cancel.encode(), timeout=30)
    assert c.status_code == 200, c.text
    again = post_batch(gw.url, body(lid(), [rec])).json()["itens"][0]
    assert again["resultado"] == "aceito" and again["protocolo"] != first["protocolo"]


__all__ = ["Path"]


def test_hostile_bodies_get_their_codes_and_the_gateway_lives(env: tuple[GatewayProcess, Mocks, str]) -> None:
    """What a probe of the sandbox sent, through the running server: a number of 5,000 digits (it killed the
    process), 100,000 nested arrays in 200 KB (gigabytes), registros that is not a list (it spent the batch id),
    a lone surrogate escape (500), a UTF-16 body with a DOCTYPE (stored), ``limite`` "²" (500). Each gets its code,
    nothing is stored, the batch id stays free, and the server still answers."""
    gw, _mocks, _db = env
    lote = lid()
    head = f'{{"idLote": "{lote}", "competencia": "{last_month()}", '
    cases = [('{"idLote": ' + "9" * 5000 + ', "registros": []}', 422, "INFODIP-E076"),
             (head + '"registros": [' + "[" * 100_000 + "]" * 100_000 + "]}", 422, "INFODIP-E005"),
             (head + '"registros": {}}', 422, "INFODIP-E076"),
             (head + '"registros": [{"nome": "\\udfff"}]}', 422, "INFODIP-E076")]
    for data, status, code in cases:
        r = post_batch(gw.url, data.encode())
        assert (r.status_code, r.json()["codigo"]) == (status, code), (data[:60], r.text[:300])
    assert httpx.get(gw.url + "/healthz", timeout=10).status_code == 200
    good = post_batch(gw.url, body(lote, fresh(1, seed=11)))  # the id was not spent by the refusals
    assert good.status_code == 200 and good.json()["contagem"]["aceito"] == 1, good.text
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE e [<!ENTITY x "y">]>'
             + soap_body(lid(), fresh(1, seed=12)).decode().split("?>", 1)[1]).encode("utf-16")
    bad = httpx.post(gw.url + "/soap/crc", content=utf16, timeout=30)
    assert bad.status_code == 500 and b"INFODIP-E002" in bad.content, bad.content[:300]
    page = httpx.post(gw.url + "/soap/crc", content=soap_call("consultarLote", f"<crc:idLote>{lote}</crc:idLote>"
                                                                               "<crc:limite>²</crc:limite>"),
                      timeout=30)
    assert b"INFODIP-E076" in page.content, page.content[:300]
    packed = httpx.post(gw.url + "/api/v1/obitos/lotes", content=body(lid(), fresh(1, seed=13)),
                        auth=(CARTORIO, password_of(CARTORIO)), timeout=30,
                        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert packed.status_code == 422 and packed.json()["codigo"] == "INFODIP-E013"
    assert "sem compressão" in packed.json()["mensagem"], packed.text  # not intake's "use gzip"
