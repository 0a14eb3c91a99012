"""HistoryImport in-process on SQLite and PostgreSQL: chunks, progress, resuming an interrupted import, duplicates
linked as live intake links them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from gateway.bootstrap import console
from gateway.consulta.store import coverage, find_person
from gateway.datagen import person_cpf
from gateway.db.tables import communications, imported_communications, outbox
from gateway.history.service import CHUNK, BatchReport
from tests.support import assert_stored_facts, test_settings

HEADER = "id_origem;orgao;tipo;data_recebimento;nome;cpf;data_fato;matricula_certidao\n"
MATRICULA = "09754301552026400215118008934294"


def rows(first: int, last: int) -> str:
    return "".join(f"O-{i};RCPN-097543;VI;2019-04-10;Pessoa {i};{person_cpf(i)};2019-04-02;{MATRICULA}\n"
                   for i in range(first, last))


def test_chunks_progress_resume_and_duplicates(db_url: str, tmp_path: Path) -> None:
    """1,200 records are written in chunks of 500 with a progress report after each; an import cut after 700
    records, run again on the whole file, imports only the 500 missing; a record about the same fact as an earlier
    one is linked to it (duplicate_of); none has an outbox row."""
    part = tmp_path / "parte.csv"
    part.write_text(HEADER + rows(0, 700), encoding="utf-8")
    whole = tmp_path / "todo.csv"
    # the last record repeats the fact of O-0 (same person, kind, date) under another id
    whole.write_text(HEADER + rows(0, 1199) + f"O-dup;RCPN-097543;VI;2019-04-11;Pessoa 0;{person_cpf(0)};2019-04-02;"
                     f"{MATRICULA}\n", encoding="utf-8")
    seen: list[tuple[int, int]] = []

    def progress(r: BatchReport) -> None:
        seen.append((r.lines, r.accepted))

    with console(test_settings(db_url, tmp_path)) as con:
        first = con.history.import_file(part, "LEGADO", None, "teste", on_progress=progress, progress_every_s=0)
        assert (first.lines, first.accepted, first.refused) == (700, 700, 0)
        assert seen == [(CHUNK, CHUNK), (700, 700)]
        seen.clear()
        second = con.history.import_file(whole, "LEGADO", None, "teste", on_progress=progress, progress_every_s=0)
        assert (second.lines, second.accepted, second.skipped, second.refused) == (1200, 500, 700, 0)
        assert seen == [(500, 0), (1000, 300), (1200, 500)]
        with con.reader.connect() as conn:
            assert conn.execute(select(func.count()).select_from(imported_communications)).scalar_one() == 1200
            assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
            original = conn.execute(select(communications.c.protocol).join(
                imported_communications, imported_communications.c.protocol == communications.c.protocol).where(
                imported_communications.c.origin_id == "O-0")).scalar_one()
            dup = conn.execute(select(communications.c.duplicate_of).join(
                imported_communications, imported_communications.c.protocol == communications.c.protocol).where(
                imported_communications.c.origin_id == "O-dup")).scalar_one()
            # each imported version stores the timeline facts its payload gives (messages.facts)
            assert assert_stored_facts(conn) == 1200
        assert dup == original


def test_imported_history_is_consulted_and_stated_in_the_coverage(db_url: str, tmp_path: Path) -> None:
    """What consultations are for (issue 14 point 6): an imported communication is found by the person's CPF, and
    the coverage statement names the import batch, its origin and count, and dates the data from the oldest
    reception imported (2019, before anything received live)."""
    path = tmp_path / "hist.csv"
    path.write_text(HEADER + rows(0, 3), encoding="utf-8")
    with console(test_settings(db_url, tmp_path)) as con:
        report = con.history.import_file(path, "LEGADO", None, "teste")
        assert report.accepted == 3
        with con.reader.connect() as conn:
            found = find_person(conn, cpf=person_cpf(1))
            imported = conn.execute(select(imported_communications.c.protocol).where(
                imported_communications.c.origin_id == "O-1")).scalar_one()
            cover = coverage(conn)
    assert found.protocols == {imported} and not found.ambiguous
    assert [(h.origin, h.communications) for h in cover.imported] == [("LEGADO", 3)]
    assert cover.since is not None and cover.since.year == 2019
