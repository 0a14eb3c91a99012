"""The XML limits of one endpoint: a plain value, importable by the pure modules (the MNI reader) without the
settings' machinery (pydantic-settings, which pulls in asyncio). :mod:`gateway.settings` builds them from
``GATEWAY_*_MAX_*``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class XmlLimits:
    """Hard limits applied by the hardened XML reader of one endpoint, enforced while parsing.

    ``max_body_bytes``: the body (after decompression); ``max_depth``: element nesting; ``max_text_bytes``: every
    text node and attribute value outside the policy's binary elements (characters); ``max_elements``: elements in
    the whole document (attributes included in no count: each is bounded by the text limit)."""

    max_body_bytes: int = 512 * 1024
    max_depth: int = 48
    max_text_bytes: int = 64 * 1024
    max_elements: int = 10_000
