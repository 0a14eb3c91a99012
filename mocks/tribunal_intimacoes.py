"""The tribunal simulator's intimations to the procuradorias (issue 12, point 8): the court issues intimations on
processes — e.g. the exequente "to speak after the citação attempt" — that the gateway collects through
``consultarAvisosPendentes`` and opens through ``consultarTeorComunicacao``, served exactly as the demo avisos are
(:mod:`mocks.tribunal`).

- ``POST /_mock/intimacoes`` ``{"numeroProcesso": "…", "consultant"?, "teor"?, "tipo"?, "prazo"?}`` issues one at
  once (201 with ``idAviso``, ``consultant``, ``installation``). Any valid CNJ number of this tribunal's ``J.TR`` is
  accepted: a process the court does not hold yet is opened as an execução fiscal (class 1116) in the first
  installation, so a number assigned to a class-1116 filing — or any other — works. The addressee is the
  procuradoria of the process's polo ativo (the União → the ``pgfn-`` account; any other → ``pgf-``) unless
  ``consultant`` names an account. 422 for an invalid number, another ``J.TR`` or an unknown account.
- A timer, every ``intervalo_s`` seconds (``POST /_mock/intimacoes/config`` ``{"intervalo_s": N}``; 0 stops it;
  default 30), intimates the exequente of each class-1116 process created by a filing that has no intimation yet.
- ``GET /_mock/intimacoes`` lists the intimations issued this way.

Never imports ``gateway``; the demo data's own types are reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mocks.tribunal_data import UNIAO, Aviso, Document, Movement, Person, Polo, Process, tiny_pdf

TEOR_CITACAO = "Intimação da exequente para se manifestar sobre a tentativa de citação do executado. Prazo: 30 dias."
DEFAULT_INTERVAL_S = 30.0
UNIAO_CNPJ_ROOT = "00394460"  # the União's bodies share the CNPJ root 00.394.460


def valid_cnj(numero: str) -> bool:
    """A 20-digit CNJ number whose check digits hold (Res. CNJ 65/2008; DD 00, 01 and 99 are never issued)."""
    if len(numero) != 20 or not numero.isascii() or not numero.isdigit() or numero[7:9] in ("00", "01", "99"):
        return False
    return int(numero[:7] + numero[9:] + numero[7:9]) % 97 == 1


@dataclass
class Intimacoes:
    """The intimations this module issued, its counter and its timer's period."""

    tribunal: Any  # mocks.tribunal.Tribunal (not imported: it imports this module)
    interval_s: float = DEFAULT_INTERVAL_S
    issued: list[dict[str, Any]] = field(default_factory=list)
    sequence: int = 0
    demo_numbers: set[str] = field(default_factory=set)

    def reset(self) -> None:
        """Forget what was issued (the tribunal's reset restores its demo avisos; the timer's period stays)."""
        self.issued.clear()
        self.sequence = 0
        self.demo_numbers = set(self.tribunal.processes)

    def consultant_for(self, p: Process, asked: str | None) -> str | None:
        """The account the intimation goes to: *asked* when it is one of the profile's, else the procuradoria of the
        polo ativo's party (União → ``pgfn-``, anyone else → ``pgf-``), else the first account."""
        accounts = list(self.tribunal.profile.credentials)
        if asked:
            return asked if asked in accounts else None
        ativo = next((party for polo in p.polos if polo.polo == "AT" for party in polo.partes), None)
        uniao = ativo is None or (ativo.documento or "").startswith(UNIAO_CNPJ_ROOT) or "FAZENDA NACIONAL" in (
            ativo.nome or "").upper()
        prefix = "pgfn-" if uniao else "pgf-"
        return next((a for a in accounts if a.startswith(prefix)), accounts[0] if accounts else None)

    def process(self, numero: str) -> Process:
        """The process *numero*, opened as an execução fiscal of the União when the court does not hold it."""
        t = self.tribunal
        p: Process | None = t.processes.get(numero)
        if p is not None:
            return p
        first = t.profile.installations[0].id
        orgao = next(q.orgao for q in t.processes.values() if q.installation == first)
        executado = Person("EXECUTADO SIMULADO LTDA", "juridica", "11222333000181")
        p = Process(numero, first, 1116, str(t.profile.origin), orgao, [6017],
                    [Polo("AT", [UNIAO]), Polo("PA", [executado])], "20260101100000", 10000.0, 12)
        t.processes[numero] = p
        return p

    def issue(self, numero: str, consultant: str | None = None, teor: str | None = None, tipo: str = "INT",
              prazo: int = 30, stamp: str | None = None) -> dict[str, Any]:
        """Issue one intimation on process *numero* (see the module docstring); returns what ``POST`` answers.
        Raises ValueError (Portuguese) for what it refuses."""
        t = self.tribunal
        if not valid_cnj(numero):
            raise ValueError(f"numeroProcesso inválido: {numero!r}")
        jtr = f"{int(numero[13])}.{numero[14:16]}"
        if jtr != t.profile.jtr:
            raise ValueError(f"o processo {numero} é do J.TR {jtr}, não de {t.profile.jtr}")
        p = self.process(numero)
        who = self.consultant_for(p, consultant)
        if who is None:
            raise ValueError(f"conta desconhecida: {consultant!r}")
        when = stamp or _now_stamp()
        t.next_mov += 1
        t.next_doc += 1
        mov = Movement(str(t.next_mov), when, 11010, "intimação expedida")
        doc = Document.of(f"8{t.next_doc:08d}", "58", "Despacho", when, tiny_pdf(teor or TEOR_CITACAO),
                          movimento=mov.id)
        mov.documentos.append(doc.id)
        p.movements.append(mov)
        p.documents.append(doc)
        self.sequence += 1
        aviso = Aviso(f"{when}{self.sequence:04d}", who, numero, tipo, when, teor or TEOR_CITACAO, prazo,
                      next((party for polo in p.polos if polo.polo == "AT" for party in polo.partes), UNIAO),
                      [doc.id])
        t.avisos[aviso.id] = aviso
        out = {"idAviso": aviso.id, "consultant": who, "numeroProcesso": numero, "installation": p.installation,
               "dataDisponibilizacao": when}
        self.issued.append(out)
        return out

    def tick(self) -> int:
        """The timer's work: intimate each class-1116 process created by a filing that has no intimation yet."""
        t = self.tribunal
        with_aviso = {a.numero for a in t.avisos.values()}
        count = 0
        for numero, p in list(t.processes.items()):
            if p.classe == 1116 and numero not in self.demo_numbers and numero not in with_aviso:
                self.issue(numero)
                count += 1
        return count


def _now_stamp() -> str:
    from mocks.tribunal import stamp  # mocks.tribunal imports this module: imported on use

    return stamp()


def install(app: web.Application, tribunal: Any) -> Intimacoes:
    """Add ``/_mock/intimacoes`` and the timer to the simulator *app* of *tribunal*; returns the state."""
    state = Intimacoes(tribunal)
    state.reset()
    app["state"].on_reset.append(state.reset)

    async def post(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            numero = "".join(c for c in str(body["numeroProcesso"]) if c.isdigit())
            out = state.issue(numero, body.get("consultant"), body.get("teor"), str(body.get("tipo", "INT")),
                              int(body.get("prazo", 30)))
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"erro": f"intimação recusada: {exc}"}, status=422)
        return web.json_response(out, status=201)

    async def listing(_request: web.Request) -> web.Response:
        return web.json_response(state.issued)

    async def config(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            state.interval_s = float(body.get("intervalo_s", state.interval_s))
        except (ValueError, TypeError) as exc:
            return web.json_response({"erro": f"configuração inválida: {exc}"}, status=400)
        return web.json_response({"intervalo_s": state.interval_s})

    async def timer(_app: web.Application) -> Any:
        async def loop() -> None:
            while True:
                await asyncio.sleep(state.interval_s if state.interval_s > 0 else 1.0)
                if state.interval_s > 0:
                    state.tick()

        task = asyncio.get_running_loop().create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.router.add_post("/_mock/intimacoes", post)
    app.router.add_get("/_mock/intimacoes", listing)
    app.router.add_post("/_mock/intimacoes/config", config)
    app.cleanup_ctx.append(timer)
    return state
