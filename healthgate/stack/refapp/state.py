"""Fault switches and Prometheus series of the reference application.

Every check of healthgate must be proven against a healthy and a broken server; this module is
where "broken" is decided. Faults are set at run time through the admin API, and the metrics they
influence are computed lazily at scrape time so a rate fault (events per second) turns into a
counter slope that Prometheus ``rate()`` sees, without any background task to start or stop.

All request handlers are ``async`` and run on the event loop thread, so the state needs no lock.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import time
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]

ATTACKER_IP = "203.0.113.7"  # TEST-NET-3: an address that cannot belong to a real client
MIMIC_PRODUCTS = ("grafana", "tempo", "otelcol", "fluentbit", "opensearch-dashboards")
GARBAGE_KINDS = ("html", "truncated", "notjson")


@dataclass(frozen=True)
class FaultSpec:
    """How a fault's value is read; ``kind`` decides the validation in :meth:`State.set_fault`."""

    kind: str  # flag | number | fraction | text | products | garbage
    help: str
    default: float | str | None = None


FAULTS: dict[str, FaultSpec] = {
    "slow": FaultSpec("number", "seconds added to every non-admin request"),
    "errors": FaultSpec("fraction", "share (0..1) of non-admin requests answered 500"),
    "down": FaultSpec("flag", "/health and /ml/health answer 503"),
    "degraded": FaultSpec("flag", "/health answers 200 with status degraded, database failing"),
    "quality": FaultSpec("number", "ai_response_quality_score value"),
    "drift": FaultSpec("number", "ai_semantic_drift_score value"),
    "hallucinations": FaultSpec("number", "ai_hallucination_events_total increase per second"),
    "attacks": FaultSpec("number", f"injection and jailbreak attempts per minute from {ATTACKER_IP}"),
    "pii_rate": FaultSpec("number", "ai_pii_detected_total{type=email} increase per second"),
    "out_of_domain": FaultSpec("number", "ai_out_of_domain_total increase per second"),
    "burn_rate": FaultSpec("number", "ai_error_budget_burn_rate value"),
    "gdpr": FaultSpec("number", "ai_gdpr_compliance_score value"),
    "queue": FaultSpec("number", "nightscan_prediction_queue_length value"),
    "accuracy": FaultSpec("number", "nightscan_model_accuracy value"),
    "guardrails_off": FaultSpec("flag", "/chat refuses nothing and redacts nothing"),
    "telemetry_off": FaultSpec("flag", "no OTLP spans or metrics are sent (with OTEL_EXPORTER_OTLP_ENDPOINT set)"),
    "version": FaultSpec("text", "version string reported by /health"),
    "mimic_unhealthy": FaultSpec("products", "comma-separated products: " + "|".join(MIMIC_PRODUCTS)),
    "fluentbit_health_check_off": FaultSpec("flag", "/mimic/fluentbit answers as Fluent Bit's default "
                                                    "configuration does: 404, no Health_Check"),
    "garbage": FaultSpec("garbage", "/health and mimic JSON answer 200 with: " + "|".join(GARBAGE_KINDS)),
    "huge": FaultSpec("number", "/health streams this many bytes"),
    "stall": FaultSpec("number", "/health never answers (seconds, until reset)", default=3600.0),
}

# name -> (type, help, healthy value, fault overriding it); the order is the exposition order.
GAUGES: dict[str, tuple[str, float, str]] = {
    "ai_response_quality_score": ("Quality score of AI answers (0..1).", 0.92, "quality"),
    "ai_semantic_drift_score": ("Semantic drift of prompts from the reference set (0..1).", 0.2, "drift"),
    "ai_error_budget_burn_rate": ("Error budget burn rate (1 = on budget).", 0.5, "burn_rate"),
    "ai_gdpr_compliance_score": ("GDPR compliance score (0..1).", 0.97, "gdpr"),
    "nightscan_prediction_queue_length": ("Prediction jobs waiting.", 3.0, "queue"),
    "nightscan_model_accuracy": ("Accuracy of the deployed model on the validation set.", 0.97, "accuracy"),
}

COUNTERS: dict[str, str] = {
    "ai_requests_total": "Application requests served (admin and /metrics excluded).",
    "ai_requests_error_total": "Application requests that ended in a 5xx, by error type.",
    "http_requests_total": "HTTP responses by status code.",
    "ai_hallucination_events_total": "Answers flagged as hallucinations.",
    "ai_prompt_injection_detected_total": "Prompts refused as prompt injection, by client IP.",
    "ai_jailbreak_attempts_total": "Prompts refused as jailbreak attempts, by client IP.",
    "ai_pii_detected_total": "PII items redacted from prompts, by type.",
    "ai_out_of_domain_total": "Prompts outside the service's domain.",
}

# Rate faults: per unit of the fault's value, how much each series grows per second.
RATE_FAULTS: dict[str, list[tuple[str, Labels, float]]] = {
    "hallucinations": [("ai_hallucination_events_total", (), 1.0)],
    "attacks": [
        ("ai_prompt_injection_detected_total", (("ip", ATTACKER_IP),), 1 / 60),
        ("ai_jailbreak_attempts_total", (("ip", ATTACKER_IP),), 1 / 60),
    ],
    "pii_rate": [("ai_pii_detected_total", (("type", "email"),), 1.0)],
    "out_of_domain": [("ai_out_of_domain_total", (), 1.0)],
}


def error_type(status: int) -> str:
    return {500: "internal", 503: "unavailable", 504: "timeout"}.get(status, f"http_{status}")


class State:
    """Faults plus counters of one application instance (a fresh one per in-process server)."""

    def __init__(self, background_rps: float | None = None) -> None:
        # Synthetic traffic so that error ratios and request rates exist in Prometheus even when
        # nobody calls the app, as in a production service; the `errors` fault applies to it too.
        env_rps = os.environ.get("REFAPP_BACKGROUND_RPS", "2")
        self.background_rps = float(env_rps) if background_rps is None else background_rps
        self.faults: dict[str, float | str | bool] = {}
        self.counters: dict[str, dict[Labels, float]] = {name: {} for name in COUNTERS}
        # Series known in advance exist from the first scrape, so rate() and absent() behave;
        # per-IP series appear with the first attack, as in the monitored application.
        for name, labels in (("ai_requests_total", ()), ("ai_hallucination_events_total", ()),
                             ("ai_out_of_domain_total", ()),
                             ("ai_requests_error_total", (("error_type", "internal"),)),
                             ("ai_pii_detected_total", (("type", "email"),)),
                             ("ai_pii_detected_total", (("type", "phone"),))):
            self.counters[name][labels] = 0.0
        self.otelcol_failed = 0.0  # items the imitated collector failed to export; its series appear above 0
        self.otelcol_sent = 0.0
        self._last = time.monotonic()
        self._synthetic_carry = 0.0

    # -- faults ---------------------------------------------------------------------------------
    def set_fault(self, name: str, value: object = None) -> None:
        """Validate and set a fault; raises ValueError with a message fit for an HTTP 400."""
        spec = FAULTS.get(name)
        if spec is None:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        if value is None:
            value = spec.default
        parsed: float | str | bool
        if spec.kind == "flag":
            parsed = True
        elif spec.kind in ("number", "fraction"):
            try:
                parsed = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValueError(f"fault {name!r} needs a number, got {value!r}") from None
            if parsed < 0 or (spec.kind == "fraction" and parsed > 1):
                raise ValueError(f"fault {name!r} out of range: {parsed}")
        elif spec.kind == "products":
            products = [p.strip() for p in str(value or "").split(",") if p.strip()]
            if not products or not set(products) <= set(MIMIC_PRODUCTS):
                raise ValueError(f"fault {name!r} needs products among {', '.join(MIMIC_PRODUCTS)}")
            parsed = ",".join(products)
        elif spec.kind == "garbage":
            if value not in GARBAGE_KINDS:
                raise ValueError(f"fault {name!r} needs one of {', '.join(GARBAGE_KINDS)}")
            parsed = str(value)
        else:
            if value is None:
                raise ValueError(f"fault {name!r} needs a value")
            parsed = str(value)
        self.advance()  # the previous rates apply up to now, the new ones from now on
        self.faults[name] = parsed

    def clear(self, name: str | None = None) -> None:
        self.advance()
        if name is None:
            self.faults.clear()
        else:
            self.faults.pop(name, None)

    def number(self, name: str) -> float:
        value = self.faults.get(name)
        return float(value) if isinstance(value, float) else 0.0

    def unhealthy(self, product: str) -> bool:
        return product in str(self.faults.get("mimic_unhealthy", "")).split(",")

    def should_fail(self) -> bool:
        return random.random() < self.number("errors")

    def version(self) -> str:
        return str(self.faults.get("version") or os.environ.get("APP_VERSION", "1.4.2"))

    async def stall(self) -> None:
        """Hold the request while the `stall` fault lasts, so a reset releases stuck clients."""
        deadline = time.monotonic() + self.number("stall")
        while "stall" in self.faults and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # -- counters -------------------------------------------------------------------------------
    def inc(self, name: str, labels: Labels = (), amount: float = 1.0) -> None:
        series = self.counters[name]
        series[labels] = series.get(labels, 0.0) + amount

    def record_request(self, path: str, status: int) -> None:
        if path.startswith("/mimic/"):
            return  # other products' imitations: their failures must not move this app's error rate
        self.inc("http_requests_total", (("status", str(status)),))
        if path != "/metrics":
            self.inc("ai_requests_total")
            if status >= 500:
                self.inc("ai_requests_error_total", (("error_type", error_type(status)),))

    def advance(self) -> None:
        """Apply synthetic traffic and rate faults for the time elapsed since the last call."""
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        for fault, effects in RATE_FAULTS.items():
            for name, labels, per_unit in effects:
                if self.number(fault):
                    self.inc(name, labels, self.number(fault) * per_unit * elapsed)
        if self.unhealthy("otelcol"):
            self.otelcol_failed += 10 * elapsed
        else:
            self.otelcol_sent += 10 * elapsed
        # Whole synthetic requests only, so http_requests_total stays an integer count.
        self._synthetic_carry += self.background_rps * elapsed
        count, self._synthetic_carry = divmod(self._synthetic_carry, 1.0)
        failed = sum(1 for _ in range(int(count)) if self.should_fail())
        for status, n in ((200, count - failed), (500, failed)):
            if n:
                self.inc("http_requests_total", (("status", str(status)),), n)
                self.inc("ai_requests_total", (), n)
        if failed:
            self.inc("ai_requests_error_total", (("error_type", "internal"),), failed)

    # -- exposition -----------------------------------------------------------------------------
    def render_metrics(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        self.advance()
        lines: list[str] = []
        for name, (help_text, healthy, fault) in GAUGES.items():
            value = self.number(fault) if fault in self.faults else healthy
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {fmt(value)}"]
        for name, help_text in COUNTERS.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            series = sorted(self.counters[name].items())
            lines += [f"{name}{fmt_labels(labels)} {fmt(value)}" for labels, value in series]
        lines += ["# HELP process_resident_memory_bytes Resident memory size in bytes.",
                  "# TYPE process_resident_memory_bytes gauge",
                  f"process_resident_memory_bytes {resident_memory_bytes()}"]
        return "\n".join(lines) + "\n"


def fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(value, 6))


def fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels) + "}"


def resident_memory_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: peak RSS is the best portable figure
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
