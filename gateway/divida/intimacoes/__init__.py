"""Intimations brought back to the procuradorias (issue 12, point 7): domain (tacit notice), contract, store,
service, collector, callbacks."""
