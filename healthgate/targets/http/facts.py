"""What a http check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from healthgate.errors import BadResponse
from healthgate.targets._exposition import metric_samples as metric_samples  # the checks of this kind read it here


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    truncated: bool
    url: str

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def excerpt(self, size: int = 120) -> str:
        return self.text()[:size].replace("\n", " ").strip()

    def json(self) -> Any:
        from healthgate.targets._transport import decode_json

        if self.truncated:
            raise BadResponse(f"{self.url} answered more than the {len(self.body)}-byte limit; cannot parse JSON",
                              hint="raise max_body for this target if the endpoint is legitimately large")
        return decode_json(self.body, what=f"{self.url} answered HTTP {self.status}",
                           content_type=self.headers.get("content-type", "?"),
                           hint="is this the service's health endpoint, or a proxy/error page?")


@dataclass(frozen=True)
class Sample:
    """One sampled request: ``status`` is None when no answer came (timeout, refused, reset)."""

    status: int | None
    elapsed: float
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 400


@dataclass(frozen=True)
class SampleSet:
    method: str
    url: str
    samples: tuple[Sample, ...]
    concurrency: int
    wall_time: float
    planned: int = 0  # requests meant to be sent; more than len(samples) when sampling stopped at a failure

    @property
    def stopped_early(self) -> bool:
        return self.planned > len(self.samples)

    @property
    def latencies(self) -> list[float]:
        return [s.elapsed for s in self.samples]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.failed)

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.errors / len(self.samples)

    def outcomes(self) -> dict[str, int]:
        """Counts per answer, e.g. ``{"HTTP 200": 19, "HTTP 500": 1}``, for messages and evidence."""
        return dict(Counter(f"HTTP {s.status}" if s.status is not None else "no answer" for s in self.samples))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``pct`` % of the samples at or below it.

    Always one of the samples (no interpolation), so with 20 samples P95 is the 19th fastest and P99 the slowest.
    """
    if not values:
        raise ValueError("percentile of no samples")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {pct}")
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def dig(payload: Any, dotted: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted path in decoded JSON (``status.overall.state``)."""
    value = payload
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def dashboards_failing_components(payload: Any) -> list[str]:
    """``id state: message`` of each component of an OpenSearch Dashboards ``/api/status`` answer (legacy format,
    the default of 1.x and 2.x) that is not green."""
    found, statuses = dig(payload, "status.statuses")
    if not found or not isinstance(statuses, list):
        return []
    return [f"{item.get('id', '?')} {item.get('state', '?')}: {item.get('message', '')}".rstrip(": ")
            for item in statuses if isinstance(item, dict) and item.get("state") != "green"]
