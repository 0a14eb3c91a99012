"""The e2e suite's client path: every INFODIP answer a test receives is checked against the contract.

Whatever a test uses to talk to a gateway — httpx (``httpx.post``, clients, the crash tests' threads) or zeep
(``requests`` underneath) — each answer of ``POST /soap/infodip`` must be an XSD-valid INFODIP response (HTTP 200)
or a Fault with a valid ``erros`` detail (HTTP 500), and each REST view of a communication must use only the
contract's vocabulary for its states (issue 9, point 3: ``situacao=sending`` had leaked). A test that receives
anything else fails, whatever it asserts itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests

from tests.saf_support import check_infodip_answer, check_rest_view

#: answers checked in this session (a test can tell the hook is in place)
CHECKED = {"soap": 0, "rest": 0}


def check_answer(method: str, path: str, status: int, content: bytes) -> None:
    """Check one answer of the gateway against the contract (see the module docstring); others pass."""
    if method == "POST" and path == "/soap/infodip" and content:
        check_infodip_answer(status, content)
        CHECKED["soap"] += 1
    elif method == "GET" and path.startswith("/api/v1/comunicacoes/") and status == 200:
        check_rest_view(json.loads(content))
        CHECKED["rest"] += 1


@pytest.fixture(autouse=True)
def infodip_answers_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wrap httpx's and requests' ``send`` so that every answer goes through :func:`check_answer`."""
    sync_send = httpx.Client.send
    async_send = httpx.AsyncClient.send
    requests_send = requests.Session.send

    def send(self: httpx.Client, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        response = sync_send(self, request, *args, **kwargs)
        if not kwargs.get("stream"):
            check_answer(request.method, request.url.path, response.status_code, response.content)
        return response

    async def asend(self: httpx.AsyncClient, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        response = await async_send(self, request, *args, **kwargs)
        if not kwargs.get("stream"):
            check_answer(request.method, request.url.path, response.status_code, response.content)
        return response

    def rsend(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = requests_send(self, request, **kwargs)
        if not kwargs.get("stream"):
            path = httpx.URL(request.url or "").path
            check_answer(request.method or "", path, response.status_code, response.content)
        return response

    monkeypatch.setattr(httpx.Client, "send", send)
    monkeypatch.setattr(httpx.AsyncClient, "send", asend)
    monkeypatch.setattr(requests.Session, "send", rsend)
    yield
