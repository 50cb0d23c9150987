"""The stack's real OpenTelemetry Collector: it answers its health and telemetry endpoints, the app's OTLP traces
and metrics go through it into Prometheus, and the checks that watch it pass on it healthy and fail on it broken.

The collector preset is also proven against the reference app's recording of collector 0.165's answers
(tests/stack/test_http_checks.py): that recording stands for the product where a real one cannot be run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import checks.test_http as http_checks
import checks.test_prometheus as prometheus_checks
from healthgate.stack.components import OTLP_SERVICE_NAME
from healthgate.stack.stack import Stack
from healthgate.targets.base import Target
from healthgate.testing import Outcome, make_target, run_check
from tests.polling import check_until, eventually

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
# Export, remote write and a scrape each run every 2 s in the stack; 30 s leaves room for a loaded machine.
POLL_S = 30.0
# The collector retries a failed remote write for 60 s (config/otelcol.yaml) before it counts it as failed.
FAILURE_VISIBLE_S = 150.0


def until(check: Callable[..., Any], target: Any, status: str, timeout: float = POLL_S, *,
          mentions: str = "") -> Outcome:
    return check_until(check, target, status, timeout, mentions=mentions, every_s=1.0)


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def counted(result: list[dict[str, Any]]) -> bool:
    """A query's result holds a series whose newest value is above 0."""
    return bool(result) and float(result[0]["value"][1]) > 0


def collector(env: dict[str, str]) -> Target:
    """The collector as the AI profile declares it (preset otelcol), at the stack's addresses."""
    return make_target("http", {"url": env["STACK_OTELCOL_URL"], "preset": "otelcol",
                                "metrics_url": env["STACK_OTELCOL_METRICS_URL"]})


def ai_profile_stream(window: str) -> dict[str, Any]:
    """The AI profile's own telemetry stream (its selector, as the demo runs it), with a self-test's window."""
    profile = yaml.safe_load((ROOT / "profiles" / "ai-monitoring.yaml").read_text())
    stream = dict(profile["targets"]["prometheus"]["main"]["telemetry"][0])
    stream["selector"] = stream["selector"].replace("${AI_OTEL_SERVICE_NAME:-ai-lab-app}", OTLP_SERVICE_NAME)
    return {**stream, "window": window}


# ---------------------------------------------------------------------- the shared stack
# These tests read what the shared refapp sends, and one of them stops it sending: they share the xdist group of
# the tests that fault or pause that refapp (tests/stack/test_stack.py), so under `--dist loadgroup` they run on
# one worker and none meets another's fault.
SHARED_REFAPP = pytest.mark.xdist_group("stack-refapp")


@SHARED_REFAPP
def test_collector_answers_health_and_its_own_telemetry_on_all_interfaces(stack: Stack) -> None:
    env = stack.env()
    health = httpx.get(env["STACK_OTELCOL_URL"] + "/", timeout=10)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "Server available" and body["upSince"] != "0001-01-01T00:00:00Z", body
    # Right after the stack starts, the app's first spans and the first remote write may be a batch away.
    telemetry = eventually(
        lambda: httpx.get(env["STACK_OTELCOL_METRICS_URL"], timeout=10).text,
        lambda text: bool(
            re.search(r'^otelcol_receiver_accepted_spans\{receiver="otlp",transport="http"\} [1-9]', text, re.M)
            and re.search(r'^otelcol_exporter_sent_metric_points\{exporter="prometheus_remote_write"\} [1-9]',
                          text, re.M)),
        POLL_S, "spans accepted and metric points sent, in the collector's own telemetry", every_s=1)
    assert "otelcol_process_uptime" in telemetry
    assert "_total" not in "".join(line for line in telemetry.splitlines() if line.startswith("otelcol_exporter"))


@SHARED_REFAPP
def test_otlp_posted_to_the_collector_lands_in_prometheus(stack: Stack) -> None:
    """The pipeline end to end with a data point of our own: OTLP/HTTP JSON in, remote write out."""
    env = stack.env()
    marker = time.time_ns()
    payload = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "healthgate-selftest"}}]},
        "scopeMetrics": [{"scope": {"name": "selftest"}, "metrics": [{
            "name": "healthgate.selftest.marker",
            "gauge": {"dataPoints": [{"timeUnixNano": str(marker), "asDouble": 42.5}]}}]}]}]}
    response = httpx.post(env["STACK_OTELCOL_OTLP_URL"] + "/v1/metrics", json=payload, timeout=10)
    assert response.status_code == 200, response.text
    found = eventually(lambda: query(stack.prometheus_url(), 'healthgate_selftest_marker{job="healthgate-selftest"}'),
                       lambda result: bool(result), POLL_S, "the posted data point in Prometheus", every_s=1)
    assert float(found[0]["value"][1]) == 42.5


@SHARED_REFAPP
def test_app_traces_and_metrics_reach_prometheus_through_the_collector(stack: Stack) -> None:
    status = httpx.get(stack.refapp_url() + "/admin/telemetry", timeout=10).json()
    assert status["endpoint"] == "http://otelcol:4318" and status["sending"] is True, status
    job = f'job="{OTLP_SERVICE_NAME}"'
    requests = eventually(lambda: query(stack.prometheus_url(), f"ai_app_requests_total{{{job}}}"),
                          counted, POLL_S, "the app's request counter, written by the collector", every_s=1)
    assert float(requests[0]["value"][1]) > 0
    # Spans become calls per service and span name in the collector's span_metrics connector. A new series of it
    # starts with a 0 sample; the calls follow at the connector's next flush, 5 s later.
    calls = eventually(lambda: query(stack.prometheus_url(),
                                     f'traces_span_metrics_calls_total{{service_name="{OTLP_SERVICE_NAME}", '
                                     f'span_name="GET /metrics"}}'),
                       counted, POLL_S, "span metrics of the app's /metrics requests", every_s=1)
    assert float(calls[0]["value"][1]) > 0
    scraped = eventually(lambda: query(stack.prometheus_url(), 'up{job="otelcol"}'),
                         lambda result: bool(result) and result[0]["value"][1] == "1", POLL_S,
                         "Prometheus scraping the collector's :8888")
    assert scraped[0]["metric"]["instance"] == "otelcol:8888"


@SHARED_REFAPP
def test_otelcol_preset_passes_on_the_real_collector(stack: Stack) -> None:
    target = collector(stack.env())
    health = until(http_checks.test_health_endpoint, target, "passed")
    assert health.status == "passed", health
    assert '"status":"Server available"' in dict(health.record.evidence)["response"]
    exports = until(http_checks.test_otelcol_export_failures, target, "passed")
    log = stack.docker_container("otelcol").logs(tail=20).decode(errors="replace")
    assert exports.status == "passed", f"{exports}\n--- collector log ---\n{log}"
    assert exports.record.warnings[0].startswith(
        "no otelcol_exporter_send_failed_* series: no export failed since the collector started (")


@SHARED_REFAPP
def test_telemetry_arriving_passes_then_fails_when_the_app_stops_sending(stack: Stack) -> None:
    target = make_target("prometheus", {"url": stack.prometheus_url(), "telemetry": [ai_profile_stream("10s")]})
    healthy = until(prometheus_checks.test_telemetry_arriving, target, "passed")
    assert healthy.status == "passed", healthy
    evidence = dict(healthy.record.evidence)["data points per stream"]
    selector = f'ai_app_requests_total{{job="{OTLP_SERVICE_NAME}"}}'
    assert evidence.startswith(f"ai-app telemetry: sum(count_over_time({selector}[10s])) = ")
    stack.refapp_fault("telemetry_off")
    try:
        broken = until(prometheus_checks.test_telemetry_arriving, target, "failed")
        assert broken.status == "failed", broken
        assert re.fullmatch(
            r"prometheus:test: 1 of 1 telemetry stream\(s\) not arriving:\n"
            r'- ai-app telemetry: 0 data point\(s\) of ai_app_requests_total\{job="ai-lab-app"\} in the last 10s '
            r"\(min 1\); the newest arrived [\d.]+(ms|s|m|h) ago — the application stopped sending or the collector "
            r"stopped forwarding: check the collector's export failures \(otelcol_exporter_send_failed_\*\) and its "
            r"log, then the application's OTLP exporter and its log", broken.message), broken.message
    finally:
        stack.refapp_reset()
    assert until(prometheus_checks.test_telemetry_arriving, target, "passed").status == "passed"


@SHARED_REFAPP
def test_telemetry_that_never_arrived_fails_and_a_bad_selector_is_broken(stack: Stack) -> None:
    never = make_target("prometheus", {"url": stack.prometheus_url(), "telemetry": [
        {"name": "typo", "selector": 'ai_app_requests_total{job="ai-lab-ap"}', "window": "1m"}]})
    outcome = run_check(prometheus_checks.test_telemetry_arriving, never)
    assert outcome.status == "failed", outcome
    assert outcome.message == (
        "prometheus:test: 1 of 1 telemetry stream(s) not arriving:\n"
        '- typo: 0 data point(s) of ai_app_requests_total{job="ai-lab-ap"} in the last 1m (min 1); none in the last '
        "1d: nothing has arrived — check the metric name and the job (the application's service.name), that the "
        "collector's metrics pipeline writes to this Prometheus, and the application's OTEL_EXPORTER_OTLP_ENDPOINT")
    expression = make_target("prometheus", {"url": stack.prometheus_url(), "telemetry": [
        {"name": "sum", "selector": "sum(ai_app_requests_total)"}]})
    broken = run_check(prometheus_checks.test_telemetry_arriving, expression)
    assert broken.status == "broken", broken
    assert broken.message.startswith("sum: Prometheus refused the query (HTTP 400): bad_data: ")


# ---------------------------------------------------------------------- a private stack whose store is stopped


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Stack]:
    """App, collector and Prometheus only: Prometheus, the collector's store, is stopped here, which the shared
    stack's other tests must never see."""
    private = Stack(components=["refapp", "otelcol", "prometheus"]).start()
    try:
        yield private
    finally:
        private.stop()


def test_export_failures_fail_with_the_real_series_once_the_store_stops(pipeline: Stack) -> None:
    target = collector(pipeline.env())
    assert until(http_checks.test_otelcol_export_failures, target, "passed").status == "passed"
    pipeline.stop_component("prometheus")
    try:
        broken = until(http_checks.test_otelcol_export_failures, target, "failed", FAILURE_VISIBLE_S)
        assert broken.status == "failed", broken
        assert re.fullmatch(
            r"http:test: otelcol_send_failed \((\d+)\) <= 0 — the collector failed to export telemetry "
            r'\(otelcol_exporter_send_failed_metric_points\{exporter="prometheus_remote_write"\} \1\): '
            r"traces/metrics/logs were lost; check its exporter's destination \(Tempo, Prometheus, OpenSearch\) and "
            r"its logs", broken.message), broken.message
        # The health_check extension knows nothing of its exporters: health alone would call this collector fine.
        assert run_check(http_checks.test_health_endpoint, target).status == "passed"
    finally:
        pipeline.start_component("prometheus")
    # The counters count since the collector started: the store is back, the lost data stays lost, still failing.
    target.reset()
    assert run_check(http_checks.test_otelcol_export_failures, target).status == "failed"
    pipeline.stop_component("otelcol")
    try:
        down = run_check(http_checks.test_health_endpoint, collector(pipeline.env()))
        assert down.status == "broken", down
        assert "the collector's health_check extension listens on localhost:13133 unless configured" in down.message
    finally:
        pipeline.start_component("otelcol")
    restarted = until(http_checks.test_otelcol_export_failures, collector(pipeline.env()), "passed")
    assert restarted.status == "passed", restarted
