"""Readiness of a gateway process: what ``/readyz`` reports.

Only the database and its migrations make a process unready (DESIGN.md): a partner's open circuit is reported in
the body, never as unreadiness — store-and-forward keeps accepting while a partner is down.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.db.migrate import current_revision, head_revision


class Health:
    """Checks the database on the reader engine; *partners* adds what the relay knows of each partner."""

    def __init__(self, reader: Engine, partners: Callable[[], dict[str, object]] | None = None) -> None:
        self.reader = reader
        self.partners = partners

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """(ready, body): ``{"status": "ready"|"unavailable", "database": "ok"|"erro: …", "migrations":
        {"current", "head"}, …partners}``; not ready when the database does not answer or is not at the head
        revision."""
        try:
            with self.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = current_revision(self.reader)
        except SQLAlchemyError as exc:
            return False, {"status": "unavailable", "database": f"erro: {type(exc).__name__}"}
        body: dict[str, object] = {"database": "ok", "migrations": {"current": current, "head": head_revision()}}
        if current != head_revision():
            return False, {"status": "unavailable", **body}
        if self.partners is not None:
            body.update(self.partners())
        return True, {"status": "ready", **body}
