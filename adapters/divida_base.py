"""What the two debt adapters (``adapters.pgfn``, ``adapters.pgf``) share on top of :mod:`adapters.base`: the
boundary of a lookup, HTTP statuses with the bridge's codes, and strict readers of the partners' JSON.

:func:`reading` wraps :func:`adapters.base.translating` (httpx and parser errors → the one tree) and adds what a
*read* tells apart: a connection closed without an answer is ``DIVIDA-E035`` (still a ``PartnerTimeout``: the
request went out), and a value the model cannot take (:class:`gateway.divida.parsing.DadoIlegivel`) is a
``PartnerUnreadable`` with its ``DIVIDA-E02x`` code. :func:`status_error` keeps a 429's ``Retry-After``
(``DIVIDA-E031``) and makes 401/403 "our credential refused" (``DIVIDA-E030``). The JSON readers raise
``DIVIDA-E022`` for a missing member or one of the wrong type, so a partner's odd answer is never a ``KeyError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from adapters import base
from adapters.base import translating
from gateway.divida.domain import ParceiroSobrecarregado
from gateway.divida.parsing import DadoIlegivel
from gateway.errors import PartnerError, PartnerRefused, PartnerTimeout, PartnerUnreadable
from gateway.identifiers import only_digits

T = TypeVar("T")


@contextmanager
def reading(partner: str) -> Iterator[None]:
    """:func:`adapters.base.translating` for a lookup of *partner*, plus ``DIVIDA-E035`` for a connection closed
    without an answer and ``DIVIDA-E02x`` for values outside the model (see the module docstring)."""
    try:
        with translating(partner):
            yield
    except PartnerTimeout as exc:
        cause = exc.__cause__
        if isinstance(cause, httpx.RequestError) and not isinstance(cause, httpx.TimeoutException):
            raise PartnerTimeout(f"{partner}: conexão encerrada sem resposta ({type(cause).__name__})",
                                 retryable=True, partner=partner, code="DIVIDA-E035") from cause
        raise
    except DadoIlegivel as exc:
        raise PartnerUnreadable(f"{partner}: {exc.message}", retryable=True, partner=partner,
                                code=exc.code) from exc


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date, taken
    relative to *now*), never negative; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None


def status_error(partner: str, response: httpx.Response, now: datetime) -> PartnerError:
    """The error for an unexpected status of *response*: 401/403 → :class:`PartnerRefused` ``DIVIDA-E030``
    (our credential refused; not retryable), 429 → :class:`ParceiroSobrecarregado` with its ``Retry-After``,
    anything else as :func:`adapters.base.status_error` says."""
    status = response.status_code
    if status in (401, 403):
        return PartnerRefused(f"{partner}: credencial do gateway recusada (HTTP {status})", retryable=False,
                              partner=partner, code="DIVIDA-E030")
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After"), now)
        return ParceiroSobrecarregado(
            f"{partner}: HTTP 429, o parceiro pediu para aguardar"
            + (f" {wait:g} s (Retry-After)" if wait is not None else ""), partner=partner, retry_after=wait)
    return base.status_error(partner, status)


def fora_do_contrato(partner: str, why: str) -> PartnerUnreadable:
    """The (retryable) error for an answer outside the contract (``DIVIDA-E022``)."""
    return PartnerUnreadable(f"{partner}: resposta fora do contrato ({why})", retryable=True, partner=partner,
                             code="DIVIDA-E022")


def objeto(partner: str, value: object, what: str) -> dict[str, Any]:
    """*value* if it is a JSON object, else ``DIVIDA-E022``."""
    if not isinstance(value, dict):
        raise fora_do_contrato(partner, f"{what} não é um objeto")
    return value


def lista(partner: str, value: object, what: str) -> list[Any]:
    """*value* if it is a JSON array, else ``DIVIDA-E022``."""
    if not isinstance(value, list):
        raise fora_do_contrato(partner, f"{what} não é uma lista")
    return value


def texto(partner: str, obj: dict[str, Any], key: str) -> str:
    """``obj[key]`` as a non-empty string, else ``DIVIDA-E022``."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise fora_do_contrato(partner, f"'{key}' ausente ou não textual")
    return value.strip()


def texto_opcional(partner: str, obj: dict[str, Any], key: str) -> str | None:
    """``obj[key]`` as a string, or None when absent, null or blank; ``DIVIDA-E022`` for another type."""
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise fora_do_contrato(partner, f"'{key}' não textual")
    return value.strip()


def inteiro(partner: str, obj: dict[str, Any], key: str) -> int:
    """``obj[key]`` as a non-negative integer (not a boolean), else ``DIVIDA-E022``."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fora_do_contrato(partner, f"'{key}' não é um inteiro não negativo")
    return value


def processo_judicial(numero: str | None) -> str | None:
    """A CNJ process number as its 20 digits when it has them (masked or not), else the partner's text as given."""
    if numero is None:
        return None
    digits = only_digits(numero)
    return digits if len(digits) == 20 and digits.isdigit() else numero


def message_list_says_not_found(response: httpx.Response) -> bool:
    """True when *response* is SERPRO's "not found" body ``[{"message": "… não encontrado."}]`` (or
    ``…encontrada``): a 404 with any other body (a wrong URL) is not "no inscriptions"."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (isinstance(body, list) and len(body) >= 1 and isinstance(body[0], dict)
            and isinstance(body[0].get("message"), str) and "encontrad" in body[0]["message"].lower())


async def gather_or_raise(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run *coros* concurrently and return their results in order; when one fails the others are cancelled and
    that failure is raised as itself (a bug of ours before a partner's error), not wrapped in a group."""
    first: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as failed:
        errors = failed.exceptions
        first = next((e for e in errors if not isinstance(e, PartnerError)), errors[0])
    if first is not None:
        raise first  # outside the handler: its own cause and traceback, not the group's
    return [t.result() for t in tasks]
