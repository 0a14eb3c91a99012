"""Death batches from the civil registries (issue 13, ``gateway/obitos``): batches and their committed chunks,
each record's outcome linked to the kind VI version it became, declarations of months without deaths, and the
cartórios under each CRC.

Revision ID: 0007_obitos
Revises: 0006_client_certificates
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_obitos"
down_revision = "0006_client_certificates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "obito_lotes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("lote_id", sa.String(64), nullable=False),
        sa.Column("competencia", sa.String(7), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
        sa.Column("chunks_done", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("aceitos", sa.Integer, nullable=False),
        sa.Column("duplicados", sa.Integer, nullable=False),
        sa.Column("vinculados", sa.Integer, nullable=False),
        sa.Column("rejeitados", sa.Integer, nullable=False),
        sa.Column("atrasados", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organ_id", "lote_id", name="uq_obito_lotes_sender"),
    )
    op.create_table(
        "obito_blocos",
        sa.Column("lote", sa.Integer, sa.ForeignKey("obito_lotes.id"), primary_key=True),
        sa.Column("chunk", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_table(
        "obito_registros",
        sa.Column("lote", sa.Integer, sa.ForeignKey("obito_lotes.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("matricula", sa.String(32), nullable=True),
        sa.Column("cns", sa.String(6), nullable=True),
        sa.Column("protocol", sa.String(21), nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("earlier", sa.String(21), nullable=True),
        sa.Column("code", sa.String(16), nullable=True),
        sa.Column("field", sa.String(40), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("days_late", sa.Integer, nullable=False),
        sa.Column("municipio_ibge", sa.String(7), nullable=True),
        sa.Column("data_registro", sa.Date, nullable=True),
    )
    op.create_index("ix_obito_registros_matricula", "obito_registros", ["matricula"])
    op.create_table(
        "obito_declaracoes",
        sa.Column("cns", sa.String(6), primary_key=True),
        sa.Column("competencia", sa.String(7), primary_key=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "obito_crc_cartorios",
        sa.Column("crc_organ_id", sa.Integer, sa.ForeignKey("organs.id"), primary_key=True),
        sa.Column("cns", sa.String(6), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("obito_crc_cartorios")
    op.drop_table("obito_declaracoes")
    op.drop_index("ix_obito_registros_matricula", "obito_registros")
    op.drop_table("obito_registros")
    op.drop_table("obito_blocos")
    op.drop_table("obito_lotes")
