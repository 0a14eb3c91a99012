"""MNI hub: encrypted credentials per (client, installation), where each process lives, the avisos seen, filings.

Revision ID: 0003_mni_hub
Revises: 0002_delivery
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_mni_hub"
down_revision = "0002_delivery"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mni_credentials",
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), primary_key=True),
        sa.Column("jtr", sa.String(5), primary_key=True),
        sa.Column("instance", sa.String(10), primary_key=True),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "mni_process_locations",
        sa.Column("jtr", sa.String(5), primary_key=True),
        sa.Column("process_number", sa.String(20), primary_key=True),
        sa.Column("instance", sa.String(10), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "mni_avisos",
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), primary_key=True),
        sa.Column("aviso_id", sa.String(40), primary_key=True),
        sa.Column("jtr", sa.String(5), primary_key=True),
        sa.Column("instance", sa.String(10), primary_key=True),
        sa.Column("process_number", sa.String(20), nullable=True),
        sa.Column("seen_at", TZ, nullable=False),
    )
    op.create_table(
        "mni_filings",
        sa.Column("filing_key", sa.String(64), primary_key=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("jtr", sa.String(5), nullable=False),
        sa.Column("instance", sa.String(10), nullable=False),
        sa.Column("process_number", sa.String(20), nullable=True),
        sa.Column("state", sa.String(14), nullable=False),
        sa.Column("protocol", sa.String(60), nullable=True),
        sa.Column("response", sa.LargeBinary, nullable=True),
        sa.Column("document_digests", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("mni_filings", "mni_avisos", "mni_process_locations", "mni_credentials"):
        op.drop_table(table)
