"""Type checks for decoded API answers, shared by the parsers of every JSON API.

A parser that meets an answer of the wrong shape must say *could not check* and show what came back, never fail
with a Python exception (``'list' object has no attribute 'get'``) nor read a default into a verdict.
"""

from __future__ import annotations

import json
import math
from typing import Any

from healthgate.errors import BadResponse

EXCERPT_CHARS = 200


def shown(value: Any) -> str:
    """At most 200 characters of a decoded value, as JSON (redacted when the error is built)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"


def wrong_shape(where: str, what: str, expected: str, value: Any) -> BadResponse:
    return BadResponse(f"{where}: unexpected answer: {what} is not {expected}: {shown(value)}",
                       hint="the answer does not have the shape the API documents: is a proxy or another "
                            "product answering on this URL, or is the server's version unsupported?")


def mapping(value: Any, where: str, what: str, *, optional: bool = False) -> dict[str, Any]:
    """``value`` when it is an object; with ``optional``, null or absent (None) counts as an empty one."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise wrong_shape(where, what, "an object", value)
    return value


def listing(value: Any, where: str, what: str, *, optional: bool = False) -> list[Any]:
    """``value`` when it is a list; with ``optional``, null or absent (None) counts as an empty one."""
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise wrong_shape(where, what, "a list", value)
    return value


def text(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise wrong_shape(where, what, "a string", value)
    return value


def strings(value: Any, where: str, what: str) -> tuple[str, ...]:
    """A list of strings; null or absent counts as empty."""
    items = listing(value, where, what, optional=True)
    if not all(isinstance(item, str) for item in items):
        raise wrong_shape(where, what, "a list of strings", value)
    return tuple(items)


def string_map(value: Any, where: str, what: str) -> dict[str, str]:
    """An object whose values are strings (labels, annotations); null or absent counts as empty."""
    items = mapping(value, where, what, optional=True)
    if not all(isinstance(v, str) for v in items.values()):
        raise wrong_shape(where, what, "an object of strings", value)
    return dict(items)


def whole(value: Any, where: str, what: str) -> int:
    """A JSON number without fraction (counts, bytes, milliseconds); a string, a bool or NaN is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value != int(value):
        raise wrong_shape(where, what, "a whole number", value)
    return int(value)
