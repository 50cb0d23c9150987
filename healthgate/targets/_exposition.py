"""The Prometheus text exposition format, as servers serve their own ``/metrics``: samples and their labels."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(?:\s+-?\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    series: str  # the name and labels as served, for evidence


def samples(text: str, prefix: str = "") -> Iterator[Sample]:
    """Each sample whose name starts with ``prefix``; comments and lines that are not samples are skipped."""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(prefix) or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        raw = match.group(2) or ""
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(raw)}
        yield Sample(match.group(1), labels, value, match.group(1) + raw)


def metric_samples(text: str, prefix: str) -> list[tuple[str, float]]:
    """``(series, value)`` for each sample of the Prometheus text format whose name starts with ``prefix``."""
    return [(s.series, s.value) for s in samples(text, prefix)]
