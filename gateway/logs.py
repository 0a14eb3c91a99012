"""Structured JSON logs, with personal data masked.

Every record becomes one JSON line; ``extra={"message_id": …}`` fields are kept. CPF-looking numbers (11 digits,
masked or not) are reduced to their last two digits, and fields named like personal data are replaced, so a log
line never carries a person's identity (LGPD).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_CPF = re.compile(r"(?<![\d.-])(\d{3})\.?(\d{3})\.?(\d{3})-?(\d{2})(?![\d.-])")
_PERSONAL_KEYS = {"nome", "cpf", "nomeMae", "nomePai", "tituloEleitor", "dataNascimento", "name", "person"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def mask(text: str) -> str:
    """*text* with CPF-looking numbers masked."""
    return _CPF.sub(lambda m: "***.***.***-" + m.group(4), text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            out[key] = "***" if key in _PERSONAL_KEYS else (mask(value) if isinstance(value, str) else value)
        if record.exc_info:
            out["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once for a gateway process."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic", "httpx", "zeep", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
