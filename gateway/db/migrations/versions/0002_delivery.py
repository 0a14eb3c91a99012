"""Delivery: outbox leases (several relays at once) and the record of every delivery attempt.

Revision ID: 0002_delivery
Revises: 0001_intake
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_delivery"
down_revision = "0001_intake"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", TZ, nullable=True))
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id"), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("destination", sa.String(20), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("receipt", sa.String(200), nullable=True),
    )
    op.create_index("ix_delivery_attempts_outbox", "delivery_attempts", ["outbox_id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_outbox", "delivery_attempts")
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
