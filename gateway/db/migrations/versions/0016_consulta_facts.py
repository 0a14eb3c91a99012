"""Consultation (issue 14): ``messages.facts``, the timeline's facts of each version's communication as compact JSON
(``gateway/consulta/facts.py``: ``encode``/``decode``), written with the version by every writer (intake, history
import, death batches, the generator) so that a consultation no longer parses every stored payload with lxml.

No backfill: versions stored before this migration keep ``facts`` NULL and a consultation parses their payload, as
it did before (``fact_of``) — the answer is the same either way, only its CPU differs. A backfill would parse every
stored payload inside the migration (about a minute per 1,000,000 versions here, holding the migration's
transaction); it is not worth it for a cost that only falls on consultations of people communicated about before
the upgrade. NULL also stays the value of a cancelamento (it carries no communication).

Revision ID: 0016_consulta_facts
Revises: 0015_web
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_consulta_facts"
down_revision = "0015_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("facts", sa.Text, nullable=True))  # nullable: instant, no table rewrite


def downgrade() -> None:
    # a plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch copy of messages would break the foreign keys
    # pointing at it
    op.drop_column("messages", "facts")
