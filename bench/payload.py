"""The request the intake benchmark sends: a ~5 KB INFODIP kind IV ``enviarComunicacao`` as a byte template.

The template is rendered once, with XML tools, outside any hot loop. It carries :data:`PLACEHOLDER` as its
``referenciaRemetente``; the load generator splits the template there and joins ``head + reference + tail`` per
request, so every request has a unique reference (no idempotent replays) and the generator does no XML work.
"""

from __future__ import annotations

from gateway.infodip.domain import Kind
from gateway.infodip.samples import SAMPLE_USERNAME, render_sample

#: Marker replaced by a unique reference in every request (valid against ``tipoReferencia``).
PLACEHOLDER = b"BENCH-REFERENCE-PLACEHOLDER"
#: Marker replaced by a distinct valid CPF per request (``--distinct-persons`` only).
CPF_PLACEHOLDER = b"BENCH-CPF-PLACEHOLDER"
USERNAME = SAMPLE_USERNAME[Kind.IV]  # tjrj-sistema
TARGET_BYTES = 5 * 1024
_OBS_OPEN = b"<inf:observacao>"
_OBS_CLOSE = b"</inf:observacao>"
_OBS_MAX_CHARS = 4000
_FILLER = (" Texto complementar acrescentado pelo benchmark para que a requisição tenha cerca de 5 KB, "
           "tamanho típico de uma comunicação com observações extensas.")


def intake_template(password: str, fact_date: object, target_bytes: int = TARGET_BYTES,
                    distinct_persons: bool = False) -> bytes:
    """The kind IV sample for *password* and *fact_date*, padded via ``observacao`` to about *target_bytes*.

    With *distinct_persons* the CPF becomes :data:`CPF_PLACEHOLDER` too, so that every request is about another
    person (by default every request reports the same fact about the same person, i.e. a duplicate).
    """
    body = render_sample(Kind.IV, username=USERNAME, password=password, reference=PLACEHOLDER.decode(),
                         fact_date=fact_date)  # type: ignore[arg-type]
    if body.count(PLACEHOLDER) != 1:
        raise RuntimeError("placeholder not found exactly once in the rendered sample")
    start = body.index(_OBS_OPEN) + len(_OBS_OPEN)
    end = body.index(_OBS_CLOSE, start)
    text = body[start:end].decode()
    missing = target_bytes - len(body)
    if missing > 0:
        pad = (_FILLER * (missing // len(_FILLER) + 2))[:missing]
        room = _OBS_MAX_CHARS - len(text)
        text = text + pad[:max(room, 0)]
    body = body[:start] + text.encode() + body[end:]
    if distinct_persons:
        cpf = body[body.index(b"<inf:cpf>") + len(b"<inf:cpf>"):body.index(b"</inf:cpf>")]
        body = body.replace(b"<inf:cpf>" + cpf + b"</inf:cpf>", b"<inf:cpf>" + CPF_PLACEHOLDER + b"</inf:cpf>", 1)
    return body


