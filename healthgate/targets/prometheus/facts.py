"""What a prometheus check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from healthgate.errors import BadResponse
from healthgate.targets._shape import listing, mapping, shown, string_map, text, wrong_shape
from healthgate.targets.prometheus.settings import Expectation

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


_NO_DATA_STATUS: dict[str, Literal["passed", "failed", "warned"]] = {
    "fail": "failed", "pass": "passed", "warn": "warned"}


# Counters of Prometheus's own failures; any increase means lost data or alerts that were never evaluated or sent.
INTERNAL_FAILURE_COUNTERS: tuple[str, ...] = (
    "prometheus_rule_evaluation_failures_total",
    "prometheus_rule_group_iterations_missed_total",
    "prometheus_notifications_dropped_total",
    "prometheus_tsdb_compactions_failed_total",
    "prometheus_tsdb_head_truncations_failed_total",
    "prometheus_tsdb_reloads_failures_total",
    "prometheus_tsdb_wal_corruptions_total",
    "prometheus_tsdb_checkpoint_creations_failed_total",
)


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    instance: str
    health: str  # up | down | unknown (not scraped yet)
    last_error: str
    scrape_url: str
    last_scrape: str

    def render(self) -> str:
        error = f" lastError: {self.last_error}" if self.last_error else ""
        return f"job={self.job} instance={self.instance} health={self.health}{error}"


@dataclass(frozen=True)
class Rule:
    name: str
    group: str
    file: str
    health: str  # ok | err | unknown
    last_error: str
    state: str  # inactive | pending | firing


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class QueryResult:
    result_type: str  # vector | scalar | matrix | string
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class Judgement:
    """Verdict on one expectation: passed, failed (unhealthy) or could-not-evaluate (``error``)."""

    expectation: Expectation
    status: Literal["passed", "failed", "warned", "error"]
    observed: str  # "0.3 {instance=\"a\"}; …" or "no data"
    failing: tuple[Sample, ...] = ()
    error: str = ""

    def render(self) -> str:
        e = self.expectation
        if self.status == "error":
            return f"{e.name}: {e.query} could not be evaluated: {self.error}"
        text = f"{e.name}: {e.query} ({self.observed}) {e.op} {format_value(e.threshold)}"
        return text + (f" — {e.hint}" if e.hint and self.status == "failed" else "")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def format_labels(labels: Mapping[str, str]) -> str:
    """``name{a="1", b="2"}`` the way PromQL writes a series; ``{}`` for a series without labels."""
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def api_data(payload: Any, where: str) -> dict[str, Any]:
    """``data`` of a Prometheus API answer whose ``status`` is ``success``. An error status is refused even on
    HTTP 200, which a proxy or a compatible server (Thanos, Mimir) may send."""
    if not isinstance(payload, dict):
        raise wrong_shape(where, "the answer", "a Prometheus API response", payload)
    if payload.get("status") == "error":
        raise BadResponse(f"{where}: {payload.get('errorType', 'error')}: {str(payload.get('error', ''))[:200]}")
    if payload.get("status") != "success":
        raise wrong_shape(where, "status", "'success' or 'error'", payload.get("status"))
    return mapping(payload.get("data"), where, "data")


def _value(raw: Any, where: str) -> float:
    """Prometheus sends sample values as strings, including ``NaN``, ``+Inf`` and ``-Inf``."""
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str | int | float) \
            and not isinstance(raw[1], bool):
        try:
            return float(raw[1])
        except ValueError:
            pass
    raise BadResponse(f"{where}: sample {shown(raw)[:80]} is not [timestamp, \"value\"]")


def parse_query(payload: Any, *, query: str = "", server: str = "") -> QueryResult:
    """``/api/v1/query`` answer → result type and samples. Matrix and string results keep no samples."""
    where = (f"query {query!r}" if query else "query") + (f" on {server}" if server else "")
    data = api_data(payload, where)
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "vector":
        if not isinstance(result, list):
            raise BadResponse(f"{where}: vector result is not a list: {shown(result)}")
        samples = []
        for series in result:
            series = mapping(series, where, "a series")
            labels = string_map(series.get("metric"), where, "metric of a series")
            samples.append(Sample(labels, _value(series.get("value"), where)))
        return QueryResult("vector", tuple(samples))
    if result_type == "scalar":
        return QueryResult("scalar", (Sample({}, _value(result, where)),))
    if result_type in ("matrix", "string"):
        return QueryResult(result_type, ())
    raise BadResponse(f"{where}: unknown result type {str(result_type)[:40]!r}")


def holds(value: float, op: str, threshold: float) -> bool:
    """``value op threshold``; NaN never holds (in Python ``NaN != x`` is true, which would hide a broken series)."""
    if math.isnan(value):
        return False
    return _COMPARE[op](value, threshold)


def _observed(samples: Sequence[Sample], *, limit: int = 10) -> str:
    shown = [f"{format_value(s.value)} {format_labels(s.labels)}" if s.labels else format_value(s.value)
             for s in samples[:limit]]
    more = f"; … {len(samples) - limit} more" if len(samples) > limit else ""
    return "; ".join(shown) + more


def judge(expectation: Expectation, result: QueryResult) -> Judgement:
    """Compare every sample of an instant query result with the expectation."""
    if result.result_type == "matrix":
        return Judgement(expectation, "error", "", error="the query returns a range vector (matrix); expectations "
                         "need an instant vector or a scalar: drop the [range] or wrap it, e.g. max_over_time(x[5m])")
    if result.result_type == "string":
        return Judgement(expectation, "error", "", error="the query returns a string; expectations compare numbers")
    if not result.samples:
        return Judgement(expectation, _NO_DATA_STATUS[expectation.no_data], "no data")
    failing = tuple(s for s in result.samples if not holds(s.value, expectation.op, expectation.threshold))
    if failing:
        return Judgement(expectation, "failed", _observed(failing), failing)
    return Judgement(expectation, "passed", _observed(result.samples))


def parse_targets(payload: Any, where: str = "/api/v1/targets") -> list[ScrapeTarget]:
    """``/api/v1/targets`` answer → its active targets."""
    targets = []
    for t in listing(api_data(payload, where).get("activeTargets"), where, "data.activeTargets"):
        t = mapping(t, where, "an active target")
        labels = string_map(t.get("labels"), where, "labels of a target")
        targets.append(ScrapeTarget(
            job=labels.get("job") or str(t.get("scrapePool", "")),
            instance=labels.get("instance") or str(t.get("scrapeUrl", "")),
            health=text(t.get("health", "unknown"), where, "health of a target"),
            last_error=str(t.get("lastError") or ""),
            scrape_url=str(t.get("scrapeUrl", "")),
            last_scrape=str(t.get("lastScrape", "")),
        ))
    return targets


def parse_rules(payload: Any, where: str = "/api/v1/rules") -> list[Rule]:
    """``/api/v1/rules`` answer → every rule of every group (alerting and recording)."""
    rules = []
    for g in listing(api_data(payload, where).get("groups"), where, "data.groups"):
        g = mapping(g, where, "a rule group")
        for r in listing(g.get("rules"), where, "rules of a group"):
            r = mapping(r, where, "a rule")
            rules.append(Rule(
                name=text(r.get("name"), where, "name of a rule"),
                group=str(g.get("name", "")),
                file=str(g.get("file", "")),
                health=str(r.get("health", "unknown")),
                last_error=str(r.get("lastError") or ""),
                state=str(r.get("state", "")),
            ))
    return rules


def promql_duration(seconds: float) -> str:
    """A PromQL range such as ``1d`` or ``90s``: the largest unit that divides it (PromQL wants whole numbers)."""
    whole = max(1, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
