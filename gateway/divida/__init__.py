"""The dívida ativa bridge (issue 11): one vocabulary over PGFN's and PGF's inscriptions in dívida ativa.

``domain`` (the model, totals, input rules; pure) · ``parsing`` (pt-BR money and dates, situation tables; pure) ·
``partners`` (the :class:`~gateway.divida.partners.DebtPartner` interface; implementations in ``adapters.pgfn``,
``adapters.pgf``, ``adapters.divida_fake``) · ``caches`` (the optional answer cache) · ``service`` (the use cases)
· ``build`` (from settings, for ``gateway.bootstrap``).
"""
