"""``gateway import`` (issue 14, point 6): the CSV and XML layouts of docs/importacao.md imported as written there,
refusals reported per line with their codes, idempotency per origin id, imported communications never delivered,
the coverage statement — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.db.engine import make_engine
from gateway.db.tables import communications, import_batches, imported_communications, messages, outbox
from gateway.history.service import coverage
from gateway.infodip.domain import Kind
from tests.support import ROOT, GatewayProcess, Mocks, infodip_request, sample, test_settings, wait_until

pytestmark = pytest.mark.e2e
DOC = (ROOT / "docs" / "importacao.md").read_text(encoding="utf-8")


def block(lang: str) -> str:
    """The ```lang code block of docs/importacao.md, verbatim."""
    found = re.search(rf"```{lang}\n(.*?)```", DOC, re.S)
    assert found is not None, lang
    return found.group(1)


def gateway(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``gateway ARGS`` on *db_url* as an operator would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATABASE_URL": db_url, "GATEWAY_SECRET_KEY": "s" * 40, "GATEWAY_LOG_FORMAT": "text"})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def counts(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {"imported": conn.execute(select(func.count()).select_from(imported_communications)).scalar_one(),
                    "communications": conn.execute(select(func.count()).select_from(communications)).scalar_one(),
                    "outbox": conn.execute(select(func.count()).select_from(outbox)).scalar_one()}
    finally:
        engine.dispose()


def test_csv_import_refusals_idempotency_and_coverage(db_url: str, tmp_path: Path) -> None:
    """The documented CSV: three imported with origin and batch, line 5 refused with INFODIP-E030 naming the field;
    the same file again imports nothing (three already imported, the same refusal); an origin id sent again with
    other content is refused GATEWAY-E112; no outbox row for any of them; the coverage statement names the batch."""
    csv_file = tmp_path / "historico.csv"
    csv_file.write_text(block("csv"), encoding="utf-8")
    first = gateway(db_url, "import", str(csv_file), "--origem", "SISDIP-TJRJ", "--operador", "Fulana")
    assert first.returncode == 1, first.stderr
    out = first.stdout.splitlines()
    assert out[1] == ("linha 5 (id 2019-000457): INFODIP-E030 CPF inválido. "
                      "(campo: comunicacao/cabecalho/pessoa/cpf)")
    assert out[-1] == "lote 1 (origem SISDIP-TJRJ): 4 registro(s), 3 importado(s), 0 já importado(s), 1 recusado(s)"
    assert counts(db_url) == {"imported": 3, "communications": 3, "outbox": 0}

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(imported_communications, communications.c.kind, messages.c.received_at,
                                       messages.c.late, messages.c.days_late, messages.c.operation).join(
                communications, communications.c.protocol == imported_communications.c.protocol).join(
                messages, messages.c.protocol == imported_communications.c.protocol).order_by(
                imported_communications.c.origin_id)).mappings().all()
            assert [(r["origin"], r["origin_id"], r["batch_id"], r["kind"], r["operation"]) for r in rows] == [
                ("SISDIP-TJRJ", "2019-000451", 1, "IV", "envio"), ("SISDIP-TJRJ", "2019-000452", 1, "VI", "envio"),
                ("SISDIP-TJRJ", "2019-000453", 1, "I", "envio")]
            # the reception date is the origin's (2019-03-25 in America/Sao_Paulo), and the protocol carries it;
            # art. 7º's deadline is measured against it: fact 2019-03-11 + 10 days = 03-21, received 4 days late
            assert rows[0]["protocol"].startswith("20190325-")
            assert (rows[0]["late"], rows[0]["days_late"]) == (True, 4)
            assert (rows[2]["late"], rows[2]["days_late"]) == (False, 0)
    finally:
        engine.dispose()

    again = gateway(db_url, "import", str(csv_file), "--origem", "SISDIP-TJRJ")
    assert again.stdout.splitlines()[-1] == ("lote 2 (origem SISDIP-TJRJ): 4 registro(s), 0 importado(s), "
                                             "3 já importado(s), 1 recusado(s)")
    assert counts(db_url)["imported"] == 3

    changed = tmp_path / "alterado.csv"
    lines = block("csv").splitlines()
    changed.write_text("\n".join([lines[0], lines[1].replace("P4Y6M", "P5Y")]) + "\n", encoding="utf-8")
    conflict = gateway(db_url, "import", str(changed), "--origem", "SISDIP-TJRJ")
    assert conflict.returncode == 1
    assert "linha 2 (id 2019-000451): GATEWAY-E112" in conflict.stdout
    # the same id from another origin is another communication — but its reference is the organ's already
    other = gateway(db_url, "import", str(changed), "--origem", "OUTRO")
    assert "GATEWAY-E115" in other.stdout and "(campo: comunicacao/cabecalho/referenciaRemetente)" in other.stdout

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            batches = conn.execute(select(import_batches).order_by(import_batches.c.id)).mappings().all()
            assert [(b["id"], b["status"], b["accepted"], b["skipped"], b["refused"], b["operator"]) for b in
                    batches[:2]] == [(1, "done", 3, 0, 1, "Fulana"), (2, "done", 0, 3, 1, batches[1]["operator"])]
            cov = coverage(conn)
    finally:
        engine.dispose()
    assert cov.imported_count == 3 and cov.origins == ("SISDIP-TJRJ",)
    assert [b.batch_id for b in cov.imported] == [1]
    assert cov.live_since is None
    assert cov.since is not None and cov.since.date().isoformat() == "2019-03-25"


def test_xml_import_and_unreadable_files(db_url: str, tmp_path: Path) -> None:
    """The documented XML: the first record imported, the second refused with INFODIP-E045 at its line; a file
    with a DOCTYPE, a CSV with an unknown column and a truncated XML are GATEWAY-E110 (one line, exit 2)."""
    xml_file = tmp_path / "exportacao.xml"
    xml_file.write_text(block("xml"), encoding="utf-8")
    done = gateway(db_url, "import", str(xml_file), "--origem", "LEGADO")
    assert done.returncode == 1, done.stderr
    assert re.search(r"^linha \d+ \(id L-77002\): INFODIP-E045 .*\(campo: comunicacao/cabecalho/pessoa\)$",
                     done.stdout, re.M), done.stdout
    assert done.stdout.splitlines()[-1].endswith("2 registro(s), 1 importado(s), 0 já importado(s), 1 recusado(s)")
    assert counts(db_url) == {"imported": 1, "communications": 1, "outbox": 0}

    evil = tmp_path / "evil.xml"
    evil.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]>'
                    '<importacao xmlns="urn:gateway-interop:importacao:1.0"/>', encoding="utf-8")
    refused = gateway(db_url, "import", str(evil), "--origem", "LEGADO")
    assert refused.returncode == 2 and refused.stderr.startswith("GATEWAY-E110: ") and "DOCTYPE" in refused.stderr

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("id_origem;orgao;tipo;data_recebimento;nome;data_fato;cor\n", encoding="utf-8")
    header = gateway(db_url, "import", str(bad_csv), "--origem", "LEGADO")
    assert header.returncode == 2 and "GATEWAY-E110" in header.stderr and "colunas desconhecidas: cor" in header.stderr

    truncated = tmp_path / "cortado.xml"
    text = block("xml")
    truncated.write_text(text[: text.index('<registro idOrigem="L-77002"') + 40], encoding="utf-8")
    cut = gateway(db_url, "import", str(truncated), "--origem", "CORTADO")
    assert cut.returncode == 2 and "GATEWAY-E110" in cut.stderr and "XML malformado" in cut.stderr
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            status = conn.execute(select(import_batches.c.status).where(import_batches.c.origin == "CORTADO")
                                  ).scalar_one()
    finally:
        engine.dispose()
    assert status == "interrupted"


def test_imported_never_delivered(sqlite_url: str, mocks: Mocks, tmp_path: Path) -> None:
    """A gateway with its relay running delivers a live communication to TSE and CNJ and never any imported one:
    the simulators receive exactly the live message, and no outbox row names an imported protocol — not even after
    the sender sends an imported communication again live (a replay of the imported receipt)."""
    csv_file = tmp_path / "historico.csv"
    csv_file.write_text(block("csv"), encoding="utf-8")
    assert gateway(sqlite_url, "import", str(csv_file), "--origem", "SISDIP-TJRJ").returncode == 1
    mocks.reset()
    proc = GatewayProcess(test_settings(sqlite_url, tmp_path), tmp_path / "gw.log", extra_env=mocks.env()).start()
    try:
        import httpx

        r = httpx.post(proc.url + "/soap/infodip", content=sample(Kind.IV), timeout=10)
        assert r.status_code == 200, r.text
        live = re.search(r"<i:idMensagem>([^<]+)", r.text).group(1)  # type: ignore[union-attr]
        wait_until(lambda: mocks.received("tse") and mocks.received("cnj"), what="the live delivery")
        # TJRJ's system sends again, live, what it had sent through the old system (same reference, same content):
        # the imported receipt comes back as a replay — nothing new is stored, nothing is delivered
        engine = make_engine(sqlite_url)
        try:
            with engine.connect() as conn:
                protocol, payload = conn.execute(select(messages.c.protocol, messages.c.payload).where(
                    messages.c.sender_reference == "2019-000451")).one()
        finally:
            engine.dispose()
        again = httpx.post(proc.url + "/soap/infodip", content=infodip_request("enviarComunicacao", payload.decode()),
                           timeout=10)
        assert again.status_code == 200, again.text
        assert f"<i:protocolo>{protocol}</i:protocolo>" in again.text and "<i:reenvio>true</i:reenvio>" in again.text
        assert "<i:destino>" not in again.text
    finally:
        proc.stop()
    assert {str(e["id"]) for e in mocks.received("tse")} == {live}
    assert {str(e["id"]) for e in mocks.received("cnj")} == {live}
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            imported = {p for (p,) in conn.execute(select(imported_communications.c.protocol))}
            queued = {p for (p,) in conn.execute(select(outbox.c.protocol))}
            cov = coverage(conn)
    finally:
        engine.dispose()
    assert len(imported) == 3 and not imported & queued and len(queued) == 1
    assert cov.live_since is not None and cov.since is not None and cov.since < cov.live_since
    mocks.reset()


def test_generator_command(tmp_path: Path) -> None:
    """``gateway gerar-dados --scale 40`` migrates a new database and writes 40 communications, none pending
    delivery; a bad ``--desde`` is one line GATEWAY-E002."""
    url = f"sqlite:///{tmp_path / 'gerado.db'}"
    done = gateway(url, "gerar-dados", "--scale", "40", "--seed", "5")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"40 comunicações, \d+ versões, \d+ entregas, 28 pessoas em [\d.]+ s",
                        done.stdout.splitlines()[-1]), done.stdout
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(communications)).scalar_one() == 40
            assert conn.execute(select(func.count()).select_from(outbox).where(outbox.c.status != "delivered")
                                ).scalar_one() == 0
    finally:
        engine.dispose()
    bad = gateway(url, "gerar-dados", "--desde", "ontem")
    assert bad.returncode == 2 and bad.stderr.startswith("GATEWAY-E002: --desde inválida")


def peak_rss_kb(db_url: str, path: Path) -> int:
    """Peak resident memory (kB) of a ``gateway import`` of *path* in a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATABASE_URL": db_url, "GATEWAY_SECRET_KEY": "s" * 40})
    code = ("import resource, sys; from gateway.cli import main; status = main(sys.argv[1:]); "
            "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, "import", str(path), "--origem", path.stem], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stderr.rsplit("RSS ", 1)[1].split()[0])


def test_import_memory_does_not_grow_with_the_file(sqlite_url: str, tmp_path: Path) -> None:
    """Streaming: importing 12,000 records takes no more peak memory than importing 2,000, give or take 8 MB
    (reading everything first would add the file and its records, tens of MB)."""
    from gateway.datagen import person_cpf

    def write(name: str, n: int) -> Path:
        path = tmp_path / f"{name}.csv"
        with path.open("w", encoding="utf-8") as out:
            out.write("id_origem;orgao;tipo;data_recebimento;nome;cpf;data_fato;matricula_certidao;observacao\n")
            for i in range(n):
                out.write(f"{name}-{i};RCPN-097543;VI;2019-04-10;Pessoa {i};{person_cpf(i)};2019-04-02;"
                          f"09754301552026400215118008934294;{'x' * 2000}\n")
        return path

    small = peak_rss_kb(sqlite_url, write("pequeno", 2_000))
    large = peak_rss_kb(sqlite_url, write("grande", 12_000))
    assert large - small < 8 * 1024, (small, large)
