"""The change feed (Res. Conjunta 6/2020 art. 12): ``feed_entries`` (every accepted version × destination, numbered
in commit order; filled here from the outbox for what was accepted before, in the outbox's order — the backfill),
``feed_subscriptions`` (webhooks), and ``store_outcomes`` (what the TSE store did with each version).

Revision ID: 0009_feed
Revises: 0006_client_certificates (written beside 0007/0008 of other branches; chained after them at merge)
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_feed"
down_revision = "0008_consulta"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("destination", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(36), sa.ForeignKey("messages.message_id"), nullable=False),
        sa.Column("protocol", sa.String(21), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("message_id", "destination", name="uq_feed_message_destination"),
    )
    op.create_index("ix_feed_destination_seq", "feed_entries", ["destination", "seq"])
    op.execute(
        "INSERT INTO feed_entries (seq, destination, message_id, protocol, version, committed_at) "
        "SELECT ROW_NUMBER() OVER (ORDER BY id), destination, message_id, protocol, version, created_at FROM outbox")
    op.create_table(
        "feed_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("destination", sa.String(20), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("paused_reason", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "store_outcomes",
        sa.Column("message_id", sa.String(36), sa.ForeignKey("messages.message_id"), primary_key=True),
        sa.Column("destination", sa.String(20), primary_key=True),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_outcomes")
    op.drop_table("feed_subscriptions")
    op.drop_index("ix_feed_destination_seq", "feed_entries")
    op.drop_table("feed_entries")
