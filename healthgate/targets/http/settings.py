"""What a profile may say about a http target: its address, credentials and thresholds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from healthgate.targets.base import Model, TargetSettings
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




