"""Intimações: ``disponibilizada_em`` stored as UTC on SQLite too.

Until this revision the collector stored the court's ``dataDisponibilizacao`` as the aware Brasília-time value it
reads; PostgreSQL's ``timestamptz`` kept the instant, but SQLite keeps a timestamp's wall time only and every reader
takes it back as UTC, so on SQLite the API showed the intimation made available 3 hours earlier than it was (and a
``desde``/``ate`` day boundary could move an aviso to the previous day's listing). The collector now stores UTC;
this revision recomputes the rows already stored on SQLite from the aviso's own bytes (``aviso_xml``, kept exactly
as the court sent it). Rows whose aviso carries no readable ``dataDisponibilizacao`` were stored with the collection
instant, already UTC, and stay. ``prazo_tacito`` was computed from the aware value and was right all along.
PostgreSQL: nothing to do.

Revision ID: 0017_intimacoes_utc
Revises: 0016_consulta_facts
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_intimacoes_utc"
down_revision = "0016_consulta_facts"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    from gateway.clock import utc
    from gateway.divida.intimacoes.contract import disponibilizacao_of

    t = sa.table("intimacoes", sa.column("seq", sa.Integer), sa.column("aviso_xml", sa.LargeBinary),
                 sa.column("disponibilizada_em", sa.DateTime(timezone=True)))
    last = 0
    while True:
        rows = bind.execute(sa.select(t.c.seq, t.c.aviso_xml).where(t.c.seq > last).order_by(t.c.seq)
                            .limit(_BATCH)).all()
        if not rows:
            return
        for seq, xml in rows:
            try:
                sent = disponibilizacao_of(bytes(xml))
            except Exception:  # an unreadable stored aviso keeps its value (the collection instant)
                sent = None
            if sent is not None:
                bind.execute(sa.update(t).where(t.c.seq == seq).values(disponibilizada_em=utc(sent)))
        last = rows[-1][0]


def downgrade() -> None:
    """Nothing to undo: UTC is what every reader expected."""
