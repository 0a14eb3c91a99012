"""Where each communication must be delivered: the routing table, each rule with its legal basis.

Pure functions. The destinations are stable names used in the outbox, the metrics and the consultation answers.

Histories: the table routes each *version*. A retificação goes wherever the earlier versions went and wherever its
own content routes it; a destination never leaves a history (the cancelamento goes to all of them). A destination
that **joins** a history — e.g. a IV without inelegibility (TSE) corrected to one with inelegibility (TSE and CNJ)
— receives the history from its first version, in order: the earlier versions are queued towards it too, ahead of
the new one (``gateway/infodip/service.py``), so the CNJ never holds a retificação or a cancelamento of something
it never received.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.infodip.domain import Communication, Kind

TSE = "TSE"  # INFODIP, the national store run by the TSE
CNJ = "CNJ"  # the CNJ registry succeeding CNCIAI (improbity and acts causing inelegibility)
DESTINATIONS = (TSE, CNJ)

#: Improbity kinds always registered with CNJ (Res. Conjunta 6/2020 considerandos; Res. CNJ 44/2007 → CNCIAI).
_CNJ_ALWAYS = frozenset({Kind.I, Kind.II, Kind.III, Kind.VIII})
#: Kinds that reach CNJ only when the communication says the fact causes inelegibility (LC 64/1990 art. 1º I).
_CNJ_IF_INELIGIBLE = frozenset({Kind.IV, Kind.VII, Kind.IX})


def destinations_for(
    comm: Communication, ended_conviction_destinations: Iterable[str] | None = None
) -> tuple[str, ...]:
    """The destinations of a new communication.

    - every kind → TSE (art. 3º: the INFODIP base is the single store of all nine kinds);
    - I, II, III (improbity: conviction, agreement, fulfilment) → CNJ;
    - VII → CNJ when its nature is improbity, or when it causes inelegibility (LC 64/1990 art. 1º I "e"/"l");
    - VIII (dismissal: inelegibility of LC 64/1990 art. 1º I "o") → CNJ;
    - IV, IX → CNJ when the communication says the fact causes inelegibility;
    - V (extinção) → wherever the IV it ends went, since the 8-year inelegibility runs from it
      (*ended_conviction_destinations*; TSE only when that conviction is unknown).
    """
    out = [TSE]
    if comm.kind in _CNJ_ALWAYS:
        out.append(CNJ)
    elif comm.kind is Kind.VII:
        if comm.nature == "improbidade" or comm.causes_inelegibility:
            out.append(CNJ)
    elif comm.kind in _CNJ_IF_INELIGIBLE:
        if comm.causes_inelegibility:
            out.append(CNJ)
    elif comm.kind is Kind.V:
        for d in ended_conviction_destinations or ():
            if d not in out:
                out.append(d)
    return tuple(d for d in DESTINATIONS if d in out)
