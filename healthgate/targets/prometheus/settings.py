"""What a profile may say about a prometheus target: its address, credentials and thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from healthgate.targets._httpjson import ApiSettings
from healthgate.targets.base import Model, Severity
from healthgate.units import Duration

Op = Literal["<", "<=", ">", ">=", "==", "!="]
NoData = Literal["fail", "pass", "warn"]


class Expectation(Model):
    """A PromQL instant query whose every series (or scalar) must satisfy ``value op threshold``."""

    name: str = Field(min_length=1, description="short name shown in failures, e.g. quality-score")
    query: str = Field(min_length=1, description="PromQL instant query, e.g. ai_response_quality_score")
    op: Op
    threshold: float
    no_data: NoData = Field("fail", description="verdict when the query returns no series")
    severity: Severity = "critical"
    hint: str = Field("", description="what a failure means and where to look")


class TelemetrySpec(Model):
    """Data points an application sends through an OpenTelemetry Collector, as they land in this Prometheus."""

    name: str = Field(min_length=1, description="short name shown in failures, e.g. ai-app metrics")
    selector: str = Field(
        min_length=1,
        description='PromQL series selector of a metric the application exports at every interval (a cumulative '
                    'counter or a gauge, not one that appears with events), e.g. ai_app_requests_total{job="ai-app"}; '
                    "a collector writing to Prometheus sets job to the application's service.name")
    window: Duration = Field(300.0, description="how recent the data points must be (default 5m)")
    min_points: int = Field(1, ge=1, description="fewest data points that must have arrived within the window")


class PrometheusThresholds(Model):
    internal_failures_window: Duration = Field(
        86400.0, description="window over which Prometheus's own failure counters must not increase (daily run)")
    max_internal_failures: float = Field(0, description="tolerated increase of each failure counter in the window")


class Settings(ApiSettings):
    expect_rules: tuple[str, ...] = Field((), description="alert rule names that must be loaded")
    expectations: tuple[Expectation, ...] = Field((), description="PromQL expectations")
    targets_ignore: tuple[str, ...] = Field((), description="scrape jobs whose down targets are not judged")
    telemetry: tuple[TelemetrySpec, ...] = Field(
        (), description="telemetry streams that must be arriving (OTLP metrics through a collector)")
    thresholds: PrometheusThresholds = PrometheusThresholds()

    @model_validator(mode="after")
    def _unique_expectation_names(self) -> Settings:
        names = [e.name for e in self.expectations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"expectation names must be unique; repeated: {', '.join(duplicates)}")
        streams = [t.name for t in self.telemetry]
        repeated = sorted({n for n in streams if streams.count(n) > 1})
        if repeated:
            raise ValueError(f"telemetry names must be unique; repeated: {', '.join(repeated)}")
        return self




