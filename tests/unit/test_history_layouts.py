"""The import layouts (gateway/history/domain.py): streaming readers, per-record refusals, the CSV → INFODIP
mapping checked by the INFODIP 1.0 XSD."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree

from gateway.history.domain import (
    CSV_COLUMNS,
    IMPORT_NS,
    Record,
    Refusal,
    communication_of_row,
    read_csv,
    read_xml_records,
)
from gateway.infodip import contract

TZ = ZoneInfo("America/Sao_Paulo")

COMM = ('<inf:comunicacao tipo="VI"><inf:cabecalho><inf:referenciaRemetente>R{i}</inf:referenciaRemetente>'
        '<inf:pessoa><inf:nome>Pessoa {i}</inf:nome><inf:cpf>47365091800</inf:cpf></inf:pessoa>'
        '<inf:dataFato>2019-04-02</inf:dataFato></inf:cabecalho><inf:obito><inf:dataObito>2019-04-02</inf:dataObito>'
        '<inf:matriculaCertidao>09754301552026400215118008934294</inf:matriculaCertidao></inf:obito>'
        '</inf:comunicacao>')


def test_xml_reader_streams(tmp_path: Path) -> None:
    """Each registro is freed once read: when any record is read the document holds no earlier one, only what the
    parser read ahead in its buffer (the memory an import takes does not grow with the file)."""
    path = tmp_path / "grande.xml"
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<importacao xmlns="{IMPORT_NS}" xmlns:inf="{contract.NS}">')
        for i in range(3000):
            out.write(f'<registro idOrigem="X{i}" orgao="RCPN" dataRecebimento="2019-04-10">{COMM.format(i=i)}'
                      "</registro>\n")
        out.write("</importacao>")
    held = []
    seen = 0
    for item in read_xml_records(path, TZ):
        assert isinstance(item, Record)
        registro = item.element.getparent()
        assert registro is not None
        root = registro.getparent()
        assert root is not None
        earlier = registro.getprevious()  # the one read before, emptied; nothing before it
        assert earlier is None or (len(earlier) == 0 and earlier.getprevious() is None)
        held.append(len(root))
        seen += 1
    assert seen == 3000 and max(held) < 300


def test_csv_refusals_per_record(tmp_path: Path) -> None:
    """Unreadable fields refuse their record only, with GATEWAY-E111 and the column, at the record's line."""
    path = tmp_path / "h.csv"
    path.write_text("id_origem;orgao;tipo;data_recebimento;nome;data_fato;pena\n"
                    "A1;TJRJ;IV;2019-13-01;Fulano;2019-01-01;P1Y\n"
                    "A2;TJRJ;XI;2019-02-01;Fulano;2019-01-01;P1Y\n"
                    "A3;TJRJ;IV;2019-02-01;Fulano;2019-01-01;um ano\n"
                    "A4;TJRJ;IV;2019-03-01;Fulano;2019-01-01;P1Y\n", encoding="utf-8")
    items = list(read_csv(path, TZ))
    refusals = [(i.line, i.origin_id, getattr(i.error, "code", None), getattr(i.error, "field", None))
                for i in items if isinstance(i, Refusal)]
    assert refusals == [(2, "A1", "GATEWAY-E111", "data_recebimento"), (3, "A2", "GATEWAY-E111", "tipo"),
                        (4, "A3", "GATEWAY-E111", "pena")]
    last = items[-1]
    assert isinstance(last, Record) and last.line == 5 and last.received_at.isoformat() == "2019-03-01T03:00:00+00:00"


def test_csv_row_of_every_kind_is_xsd_valid() -> None:
    """A complete row of each kind becomes a ``comunicacao`` the INFODIP 1.0 XSD accepts (so a refusal of the XSD
    on import is the row's fault, never the mapping's)."""
    base = dict.fromkeys(CSV_COLUMNS, "")
    base.update(id_origem="Z1", orgao="TJRJ", data_recebimento="2019-02-01", nome="Fulano", cpf="18273645053",
                processo="00123456320188190001", data_fato="2019-01-10")
    per_kind = {
        "I": {"artigos": "9|10", "suspensao": "P8Y"}, "II": {"obrigacoes": "Ressarcir"},
        "III": {"motivo": "cumprimentoSancoes", "causa_inelegibilidade": "false"},
        "IV": {"dispositivo_penal": "CP art. 155", "pena": "P1Y2M", "regime": "aberto", "causa_inelegibilidade":
               "true", "alinea": "e", "item": "1"},
        "V": {"motivo": "prescricao", "descricao": "Prescrição"},
        "VI": {"matricula_certidao": "09754301552026400215118008934294", "processo": ""},
        "VII": {"natureza": "criminal", "orgao_colegiado": "3ª Câmara", "causa_inelegibilidade": "true",
                "alinea": "e"},
        "VIII": {"cargo": "Analista", "orgao_publico": "Secretaria", "ato_demissao": "Portaria 1/2019",
                 "processo": ""},
        "IX": {"descricao": "Outra", "fundamento_legal": "CF art. 15", "suspensao": "P30D",
               "causa_inelegibilidade": "false"},
    }
    for kind, extra in per_kind.items():
        row = {**base, "tipo": kind, **extra}
        op = etree.Element(f"{{{contract.NS}}}enviarComunicacao", nsmap={"inf": contract.NS})
        op.append(communication_of_row(row))
        contract.validate_operation(op)
        request = contract.read_request(op)
        assert request.communication is not None and request.communication.kind.value == kind
        assert request.reference == "Z1"
