"""History import (issue 14, point 6): the import batches and the imported communications (origin, origin id,
batch); ``gateway/history/``.

Revision ID: 0010_import
Revises: 0006_client_certificates (written beside 0007–0009 of other branches; the lead re-chains at merge)
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_import"
down_revision = "0009_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("file_format", sa.String(4), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("refused", sa.Integer, nullable=False),
        sa.Column("first_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "imported_communications",
        sa.Column("protocol", sa.String(21), sa.ForeignKey("communications.protocol"), primary_key=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("origin_id", sa.String(40), nullable=False),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batches.id"), nullable=False),
        sa.UniqueConstraint("origin", "origin_id", name="uq_imported_origin_id"),
    )
    op.create_index("ix_imported_batch", "imported_communications", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_imported_batch", table_name="imported_communications")
    op.drop_table("imported_communications")
    op.drop_table("import_batches")
