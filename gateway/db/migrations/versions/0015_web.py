"""People of the web form and the operators' console (issue 16): ``web_people`` (a natural person acting for an
organ, role ``remetente`` or ``operador``), ``web_sessions`` (server-side sessions) and ``web_drafts``;
``gateway/web/people.py``.

Revision ID: 0015_web
Revises: 0014_estatisticas
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_web"
down_revision = "0014_estatisticas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_people",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cpf", sa.String(11), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("organ_id", sa.Integer, sa.ForeignKey("organs.id"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("web_people.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_web_sessions_person", "web_sessions", ["person_id"])
    op.create_table(
        "web_drafts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("web_people.id"), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("protocol", sa.String(21), nullable=True),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_drafts_person", "web_drafts", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_web_drafts_person", table_name="web_drafts")
    op.drop_table("web_drafts")
    op.drop_index("ix_web_sessions_person", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_people")
