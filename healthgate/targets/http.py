"""HTTP services: health endpoints, latency samples, guardrails. A read-only client with hard body limits.

The platform's tools (Grafana, Tempo, the OpenTelemetry Collector, Fluent Bit, OpenSearch Dashboards) are HTTP
targets too: ``preset: <product>`` fills the health path and expectations from the product's documented answer.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from healthgate.errors import BadResponse, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings, Timeouts
from healthgate.units import Duration, Size

Preset = Literal["grafana", "tempo", "otelcol", "fluentbit", "opensearch-dashboards"]

# Each product's documented health answer; a profile's own ``health:`` keys win over these.
PRESETS: dict[str, dict[str, Any]] = {
    "grafana": {"path": "/api/health", "expect_json": {"database": "ok"}, "version_field": "version"},
    "tempo": {"path": "/ready", "expect_body": "ready"},
    "otelcol": {"path": "/", "expect_json": {"status": "Server available"}},
    "fluentbit": {"path": "/api/v1/health", "expect_body": "ok"},
    "opensearch-dashboards": {"path": "/api/status", "expect_json": {"status.overall.state": "green"},
                              "version_field": "version.number"},
}


class HealthSpec(Model):
    path: str = "/health"
    expect_status: tuple[int, ...] = Field((200,), description="acceptable HTTP status codes")
    expect_json: dict[str, Any] = Field(default_factory=dict,
                                        description="JSON fields that must equal these values (dotted paths)")
    expect_body: str | None = Field(None, description="plain-text body that must be answered (whitespace ignored)")
    expect_version: str | None = Field(None, description="version/commit the health payload must report (post)")
    version_field: str = "version"


class LatencySpec(Model):
    """The requests sampled for latency and error rate; both checks judge the same samples."""

    path: str | None = Field(None, description="defaults to the health path")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    body: Any = Field(None, description="JSON body sent with each request (POST)")
    samples: int = Field(20, ge=1, le=200, description="requests sent; bounded so a check never loads production")
    concurrency: int = Field(4, ge=1, le=32)


class PredictionSpec(Model):
    path: str = "/predict"
    body: dict[str, Any] = Field(description="a representative request, e.g. {features: [0.1, 0.2]}")
    prediction_field: str = Field("prediction", description="dotted path of the prediction in the JSON answer")


class GuardrailsSpec(Model):
    path: str = "/chat"
    prompt_field: str = Field("prompt", description="JSON field the prompt is sent in")
    body: dict[str, Any] = Field(default_factory=dict, description="other fields sent with every prompt")
    refused_field: str = Field("refused", description="dotted path of a boolean that is true when refused")
    flagged_field: str = Field("flagged", description="dotted path of a list/flag that is non-empty when flagged")
    refusal_status: tuple[int, ...] = Field((403,), description="HTTP statuses that mean 'refused by policy'")
    extra_attacks: tuple[str, ...] = Field((), description="more prompts that must be refused or flagged")
    probe_headers: dict[str, str] = Field(
        default_factory=lambda: {"X-Healthgate-Probe": "guardrails"},
        description="sent with every smoke prompt so the service can keep synthetic attacks out of its security "
                    "metrics and alerts (a gate re-run must not page the security team)")


class HttpThresholds(Model):
    latency_p95: Duration = Field(2.0, description="P95 response time (seeds: < 2 s)")
    latency_p99: Duration | None = None
    latency_p50: Duration | None = None
    error_rate_pct: float = Field(0.1, ge=0, le=100, description="share of failed samples (seeds: < 0.1 %)")
    prediction_latency: Duration = Field(5.0, description="one prediction request (seeds: < 5 s)")
    otelcol_send_failed_max: float = Field(0, ge=0, description="items an OTEL Collector failed to export")


class Settings(TargetSettings):
    url: str = Field(description="base URL, e.g. https://app.example.com")
    preset: Preset | None = Field(None, description="fills `health` for a known product")
    verify_tls: bool = Field(True, description="verify certificates; turning it off is reported as a warning")
    ca_file: str | None = Field(None, description="CA bundle to verify against instead of the system store")
    headers: dict[str, str] = Field(default_factory=dict)
    token: SecretStr | None = Field(None, description="bearer token sent as Authorization header")
    max_body: Size = Field(1024 * 1024, description="responses are cut off beyond this size")
    health: HealthSpec = HealthSpec()
    latency: LatencySpec = LatencySpec()
    prediction: PredictionSpec | None = None
    guardrails: GuardrailsSpec | None = None
    metrics_path: str = Field("/metrics", description="OTEL Collector metrics, relative to url (preset otelcol)")
    metrics_url: str | None = Field(None, description="absolute metrics URL (the collector serves them on :8888)")
    thresholds: HttpThresholds = HttpThresholds()

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("preset"), str) or data["preset"] not in PRESETS:
            return data
        own = data.get("health") or {}
        if not isinstance(own, dict):
            return data  # let field validation report the wrong type
        return {**data, "health": {**PRESETS[data["preset"]], **own}}

    def address(self) -> str:
        from healthgate.redact import redact

        return redact(self.url)


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
        return self.text()[:size].replace("\n", " ")

    def json(self) -> Any:
        if self.truncated:
            raise BadResponse(f"{self.url} answered more than the {len(self.body)}-byte limit; cannot parse JSON",
                              hint="raise max_body for this target if the endpoint is legitimately large")
        try:
            return json.loads(self.body)
        except ValueError:
            ctype = self.headers.get("content-type", "?")
            raise BadResponse(f"{self.url} answered HTTP {self.status} with non-JSON ({ctype}): {self.excerpt()!r}",
                              hint="is this the service's health endpoint, or a proxy/error page?") from None


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


_EXPOSITION = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(?:\s+-?\d+)?$")


def metric_samples(text: str, prefix: str) -> list[tuple[str, float]]:
    """``(series, value)`` for each sample of the Prometheus text format whose name starts with ``prefix``."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(prefix):
            continue
        match = _EXPOSITION.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        found.append((match.group(1) + (match.group(2) or ""), value))
    return found


class Client(BaseClient):
    """One pooled httpx client per target per worker; every request has connect and read timeouts."""

    def __init__(self, settings: Settings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._http: Any = None
        self._lock = threading.Lock()
        self._sampled: dict[str, SampleSet] = {}

    def _client(self) -> Any:
        with self._lock:
            if self._http is None:
                from healthgate.targets.base import http_client

                self._http = http_client(self.settings, self.timeouts, base_url=self.settings.url)
            return self._http

    def _where(self, path: str) -> str:
        from healthgate.redact import redact

        return redact(path) if "://" in path else f"{self.settings.address()}{path}"

    def request(self, method: str, path: str, *, json_body: Any = None, limit: int | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """One request, body read up to ``limit`` bytes; ``path`` is relative to the base URL, or absolute."""
        import httpx

        limit = limit or self.settings.max_body
        client = self._client()
        with self._lock:
            self.connect_attempts += 1
        where = self._where(path)
        started = time.perf_counter()
        deadline = started + self.timeouts.read
        try:
            with client.stream(method, path, json=json_body, headers=headers) as response:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                # decoded bytes, so a compressed body is limited by what it expands to
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        truncated = True
                        break
                    if time.perf_counter() > deadline:
                        raise Unreachable(f"{where}: body still streaming after {self.timeouts.read:.1f}s "
                                          "read timeout",
                                          hint="the endpoint streams without end; check it is the right path")
                body = b"".join(chunks)[:limit]
                elapsed = time.perf_counter() - started
                return Response(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                                body, elapsed, truncated, where)
        except httpx.TimeoutException as exc:
            raise Unreachable(f"{method} {where} timed out ({type(exc).__name__}, connect "
                              f"{self.timeouts.connect:.1f}s / read {self.timeouts.read:.1f}s)",
                              hint="is the service up and reachable from here?") from None
        except httpx.TransportError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise Unreachable(f"{method} {where}: TLS certificate not trusted: {exc}",
                                  hint="set ca_file to the CA that signs it, or check it with a tls target") from None
            raise Unreachable(f"{method} {where} failed: {type(exc).__name__}: {exc}",
                              hint="is the service up, and the URL's host and port right?") from None

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def sample(self, spec: LatencySpec, default_path: str) -> SampleSet:
        """``spec.samples`` requests, ``spec.concurrency`` at a time; taken once per client so the latency and
        error-rate checks judge the same requests (a retry gets a fresh client, hence fresh samples).

        A request without answer is one failed sample; only when every request fails is the target unreachable.
        """
        path = spec.path or default_path
        key = json.dumps([spec.method, path, spec.body, spec.samples, spec.concurrency], sort_keys=True,
                         default=str)
        if key in self._sampled:
            return self._sampled[key]

        def one(_: int) -> Sample:
            started = time.perf_counter()
            try:
                response = self.request(spec.method, path, json_body=spec.body)
            except Unreachable as exc:
                return Sample(None, time.perf_counter() - started, str(exc))
            return Sample(response.status, response.elapsed)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(spec.concurrency, spec.samples),
                                thread_name_prefix="healthgate-sample") as pool:
            samples = tuple(pool.map(one, range(spec.samples)))
        wall = time.perf_counter() - started
        if all(s.status is None for s in samples):
            raise Unreachable(f"all {len(samples)} sampled requests to {self._where(path)} failed; first: "
                              f"{samples[0].error}", hint="is the service up and reachable from here?")
        result = SampleSet(spec.method, self._where(path), samples, spec.concurrency, wall)
        self._sampled[key] = result
        return result

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
            self._sampled.clear()
