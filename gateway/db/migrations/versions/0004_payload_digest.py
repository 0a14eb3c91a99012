"""A retificação's stored payload_digest becomes the SHA-256 of its stored bytes (it was the digest of the whole
operation element, which is neither stored nor sent). The protocol it corrects, which that digest covered, is
compared beside it by intake's idempotency check (``gateway/infodip/service.py``). Audit entries already written
keep their values (the log is append-only); new ones carry the digest of the stored bytes.

Revision ID: 0004_payload_digest
Revises: 0003_mni_hub
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004_payload_digest"
down_revision = "0003_mni_hub"
branch_labels = None
depends_on = None

_messages = sa.table("messages", sa.column("message_id", sa.String), sa.column("operation", sa.String),
                     sa.column("payload", sa.LargeBinary), sa.column("payload_digest", sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_messages.c.message_id, _messages.c.payload)
                        .where(_messages.c.operation == "retificacao")).all()
    for message_id, payload in rows:
        conn.execute(_messages.update().where(_messages.c.message_id == message_id)
                     .values(payload_digest=hashlib.sha256(bytes(payload)).hexdigest()))


def downgrade() -> None:
    """Nothing to undo: the digest of the stored bytes is right under either code."""
