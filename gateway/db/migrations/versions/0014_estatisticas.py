"""Public statistics and certificates (issue 15): organs gain a UF; ``estatisticas_contagens`` (the statistics'
atomic counts: distinct people per cell) and ``estatisticas_pessoas`` (who is already counted in each cell), both
filled here from the communications already stored, then kept as communications are accepted;
``certidoes`` (every certificate issued: code, hashes, what was printed).

Revision ID: 0014_estatisticas
Revises: 0013_execucoes
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0014_estatisticas"
down_revision = "0013_execucoes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organs", sa.Column("uf", sa.String(2), nullable=True))
    op.create_table(
        "estatisticas_contagens",
        sa.Column("kind", sa.String(4), primary_key=True),
        sa.Column("organ_id", sa.Integer, primary_key=True),
        sa.Column("mes", sa.Integer, primary_key=True),
        sa.Column("situacao", sa.String(12), primary_key=True),
        sa.Column("pessoas", sa.Integer, nullable=False),
    )
    op.create_index("ix_estatisticas_mes", "estatisticas_contagens", ["mes", "kind"])
    op.create_table(
        "estatisticas_pessoas",
        sa.Column("kind", sa.String(4), primary_key=True),
        sa.Column("organ_id", sa.Integer, primary_key=True),
        sa.Column("mes", sa.Integer, primary_key=True),
        sa.Column("pessoa", sa.String(64), primary_key=True),
        sa.Column("ativas", sa.Integer, nullable=False),
        sa.Column("canceladas", sa.Integer, nullable=False),
    )
    _backfill(op.get_bind())
    op.create_table(
        "certidoes",
        sa.Column("codigo", sa.String(16), primary_key=True),
        sa.Column("numero", sa.String(40), nullable=False, unique=True),
        sa.Column("tipo", sa.String(10), nullable=False),
        sa.Column("nome", sa.String(200), nullable=False),
        sa.Column("cpf_mascarado", sa.String(14), nullable=False),
        sa.Column("cpf_digest", sa.String(64), nullable=False),
        sa.Column("emitida_em", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cobertura_desde", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comunicacoes", sa.Text, nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("xml_sha256", sa.String(64), nullable=False),
    )


_CHUNK = 20_000
_MARK = sa.text("INSERT INTO estatisticas_pessoas (kind, organ_id, mes, pessoa, ativas, canceladas) "
                "VALUES (:kind, :organ_id, :mes, :pessoa, :ativas, :canceladas) "
                "ON CONFLICT (kind, organ_id, mes, pessoa) DO UPDATE SET "
                "ativas = estatisticas_pessoas.ativas + excluded.ativas, "
                "canceladas = estatisticas_pessoas.canceladas + excluded.canceladas")


def _backfill(conn: sa.engine.Connection) -> None:
    """The markers and the counts of the communications already stored, as acceptance keeps them: each person once per
    kind × organ × month (the protocol's first six characters, AAAAMMDD-…) × situation. The markers are summed in
    chunks of the communications (in Python: SHA-256 of the person key), then the counts are one GROUP BY of them."""
    last = ""
    while True:
        rows = conn.execute(sa.text(
            "SELECT protocol, kind, organ_id, person_key, status FROM communications WHERE protocol > :last "
            "ORDER BY protocol LIMIT :n"), {"last": last, "n": _CHUNK}).all()
        if not rows:
            break
        last = rows[-1].protocol
        markers: dict[tuple[str, int, int, str], list[int]] = {}
        for r in rows:
            m = markers.setdefault((r.kind, r.organ_id, int(r.protocol[:6]),
                                    hashlib.sha256(r.person_key.encode()).hexdigest()), [0, 0])
            m[0 if r.status == "ativa" else 1] += 1
        conn.execute(_MARK, [{"kind": k, "organ_id": o, "mes": m, "pessoa": p, "ativas": a, "canceladas": c}
                             for (k, o, m, p), (a, c) in sorted(markers.items())])
    conn.execute(sa.text(
        "INSERT INTO estatisticas_contagens (kind, organ_id, mes, situacao, pessoas) "
        "SELECT kind, organ_id, mes, 'ativa', count(*) FROM estatisticas_pessoas WHERE ativas > 0 "
        "GROUP BY kind, organ_id, mes"))
    conn.execute(sa.text(
        "INSERT INTO estatisticas_contagens (kind, organ_id, mes, situacao, pessoas) "
        "SELECT kind, organ_id, mes, 'cancelada', count(*) FROM estatisticas_pessoas WHERE canceladas > 0 "
        "GROUP BY kind, organ_id, mes"))


def downgrade() -> None:
    op.drop_table("certidoes")
    op.drop_table("estatisticas_pessoas")
    op.drop_table("estatisticas_contagens")
    # plain ALTER TABLE (SQLite ≥ 3.35 too): a batch copy of organs would break the foreign keys pointing to it
    op.execute("ALTER TABLE organs DROP COLUMN uf")
