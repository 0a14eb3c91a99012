"""Intimations back to the procuradorias (issue 12, point 7): the avisos collected per procuradoria and court
(``intimacoes``: idempotent per organ, installation and aviso id; ciência taken once) and one callback per
procuradoria (``intimacao_callbacks``); ``gateway/divida/intimacoes/``.

Revision ID: 0012_intimacoes
Revises: 0010_import (the lead re-chains at merge)
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_intimacoes"
down_revision = "0010_import"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intimacoes",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("jtr", sa.String(5), nullable=False),
        sa.Column("instance", sa.String(10), nullable=False),
        sa.Column("aviso_id", sa.String(60), nullable=False),
        sa.Column("process_number", sa.String(20), nullable=True),
        sa.Column("tipo", sa.String(10), nullable=True),
        sa.Column("classe", sa.Integer, nullable=True),
        sa.Column("valor_causa", sa.String(30), nullable=True),
        sa.Column("partes", sa.Text, nullable=False),
        sa.Column("destinatario", sa.Text, nullable=True),
        sa.Column("disponibilizada_em", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prazo_tacito", sa.Date, nullable=False),
        sa.Column("aviso_xml", sa.LargeBinary, nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ciencia_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ciencia_por", sa.String(11), nullable=True),
        sa.Column("ciencia_tipo", sa.String(10), nullable=True),
        sa.Column("teor_xml", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("organ_id", "jtr", "instance", "aviso_id", name="uq_intimacoes_aviso"),
    )
    op.create_index("ix_intimacoes_organ_seq", "intimacoes", ["organ_id", "seq"])
    op.create_index("ix_intimacoes_process", "intimacoes", ["organ_id", "process_number"])
    op.create_table(
        "intimacao_callbacks",
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intimacao_callbacks")
    op.drop_index("ix_intimacoes_process", table_name="intimacoes")
    op.drop_index("ix_intimacoes_organ_seq", table_name="intimacoes")
    op.drop_table("intimacoes")
