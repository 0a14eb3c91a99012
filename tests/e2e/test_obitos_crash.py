"""SIGKILL in the middle of a large death batch, then the resend continues it (issue 13 §3): every record once,
each stored kind VI version delivered to the TSE simulator exactly once, the audit chain intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from gateway.bootstrap import console
from gateway.db.tables import communications, obito_blocos, obito_lotes, obito_registros, outbox
from tests.e2e.obitos_support import CRC, ENV, all_outcomes, body, get_batch, grant, post_batch, recs
from tests.support import GatewayProcess, Mocks, seed, test_settings, wait_until


@pytest.mark.timeout(300)
def test_sigkill_mid_batch_then_resend_resumes(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'gw.db'}"
    seed(db_url)
    grant(db_url)
    settings = test_settings(db_url, tmp_path)
    records = recs(1000, ("097543", "123456"), seed=21, first_termo=500_000)
    data = body("LOTE-CRASH-1", records)
    mocks = Mocks()
    engine = create_engine(db_url)
    try:
        gw = GatewayProcess(settings, tmp_path / "gw1.log",
                            {**mocks.env(), **ENV, "GATEWAY_CRASH_AT": "obitos_chunk:5"}).start()
        r = post_batch(gw.url, data, user=CRC)
        assert r.status_code == 202, r.text
        wait_until(lambda: not gw.alive(), 60, 0.1, "the gateway killed mid-batch")
        gw.kill()
        with engine.connect() as conn:
            lote = conn.execute(select(obito_lotes)).mappings().one()
            chunks = conn.execute(select(func.count()).select_from(obito_blocos)).scalar()
        assert lote["status"] == "processando"
        assert 0 < lote["chunks_done"] < 20 and chunks == lote["chunks_done"]
        assert lote["processed"] == lote["chunks_done"] * 50

        gw2 = GatewayProcess(settings, tmp_path / "gw2.log", {**mocks.env(), **ENV}).start()
        try:
            again = post_batch(gw2.url, data, user=CRC)
            assert again.status_code == 202, again.text
            done = wait_until(lambda: (v := get_batch(gw2.url, "LOTE-CRASH-1", CRC).json())["situacao"]
                              == "concluido" and v, 120, 0.2, "batch resumed and concluded")
            assert done["processados"] == 1000 and done["contagem"]["aceito"] == 1000
            items = all_outcomes(gw2.url, "LOTE-CRASH-1", CRC)
            assert [i["sequencia"] for i in items] == list(range(1000))
            assert len({i["protocolo"] for i in items}) == 1000
            # another content under the same id is refused (compared chunk by chunk), the earlier result stays
            other = post_batch(gw2.url, body("LOTE-CRASH-1", records[:999] + recs(1, first_termo=900_000)),
                               user=CRC)
            assert other.status_code == 409 and other.json()["codigo"] == "INFODIP-E061"

            def delivered() -> bool:
                with engine.connect() as conn:
                    return conn.execute(select(func.count()).select_from(outbox).where(
                        outbox.c.status != "delivered")).scalar() == 0
            wait_until(delivered, 120, 0.2, "every version delivered")
        finally:
            gw2.stop()
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(communications).where(
                communications.c.kind == "VI")).scalar()
            ids = {m for (m,) in conn.execute(select(obito_registros.c.message_id))}
        assert stored == 1000
        received = [m for m in mocks.received("tse") if m["id"] in ids]
        assert len({m["id"] for m in received}) == 1000
        assert sum(1 for m in received if not m["duplicate"]) == 1000  # in the store once each
        with console(settings) as con:
            report, _signed = con.verify_audit()
        assert report.ok, report.broken
    finally:
        engine.dispose()
        mocks.stop()
