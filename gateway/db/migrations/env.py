"""Alembic environment: the URL and connection come from gateway.db.migrate, never from the environment."""

from __future__ import annotations

from alembic import context

from gateway.db.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the gateway always passes a connection
    raise RuntimeError("use `gateway migrate` (gateway.db.migrate.upgrade) to run migrations")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
