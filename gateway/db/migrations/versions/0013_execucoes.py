"""Execuções fiscais filed from structured CDAs through the MNI hub (issue 12, points 1–6): the filings with their
outbox state (``execucoes``), each CDA filed at most once (``execucao_cdas``) and the status callbacks
(``execucao_eventos``); ``gateway/divida/execucao/``.

Revision ID: 0013_execucoes
Revises: 0012_intimacoes
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_execucoes"
down_revision = "0012_intimacoes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "execucoes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("referencia", sa.String(120), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("tipo", sa.String(30), nullable=False),
        sa.Column("parent_id", sa.String(32), nullable=True),
        sa.Column("jtr", sa.String(5), nullable=False),
        sa.Column("codigo_localidade", sa.String(20), nullable=True),
        sa.Column("devedor", sa.String(14), nullable=True),
        sa.Column("valor", sa.String(30), nullable=True),
        sa.Column("cdas", sa.Text, nullable=False),
        sa.Column("partes", sa.Text, nullable=False),
        sa.Column("state", sa.String(15), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_xml", sa.LargeBinary, nullable=False),
        sa.Column("numero_processo", sa.String(20), nullable=True),
        sa.Column("protocolo", sa.String(60), nullable=True),
        sa.Column("data_protocolo", sa.String(14), nullable=True),
        sa.Column("recibo", sa.LargeBinary, nullable=True),
        sa.Column("motivo", sa.Text, nullable=True),
        sa.Column("resolucao", sa.Text, nullable=True),
        sa.Column("sinalizacoes", sa.Text, nullable=False),
        sa.Column("callback_url", sa.String(500), nullable=True),
        sa.Column("callback_secret", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organ_id", "referencia", name="uq_execucoes_referencia"),
    )
    op.create_index("ix_execucoes_due", "execucoes", ["state", "next_attempt_at"])
    op.create_index("ix_execucoes_organ_seq", "execucoes", ["organ_id", "seq"])
    op.create_table(
        "execucao_cdas",
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), primary_key=True),
        sa.Column("numero_inscricao", sa.String(20), primary_key=True),
        sa.Column("execucao_id", sa.String(32), nullable=False),
    )
    op.create_table(
        "execucao_eventos",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("execucao_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_execucao_eventos_due", "execucao_eventos", ["delivered_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("execucao_eventos")
    op.drop_table("execucao_cdas")
    op.drop_index("ix_execucoes_organ_seq", "execucoes")
    op.drop_index("ix_execucoes_due", "execucoes")
    op.drop_table("execucoes")
