"""Durations and sizes as people write them in profiles, parsed strictly.

Strict on purpose: ``5 s`` or ``10MB`` are rejected rather than guessed, because a threshold read the wrong way
is a health gate that lies.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from healthgate.errors import shown

DURATION_FORM = "a number of seconds or a number with a unit and no space: 500ms, 5s, 2m, 1h, 1d"
SIZE_FORM = "a number of bytes or a number with a binary unit and no space: 512KiB, 10MiB, 2GiB, 1TiB"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)(B|KiB|MiB|GiB|TiB)$")
_SIZE_FACTORS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
# Beyond these a value is a typo, and it would break later instead of here: a timeout past ~292 years overflows
# the clocks of socket and select, a size past 2**63 the C integers of the client libraries.
MAX_DURATION_S = 100 * 365 * 86400.0
MAX_SIZE = 2**63 - 1


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``1.5``, ``500ms``, ``5s``, ``2m``, ``1h`` or ``1d``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}; use {DURATION_FORM}")
    try:
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION.match(value.strip())):
            seconds = float(match.group(1)) * _DURATION_FACTORS[match.group(2)]
        else:
            raise ValueError(f"{shown(value)} is not a duration; use {DURATION_FORM}")
    except OverflowError:
        seconds = math.inf
    if math.isnan(seconds):
        raise ValueError(f"{shown(value)} is not a number; use {DURATION_FORM}")
    if seconds < 0:
        raise ValueError(f"{shown(value)} is negative; a duration is at least 0")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{shown(value)} is longer than 100 years; use {DURATION_FORM}")
    return seconds


def parse_size(value: Any) -> int:
    """Bytes from ``1048576``, ``512KiB``, ``10MiB``, ``2GiB``; decimal units are refused as ambiguous."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}; use {SIZE_FORM}")
    if isinstance(value, int):
        size: float = value
    elif isinstance(value, str) and (match := _SIZE.match(value.strip())):
        size = float(match.group(1)) * _SIZE_FACTORS[match.group(2)]  # inf for absurdly long digit strings
    else:
        hint = ""
        if isinstance(value, str) and re.match(r"^\d+(\.\d+)?\s*[KMGT]B$", value.strip()):
            hint = " (decimal units are ambiguous: write KiB, MiB, GiB or TiB)"
        raise ValueError(f"{shown(value)} is not a size{hint}; use {SIZE_FORM}")
    if size < 0:
        raise ValueError(f"{shown(value)} is negative; a size is at least 0")
    if size > MAX_SIZE:
        raise ValueError(f"{shown(value)} is larger than 8 EiB; use {SIZE_FORM}")
    return int(size)


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.3g}s"
    if seconds < 7200:
        return f"{seconds / 60:.3g}m"
    if seconds < 172800:
        return f"{seconds / 3600:.3g}h"
    return f"{seconds / 86400:.3g}d"


def format_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Size = Annotated[int, BeforeValidator(parse_size), PlainSerializer(format_size)]
