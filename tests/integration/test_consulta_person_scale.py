"""A consultation by CPF does work linear in the person's communications: SQLite's virtual-machine steps (counted
by a progress handler, not timed) for 400 communications stay about twice those for 200. The one-statement read
once joined each of the person's rows to every row of the same título (N² steps): a gateway holding 28,000
communications about one person (the intake benchmark's database) could not finish its warm-up consultation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from gateway.consulta.facts import PersonKeys
from gateway.consulta.store import communications_by_cpf, record_people
from gateway.db.engine import make_engine
from tests.support import seed, store_version

CPF, TITULO = "52998224725", "004356870906"
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _steps(tmp_path: Path, n: int) -> int:
    url = f"sqlite:///{tmp_path / f'p{n}.db'}"
    seed(url)
    engine = make_engine(url)
    try:
        keys = PersonKeys(CPF, TITULO, "maria da silva", date(1970, 1, 1), "ana da silva")
        with engine.begin() as conn:
            protocols = [f"2026{i:017d}" for i in range(n)]
            for p in protocols:
                store_version(conn, p, 1, ["TSE"], NOW)
            record_people(conn, [(p, keys) for p in protocols])
            # one more under the título alone (no CPF): found through the título the CPF's rows carry
            store_version(conn, "2026" + "9" * 17, 1, ["TSE"], NOW)
            record_people(conn, [("2026" + "9" * 17, PersonKeys(None, TITULO, "maria da silva", None, ""))])
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            counted = [0]

            def count() -> int:
                counted[0] += 1
                return 0

            raw.set_progress_handler(count, 100)
            try:
                found = communications_by_cpf(conn, CPF)
            finally:
                raw.set_progress_handler(None, 100)
        assert len(found) == n + 1
        return counted[0]
    finally:
        engine.dispose()


def test_a_consultation_by_cpf_does_work_linear_in_the_persons_communications(tmp_path: Path) -> None:
    """Doubling one person's communications (one CPF, one título, one more row under the título alone) about
    doubles the statement's steps; N² would quadruple them."""
    small, large = _steps(tmp_path, 200), _steps(tmp_path, 400)
    assert large < 3 * small, (small, large)
