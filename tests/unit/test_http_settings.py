"""HTTP target settings: presets fill the health expectations, the profile's own keys win, samples are bounded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from healthgate.targets.http.settings import PRESETS, Settings


def settings(**values: object) -> Settings:
    return Settings.model_validate({"url": "http://svc:8000", **values})


def test_defaults_are_the_seeds_figures() -> None:
    s = settings()
    assert (s.health.path, s.health.expect_status, s.health.expect_json) == ("/health", (200,), {})
    assert s.thresholds.latency_p95 == 2.0
    assert s.thresholds.error_rate_pct == 0.1
    assert s.thresholds.prediction_latency == 5.0
    assert (s.latency.samples, s.latency.concurrency, s.latency.method) == (20, 4, "GET")
    assert s.prediction is None and s.guardrails is None


@pytest.mark.parametrize(("preset", "path", "expect_json", "expect_body"), [
    ("grafana", "/api/health", {"database": "ok"}, None),
    ("tempo", "/ready", {}, "ready"),
    ("otelcol", "/", {"status": "Server available"}, None),
    ("fluentbit", "/api/v1/health", {}, "ok"),
    ("opensearch-dashboards", "/api/status", {"status.overall.state": "green"}, None),
])
def test_presets_fill_health(preset: str, path: str, expect_json: dict[str, str], expect_body: str | None) -> None:
    health = settings(preset=preset).health
    assert (health.path, health.expect_json, health.expect_body) == (path, expect_json, expect_body)
    assert set(PRESETS) == {"grafana", "tempo", "otelcol", "fluentbit", "opensearch-dashboards"}


def test_profile_keys_win_over_the_preset() -> None:
    health = settings(preset="grafana", health={"path": "/grafana/api/health", "expect_version": "10.4.2"}).health
    assert health.path == "/grafana/api/health"
    assert health.expect_json == {"database": "ok"}
    assert health.expect_version == "10.4.2"


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ValidationError) as excinfo:
        settings(preset="kibana")
    assert "'grafana', 'tempo', 'otelcol', 'fluentbit' or 'opensearch-dashboards'" in str(excinfo.value)


@pytest.mark.parametrize(("latency", "problem"), [
    ({"samples": 201}, "less than or equal to 200"),
    ({"samples": 0}, "greater than or equal to 1"),
    ({"concurrency": 64}, "less than or equal to 32"),
    ({"method": "DELETE"}, "'GET', 'HEAD' or 'POST'"),
    ({"sample": 10}, "Extra inputs are not permitted"),
])
def test_latency_sampling_is_bounded(latency: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        settings(latency=latency)
    assert problem in str(excinfo.value)


def test_durations_are_parsed() -> None:
    s = settings(thresholds={"latency_p95": "800ms", "latency_p99": "1.5s", "prediction_latency": "3s"})
    assert (s.thresholds.latency_p95, s.thresholds.latency_p99, s.thresholds.prediction_latency) == (0.8, 1.5, 3.0)


def test_prediction_needs_a_body() -> None:
    with pytest.raises(ValidationError):
        settings(prediction={"path": "/predict"})
    assert settings(prediction={"body": {"features": [1]}}).prediction.path == "/predict"  # type: ignore[union-attr]


def test_address_has_no_credentials() -> None:
    assert settings(url="https://user:hunter22@svc.example.com").address() == "https://user:***@svc.example.com"
