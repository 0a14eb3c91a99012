"""The database schema (SQLAlchemy Core). Migrations in ``gateway/db/migrations`` must produce exactly this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: every state an outbox row may be in (the contract's word for each: ``gateway.infodip.contract.STATUS_PT``)
OUTBOX_STATES = ("pending", "blocked", "sending", "delivered", "failed", "dead")
#: every state a communication may be in
COMMUNICATION_STATES = ("ativa", "cancelada")

organs = Table(
    "organs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("organ_type", String(20), nullable=False),
    # Comma-separated kinds overriding the default competence of the type; NULL = the default.
    Column("kinds", String(60), nullable=True),
    Column("cns", String(6), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the organ's UF (issue 15: the public statistics count by the sending organ's UF); NULL = not configured
    Column("uf", String(2), nullable=True),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Bumped by every change of the credential (password, organ, revocation): a cached verdict or a bearer token
    # carries the version it was issued for and stops working once it differs (gateway/auth_state.py).
    Column("version", Integer, nullable=False, default=1, server_default="1"),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=True),
)

# -- grants and revocation (issue 10) ----------------------------------------------------------------------------

#: The REST scopes given to an organ (deny by default: no row, no scope). Scope names: gateway/grants.py.
organ_grants = Table(
    "organ_grants",
    metadata,
    Column("organ_id", Integer, ForeignKey("organs.id"), primary_key=True),
    Column("scope", String(40), primary_key=True),
    Column("granted_at", DateTime(timezone=True), nullable=False),
)

#: One row (id 1), bumped in the transaction of every change of credentials, organs or grants: each process reads
#: it at most every GATEWAY_AUTH_REFRESH_S and reloads what it knows of credentials when it moved.
auth_epoch = Table(
    "auth_epoch",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("epoch", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

communications = Table(
    "communications",
    metadata,
    Column("protocol", String(21), primary_key=True),
    Column("kind", String(4), nullable=False),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("person_key", String(300), nullable=False),
    Column("process_number", String(20), nullable=True),
    Column("fact_date", Date, nullable=False),
    Column("status", String(12), nullable=False),  # ativa | cancelada
    Column("current_version", Integer, nullable=False),
    Column("duplicate_of", String(21), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # covers the duplicate lookup (same person, process, kind, date) and its "earliest first" ordering
    Index("ix_communications_fact", "person_key", "kind", "fact_date", "process_number", "created_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("protocol", String(21), ForeignKey("communications.protocol"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("operation", String(14), nullable=False),  # envio | retificacao | cancelamento
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("sender_reference", String(64), nullable=False),
    Column("payload_digest", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("due_date", Date, nullable=True),
    Column("late", Boolean, nullable=False, default=False),
    Column("days_late", Integer, nullable=False, default=0),
    Column("cancel_reason", Text, nullable=True),
    # the timeline's facts of the version's communication, compact JSON (gateway/consulta/facts.py encode); NULL for
    # a cancelamento and for versions stored before migration 0016 (a consultation then parses the payload)
    Column("facts", Text, nullable=True),
    UniqueConstraint("organ_id", "sender_reference", name="uq_messages_sender_reference"),
    UniqueConstraint("protocol", "version", name="uq_messages_protocol_version"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), ForeignKey("messages.message_id"), nullable=False),
    Column("protocol", String(21), nullable=False),
    Column("version", Integer, nullable=False),
    Column("destination", String(20), nullable=False),
    # pending | blocked | sending | delivered | failed | dead
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("receipt", String(200), nullable=True),
    # the relay holding the row while it sends it, and until when (a crashed relay's rows are taken back after it)
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("message_id", "destination", name="uq_outbox_message_destination"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_protocol", "protocol", "destination", "version"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id"), nullable=False),
    Column("message_id", String(36), nullable=False),
    Column("destination", String(20), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("relay", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(12), nullable=False),  # delivered | failed | dead
    Column("error", Text, nullable=True),
    Column("receipt", String(200), nullable=True),
    Index("ix_delivery_attempts_outbox", "outbox_id"),
)

# -- MNI hub -----------------------------------------------------------------------------------------------------

mni_credentials = Table(
    "mni_credentials",
    metadata,
    Column("organ_id", Integer, ForeignKey("organs.id"), primary_key=True),
    Column("jtr", String(5), primary_key=True),
    Column("instance", String(10), primary_key=True),
    Column("username", String(200), nullable=False),
    # Fernet token (key from GATEWAY_MNI_CREDENTIALS_KEY); never returned by any interface
    Column("secret", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

mni_process_locations = Table(
    "mni_process_locations",
    metadata,
    Column("jtr", String(5), primary_key=True),
    Column("process_number", String(20), primary_key=True),
    Column("instance", String(10), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

mni_avisos = Table(
    "mni_avisos",
    metadata,
    Column("organ_id", Integer, ForeignKey("organs.id"), primary_key=True),
    Column("aviso_id", String(40), primary_key=True),
    Column("jtr", String(5), primary_key=True),
    Column("instance", String(10), primary_key=True),
    Column("process_number", String(20), nullable=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)

mni_filings = Table(
    "mni_filings",
    metadata,
    Column("filing_key", String(64), primary_key=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("jtr", String(5), nullable=False),
    Column("instance", String(10), nullable=False),
    Column("process_number", String(20), nullable=True),
    Column("state", String(14), nullable=False),  # sending | done | indeterminate
    Column("protocol", String(60), nullable=True),
    Column("response", LargeBinary, nullable=True),
    Column("document_digests", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

audit_chains = Table(
    "audit_chains",
    metadata,
    Column("chain_id", String(36), primary_key=True),
    Column("writer", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chain_id", String(36), ForeignKey("audit_chains.chain_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Column("event", String(40), nullable=False),
    Column("organ_id", Integer, nullable=True),
    Column("message_id", String(36), nullable=True),
    Column("protocol", String(21), nullable=True),
    Column("payload_digest", String(64), nullable=True),
    Column("detail", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("chain_id", "seq", name="uq_audit_chain_seq"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chain_id", String(36), ForeignKey("audit_chains.chain_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# -- client certificates (gateway/client_certs.py) -----------------------------------------------------------------

client_certificates = Table(
    "client_certificates",
    metadata,
    # SHA-256 of the certificate's DER bytes, hex
    Column("fingerprint", String(64), primary_key=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("subject", String(500), nullable=False),
    Column("not_after", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# -- consultation (issue 14: gateway/consulta/) ----------------------------------------------------------------------

#: The keys of the person each communication is about, as its current version says (written with every envio and
#: retificação, in the same transaction): what a consultation by CPF, título or name + birth date + mother's name
#: looks up (Res. Conjunta 6/2020 art. 4º and 10). Names are stored folded (no accents, lower case, single spaces).
consulta_pessoas = Table(
    "consulta_pessoas",
    metadata,
    Column("protocol", String(21), ForeignKey("communications.protocol"), primary_key=True),
    Column("cpf", String(11), nullable=True),
    Column("titulo", String(12), nullable=True),
    Column("nome", String(200), nullable=False),
    Column("data_nascimento", Date, nullable=True),
    Column("nome_mae", String(200), nullable=False),
    Index("ix_consulta_pessoas_cpf", "cpf"),
    Index("ix_consulta_pessoas_titulo", "titulo"),
    Index("ix_consulta_pessoas_nome", "nome", "data_nascimento", "nome_mae"),
)

# a sender's listing by period (and its cursor), by process number; the lateness report per sender and month
Index("ix_communications_organ_created", communications.c.organ_id, communications.c.created_at,
      communications.c.protocol)
Index("ix_communications_process", communications.c.process_number)
Index("ix_messages_organ_received", messages.c.organ_id, messages.c.received_at)
# -- the change feed (Res. Conjunta 6/2020 art. 12) and the stores' processing outcome (issue 14) ------------------

#: One row per accepted version × destination it is routed to, numbered in commit order (``seq``: assigned just before
#: the commit, under a transaction-scoped advisory lock on PostgreSQL — :mod:`gateway.infodip.feed`), so a reader that
#: sees ``seq`` N sees every row below N: no row committed late by a slower writer is ever skipped.
feed_entries = Table(
    "feed_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("destination", String(20), nullable=False),
    Column("message_id", String(36), ForeignKey("messages.message_id"), nullable=False),
    Column("protocol", String(21), nullable=False),
    Column("version", Integer, nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("message_id", "destination", name="uq_feed_message_destination"),
    Index("ix_feed_destination_seq", "destination", "seq"),
)

#: Webhook subscriptions to the feed (push): one subscriber organ, its destination's slice of the feed, where it has
#: been delivered up to (``position``), and its state (``ativa`` | ``pausada``).
feed_subscriptions = Table(
    "feed_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("destination", String(20), nullable=False),
    Column("url", String(500), nullable=False),
    # the HMAC-SHA256 key of X-Gateway-Assinatura (shown once, at creation)
    Column("secret", String(100), nullable=False),
    Column("position", BigInteger, nullable=False, default=0),
    Column("state", String(10), nullable=False),  # ativa | pausada
    Column("paused_reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: What a national store did with a version after receiving it (DOMAIN.md §2a), as it reported it.
STORE_OUTCOMES = ("processado", "eleitor-nao-encontrado", "revisao-manual")
store_outcomes = Table(
    "store_outcomes",
    metadata,
    Column("message_id", String(36), ForeignKey("messages.message_id"), primary_key=True),
    Column("destination", String(20), primary_key=True),
    Column("outcome", String(30), nullable=False),  # processado | eleitor-nao-encontrado | revisao-manual
    Column("detail", Text, nullable=True),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# -- death batches from the civil registries (issue 13, gateway/obitos) ------------------------------------------

#: One batch per (sending organ, the sender's batch id): its competência, progress and the digest chain of its
#: committed chunks (a resend is compared chunk by chunk and continues after the last committed one).
obito_lotes = Table(
    "obito_lotes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("lote_id", String(64), nullable=False),
    Column("competencia", String(7), nullable=False),
    Column("channel", String(8), nullable=False),  # soap | rest
    Column("status", String(12), nullable=False),  # processando | concluido
    Column("total", Integer, nullable=False),
    Column("processed", Integer, nullable=False),
    Column("chunks_done", Integer, nullable=False),
    # SHA-256 chain over the records (hex) after the last committed chunk; the whole batch's once concluded
    Column("digest", String(64), nullable=False),
    Column("aceitos", Integer, nullable=False),
    Column("duplicados", Integer, nullable=False),
    Column("vinculados", Integer, nullable=False),
    Column("rejeitados", Integer, nullable=False),
    Column("atrasados", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organ_id", "lote_id", name="uq_obito_lotes_sender"),
)

#: The digest chain after each committed chunk (chunk 0 first): what a resend of the same batch is compared with.
obito_blocos = Table(
    "obito_blocos",
    metadata,
    Column("lote", Integer, ForeignKey("obito_lotes.id"), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
)

#: One row per record of a batch, in order: its outcome and, for a stored one, the kind VI version it became
#: (``message_id``, ``protocol``) with what INFODIP 1.0's block cannot carry (IBGE municipality, registration date).
obito_registros = Table(
    "obito_registros",
    metadata,
    Column("lote", Integer, ForeignKey("obito_lotes.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("outcome", String(10), nullable=False),  # aceito | duplicado | vinculado | rejeitado
    Column("matricula", String(32), nullable=True),
    Column("cns", String(6), nullable=True),
    Column("protocol", String(21), nullable=True),  # the stored communication (aceito, vinculado)
    Column("message_id", String(36), nullable=True),
    Column("earlier", String(21), nullable=True),  # duplicado / vinculado: the earlier protocol, when shown
    Column("code", String(16), nullable=True),
    Column("field", String(40), nullable=True),
    Column("message", Text, nullable=True),
    Column("due_date", Date, nullable=True),
    Column("days_late", Integer, nullable=False),
    Column("municipio_ibge", String(7), nullable=True),
    Column("data_registro", Date, nullable=True),
    Index("ix_obito_registros_matricula", "matricula"),
)

#: A cartório's declaration that it registered no death in a competência (declararSemObitos).
obito_declaracoes = Table(
    "obito_declaracoes",
    metadata,
    Column("cns", String(6), primary_key=True),
    Column("competencia", String(7), primary_key=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: The cartórios (by CNS) a CRC sends for.
obito_crc_cartorios = Table(
    "obito_crc_cartorios",
    metadata,
    Column("crc_organ_id", Integer, ForeignKey("organs.id"), primary_key=True),
    Column("cns", String(6), primary_key=True),
    Column("name", String(200), nullable=True),
)

# -- history import (issue 14, point 6: gateway/history/) ----------------------------------------------------------

#: One row per ``gateway import`` run: the origin (the system the history comes from), the file, its counts and the
#: range of reception dates it brought; the consultation's coverage statement reads it (gateway/history/service.py).
import_batches = Table(
    "import_batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(16), nullable=False),
    Column("file_name", String(300), nullable=False),
    Column("file_format", String(4), nullable=False),  # csv | xml
    Column("operator", String(200), nullable=False),
    Column("status", String(12), nullable=False),  # running | done | interrupted
    Column("lines", Integer, nullable=False, default=0),
    Column("accepted", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),  # already imported (same origin id, same content)
    Column("refused", Integer, nullable=False, default=0),
    Column("first_received_at", DateTime(timezone=True), nullable=True),
    Column("last_received_at", DateTime(timezone=True), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

#: The communications that came from an import: their origin, the id they had there (unique per origin: the import
#: is idempotent on it) and the batch that brought them. A communication here was never received live and is never
#: delivered (no outbox row is written for it).
imported_communications = Table(
    "imported_communications",
    metadata,
    Column("protocol", String(21), ForeignKey("communications.protocol"), primary_key=True),
    Column("origin", String(16), nullable=False),
    Column("origin_id", String(40), nullable=False),
    Column("batch_id", Integer, ForeignKey("import_batches.id"), nullable=False),
    UniqueConstraint("origin", "origin_id", name="uq_imported_origin_id"),
    Index("ix_imported_batch", "batch_id"),
)

# -- intimations back to the procuradorias (issue 12, point 7: gateway/divida/intimacoes/) --------------------------

#: One row per aviso a court listed to a procuradoria (idempotent per organ + court installation + aviso id), numbered
#: ``seq`` in commit order (the callbacks' position); what the aviso said (process, class, parties, value, the
#: aviso element's bytes) and, once ciência was taken, when, by whom (CPF) and the communication's exact bytes.
intimacoes = Table(
    "intimacoes",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(32), nullable=False, unique=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("jtr", String(5), nullable=False),
    Column("instance", String(10), nullable=False),
    Column("aviso_id", String(60), nullable=False),
    Column("process_number", String(20), nullable=True),
    Column("tipo", String(10), nullable=True),  # tipoComunicacao: INT, CIT…
    Column("classe", Integer, nullable=True),
    Column("valor_causa", String(30), nullable=True),
    Column("partes", Text, nullable=False),  # JSON: [{"polo", "nome", "documento"}]
    Column("destinatario", Text, nullable=True),  # JSON: {"nome", "documento"}
    Column("disponibilizada_em", DateTime(timezone=True), nullable=False),
    Column("prazo_tacito", Date, nullable=False),  # the day ciência is deemed made if not opened before
    Column("aviso_xml", LargeBinary, nullable=False),
    Column("collected_at", DateTime(timezone=True), nullable=False),
    Column("ciencia_at", DateTime(timezone=True), nullable=True),
    Column("ciencia_por", String(11), nullable=True),  # CPF of the natural person acting (On-Behalf-Of)
    Column("ciencia_tipo", String(10), nullable=True),  # expressa | tacita (opened after the deemed day)
    Column("teor_xml", LargeBinary, nullable=True),  # consultarTeorComunicacao's comunicacao, exact bytes
    UniqueConstraint("organ_id", "jtr", "instance", "aviso_id", name="uq_intimacoes_aviso"),
    Index("ix_intimacoes_organ_seq", "organ_id", "seq"),
    Index("ix_intimacoes_process", "organ_id", "process_number"),
)

#: One callback URL per procuradoria announcing new intimations (DESIGN.md callbacks): its HMAC secret, the last
#: ``intimacoes.seq`` its receiver acknowledged, retries and the lease held while a batch is in flight.
intimacao_callbacks = Table(
    "intimacao_callbacks",
    metadata,
    Column("organ_id", Integer, ForeignKey("organs.id"), primary_key=True),
    Column("url", String(500), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("position", BigInteger, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# -- execuções fiscais filed through the MNI hub (issue 12, points 1–6: gateway/divida/execucao/) -------------------

#: One filing (the initial petition of an execução fiscal, or a follow-up petition on it) and its outbox state: the
#: MNI body rendered once (``request_xml``, sent verbatim), the court's outcome, the resolution of an unknown one.
execucoes = Table(
    "execucoes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("referencia", String(120), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("tipo", String(30), nullable=False),  # inicial | suspensao_parcelamento | extincao_pagamento | …
    Column("parent_id", String(32), nullable=True),  # the execução a follow-up petition is filed on
    Column("jtr", String(5), nullable=False),
    Column("codigo_localidade", String(20), nullable=True),
    Column("devedor", String(14), nullable=True),
    Column("valor", String(30), nullable=True),
    Column("cdas", Text, nullable=False),  # JSON list of inscription numbers
    Column("partes", Text, nullable=False),  # JSON list of the polo passivo's CPF/CNPJ (evidence matching)
    Column("state", String(15), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("request_xml", LargeBinary, nullable=False),
    Column("numero_processo", String(20), nullable=True),
    Column("protocolo", String(60), nullable=True),
    Column("data_protocolo", String(14), nullable=True),
    Column("recibo", LargeBinary, nullable=True),
    Column("motivo", Text, nullable=True),
    Column("resolucao", Text, nullable=True),  # JSON: who resolved an indeterminada filing, how, why
    Column("sinalizacoes", Text, nullable=False),  # JSON list of {codigo, campo, mensagem}
    Column("callback_url", String(500), nullable=True),
    Column("callback_secret", String(100), nullable=True),  # HMAC key of its status callbacks (answered once)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organ_id", "referencia", name="uq_execucoes_referencia"),
    Index("ix_execucoes_due", "state", "next_attempt_at"),
    Index("ix_execucoes_organ_seq", "organ_id", "seq"),
)

#: A CDA filed at most once per procuradoria (LEF; issue 12 point 2): the execução it went to. Released when the
#: court refuses that filing.
execucao_cdas = Table(
    "execucao_cdas",
    metadata,
    Column("organ_id", Integer, ForeignKey("organs.id"), primary_key=True),
    Column("numero_inscricao", String(20), primary_key=True),
    Column("execucao_id", String(32), nullable=False),
)

#: Status changes to notify to each filing's callback URL (DESIGN.md callbacks): pending until a 2xx.
execucao_eventos = Table(
    "execucao_eventos",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("execucao_id", String(32), nullable=False),
    Column("url", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_execucao_eventos_due", "delivered_at", "next_attempt_at"),
)


# -- issue 16 (h16): people of the web form and the operators' console -----------------------------------------

#: A natural person who signs in to the web pages (``/web/``, ``/console/``) acting for an organ: ``remetente`` (an
#: organ's staff, the form) or ``operador`` (the stores' and the gateway's operators, the console); ``admin`` marks
#: the organ's own administrator of people. The password hash follows the credentials' scheme (scrypt).
web_people = Table(
    "web_people",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cpf", String(11), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(200), nullable=False),
    Column("organ_id", Integer, ForeignKey("organs.id"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("admin", Boolean, nullable=False, default=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Server-side sessions: the SHA-256 of the cookie's random token (never the token), its person, the CSRF secret,
#: and the last time it was used (idle expiry by the injected clock).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", Integer, ForeignKey("web_people.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_web_sessions_person", "person_id"),
)

#: Drafts of the form: the fields typed so far (JSON), per person; ``protocol`` set for a retificação's draft.
web_drafts = Table(
    "web_drafts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("person_id", Integer, ForeignKey("web_people.id"), nullable=False),
    Column("kind", String(4), nullable=False),
    Column("protocol", String(21), nullable=True),
    Column("fields", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_web_drafts_person", "person_id"),
)

# -- public statistics and certificates (issue 15) ------------------------------------------------------------------

#: the statistics' atomic counts (gateway/estatisticas): distinct people by kind × sending organ × month of reception
#: (AAAAMM, local time: the protocol's day) × situation, kept as each communication is accepted or withdrawn
estatisticas_contagens = Table(
    "estatisticas_contagens",
    metadata,
    Column("kind", String(4), primary_key=True),
    Column("organ_id", Integer, primary_key=True),
    Column("mes", Integer, primary_key=True),
    Column("situacao", String(12), primary_key=True),  # ativa | cancelada
    Column("pessoas", Integer, nullable=False),
    Index("ix_estatisticas_mes", "mes", "kind"),  # a year's slice, and the first and last months
)

#: who is already counted in each atomic cell (gateway/estatisticas/store.py): one row per person (the SHA-256 hex of
#: the communication's person_key, never the key itself) per kind × organ × month, with how many of that person's
#: communications there are ativa and cancelada — a cell counts a person once, however many communications
estatisticas_pessoas = Table(
    "estatisticas_pessoas",
    metadata,
    Column("kind", String(4), primary_key=True),
    Column("organ_id", Integer, primary_key=True),
    Column("mes", Integer, primary_key=True),
    Column("pessoa", String(64), primary_key=True),
    Column("ativas", Integer, nullable=False),
    Column("canceladas", Integer, nullable=False),
)

#: one row per certificate issued (gateway/certidoes): the verification code, what was printed, the documents'
#: SHA-256 — never the documents themselves nor the CPF in clear (a keyed digest finds a person's certificates)
certidoes = Table(
    "certidoes",
    metadata,
    Column("codigo", String(16), primary_key=True),
    Column("numero", String(40), nullable=False, unique=True),
    Column("tipo", String(10), nullable=False),  # negativa | positiva
    Column("nome", String(200), nullable=False),
    Column("cpf_mascarado", String(14), nullable=False),
    Column("cpf_digest", String(64), nullable=False),
    Column("emitida_em", DateTime(timezone=True), nullable=False),
    Column("cobertura_desde", DateTime(timezone=True), nullable=True),
    Column("comunicacoes", Text, nullable=False),  # JSON: the protocols listed (a positiva), as issued
    Column("pdf_sha256", String(64), nullable=False),
    Column("xml_sha256", String(64), nullable=False),
)
