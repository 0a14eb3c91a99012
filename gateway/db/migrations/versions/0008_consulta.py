"""Consultation (issue 14): the person keys of each communication (``consulta_pessoas``: CPF, título, folded name +
birth date + mother's name, each indexed) filled from the stored payloads, and the indexes of a sender's listing
(organ + reception time, process number) and of the lateness report (organ + reception time of each version).

Revision ID: 0008_consulta
Revises: 0006_client_certificates (written beside 0007 of another branch; the lead re-chains at merge)
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_consulta"
down_revision = "0006_client_certificates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consulta_pessoas",
        sa.Column("protocol", sa.String(21), sa.ForeignKey("communications.protocol"), primary_key=True),
        sa.Column("cpf", sa.String(11), nullable=True),
        sa.Column("titulo", sa.String(12), nullable=True),
        sa.Column("nome", sa.String(200), nullable=False),
        sa.Column("data_nascimento", sa.Date, nullable=True),
        sa.Column("nome_mae", sa.String(200), nullable=False),
    )
    op.create_index("ix_consulta_pessoas_cpf", "consulta_pessoas", ["cpf"])
    op.create_index("ix_consulta_pessoas_titulo", "consulta_pessoas", ["titulo"])
    op.create_index("ix_consulta_pessoas_nome", "consulta_pessoas", ["nome", "data_nascimento", "nome_mae"])
    op.create_index("ix_communications_organ_created", "communications", ["organ_id", "created_at", "protocol"])
    op.create_index("ix_communications_process", "communications", ["process_number"])
    op.create_index("ix_messages_organ_received", "messages", ["organ_id", "received_at"])
    _backfill()


def _backfill() -> None:
    """The keys of every communication already stored, from its latest version that is not a cancelamento."""
    from gateway.consulta.facts import keys_of

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT protocol, version, payload FROM messages WHERE operation <> 'cancelamento' "
        "ORDER BY protocol, version")).all()
    latest: dict[str, bytes] = {}
    for protocol, _version, payload in rows:
        latest[protocol] = bytes(payload)
    table = sa.table("consulta_pessoas", sa.column("protocol"), sa.column("cpf"), sa.column("titulo"),
                     sa.column("nome"), sa.column("data_nascimento"), sa.column("nome_mae"))
    batch = []
    for protocol, payload in latest.items():
        keys = keys_of(payload)
        batch.append({"protocol": protocol, "cpf": keys.cpf, "titulo": keys.titulo, "nome": keys.nome[:200],
                      "data_nascimento": keys.data_nascimento, "nome_mae": keys.nome_mae[:200]})
        if len(batch) >= 1000:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_index("ix_messages_organ_received", "messages")
    op.drop_index("ix_communications_process", "communications")
    op.drop_index("ix_communications_organ_created", "communications")
    op.drop_table("consulta_pessoas")
