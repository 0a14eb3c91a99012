-- After each `gateway migrate` (docs/deploy.md, "PostgreSQL"), as the owner or a superuser:
--   psql -d gateway -v app=gateway_app -f deploy/postgres/after-migrate.sql
-- The audit log is append-only: the app role may add entries and read them, never change or remove one.
\set ON_ERROR_STOP on
REVOKE UPDATE, DELETE, TRUNCATE ON gateway.audit_log, gateway.audit_chains, gateway.audit_checkpoints FROM :"app";
-- alembic's bookkeeping is the owner's: the app only reads it (/readyz compares it with the code's head)
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON gateway.alembic_version FROM :"app";
