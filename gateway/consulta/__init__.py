"""Consultation context (issue 14): a person's political-rights situation over time, and a sender's own views.

``rules.py`` and ``timeline.py`` are pure (the rule versions, read from ``regras.toml`` or the file that
``GATEWAY_CONSULTA_RULES_PATH`` names, and the timeline computed from the facts); ``facts.py`` reads the stored
payloads into facts (no I/O); ``store.py`` holds the SQL; ``service.py`` the use cases (grants, purpose, audit,
rate limit); ``contract.py`` the INFODIP 1.1 answers.
"""
