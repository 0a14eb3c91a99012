"""Client certificates registered for organs (``gateway organ certificate add``): the SHA-256 fingerprint of each
certificate's DER bytes, its subject and expiry; a SOAP call without a credential of its own, from a certificate a
trusted TLS proxy verified, is that organ's (``gateway/client_certs.py``).

Revision ID: 0006_client_certificates
Revises: 0004_payload_digest (written beside 0005 of another branch; chained after it at merge)
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_client_certificates"
down_revision = "0005_grants_revocation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_certificates",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("client_certificates")
