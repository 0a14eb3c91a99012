"""INFODIP intake: organs, credentials, communications, messages, outbox, audit chains and checkpoints.

Revision ID: 0001_intake
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_intake"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organ_type", sa.String(20), nullable=False),
        sa.Column("kinds", sa.String(60), nullable=True),
        sa.Column("cns", sa.String(6), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(80), nullable=False, unique=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "communications",
        sa.Column("protocol", sa.String(21), primary_key=True),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("person_key", sa.String(300), nullable=False),
        sa.Column("process_number", sa.String(20), nullable=True),
        sa.Column("fact_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("duplicate_of", sa.String(21), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_communications_fact", "communications",
                    ["person_key", "kind", "fact_date", "process_number", "created_at"])
    op.create_table(
        "messages",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("protocol", sa.String(21), sa.ForeignKey("communications.protocol"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(14), nullable=False),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("sender_reference", sa.String(64), nullable=False),
        sa.Column("payload_digest", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("days_late", sa.Integer, nullable=False),
        sa.Column("cancel_reason", sa.Text, nullable=True),
        sa.UniqueConstraint("organ_id", "sender_reference", name="uq_messages_sender_reference"),
        sa.UniqueConstraint("protocol", "version", name="uq_messages_protocol_version"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), sa.ForeignKey("messages.message_id"), nullable=False),
        sa.Column("protocol", sa.String(21), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("destination", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("receipt", sa.String(200), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("message_id", "destination", name="uq_outbox_message_destination"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_protocol", "outbox", ["protocol", "destination", "version"])
    op.create_table(
        "audit_chains",
        sa.Column("chain_id", sa.String(36), primary_key=True),
        sa.Column("writer", sa.String(200), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chain_id", sa.String(36), sa.ForeignKey("audit_chains.chain_id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("organ_id", sa.Integer, nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("protocol", sa.String(21), nullable=True),
        sa.Column("payload_digest", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("chain_id", "seq", name="uq_audit_chain_seq"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chain_id", sa.String(36), sa.ForeignKey("audit_chains.chain_id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_checkpoints", "audit_log", "audit_chains", "outbox", "messages", "communications",
                  "credentials", "organs"):
        op.drop_table(table)
