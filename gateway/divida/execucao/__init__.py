"""Execuções fiscais filed from structured CDAs through the MNI hub (issue 12, points 1–6)."""
