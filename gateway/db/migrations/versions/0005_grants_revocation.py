"""Credential lifecycle: a version per credential (bumped by every change), its revocation time, the REST grants of
each organ, and the one-row ``auth_epoch`` every administrative change bumps (how other processes learn of it).

Revision ID: 0005_grants_revocation
Revises: 0004_payload_digest
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0005_grants_revocation"
down_revision = "0004_payload_digest"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("credentials", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("credentials", sa.Column("revoked_at", TZ, nullable=True))
    op.add_column("credentials", sa.Column("updated_at", TZ, nullable=True))
    op.create_table(
        "organ_grants",
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), primary_key=True),
        sa.Column("scope", sa.String(40), primary_key=True),
        sa.Column("granted_at", TZ, nullable=False),
    )
    epoch = op.create_table(
        "auth_epoch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.bulk_insert(epoch, [{"id": 1, "epoch": 0, "updated_at": datetime.now(timezone.utc)}])


def downgrade() -> None:
    op.drop_table("auth_epoch")
    op.drop_table("organ_grants")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("revoked_at")
        batch.drop_column("version")
