"""Public statistics and certificates (issue 15): organs gain a UF; ``estatisticas_contagens`` (the statistics'
atomic counts, filled here from the communications already stored, then kept as communications are accepted);
``certidoes`` (every certificate issued: code, hashes, what was printed).

Revision ID: 0014_estatisticas
Revises: 0013_execucoes
"""
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
    # the protocol begins with the local day of reception (AAAAMMDD-…): its first six characters are the month
    op.execute("INSERT INTO estatisticas_contagens (kind, organ_id, mes, situacao, pessoas) "
               "SELECT kind, organ_id, CAST(substr(protocol, 1, 6) AS INTEGER), status, count(*) "
               "FROM communications GROUP BY kind, organ_id, CAST(substr(protocol, 1, 6) AS INTEGER), status")
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


def downgrade() -> None:
    op.drop_table("certidoes")
    op.drop_table("estatisticas_contagens")
    # plain ALTER TABLE (SQLite ≥ 3.35 too): a batch copy of organs would break the foreign keys pointing to it
    op.execute("ALTER TABLE organs DROP COLUMN uf")
