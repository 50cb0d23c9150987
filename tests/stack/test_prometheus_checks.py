"""Prometheus checks against the stack's Prometheus, which scrapes the refapp, itself and Alertmanager every 2 s
and loads every alert rule of both runbooks."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from checks import test_prometheus as checks
from healthgate.errors import Unreachable
from healthgate.stack.components import alert_names
from healthgate.testing import Outcome, make_target, run_check
from tests.polling import check_until, eventually

pytestmark = pytest.mark.stack

# Two scrape intervals and an evaluation make a fault visible; 20 s leaves room for a loaded machine.
POLL_S = 20.0
# Tests that pause or fault the shared refapp: one xdist group with the others that do, or read what it sends
# (tests/stack/test_stack.py, test_telemetry.py), so under `--dist loadgroup` none resets another's fault.
SHARED_REFAPP = pytest.mark.xdist_group("stack-refapp")


def prometheus(stack, **settings: Any):
    return make_target("prometheus", {"url": stack.prometheus_url(), **settings})


def until(check: Callable[..., Any], target: Any, status: str, timeout: float = POLL_S, *,
          mentions: str = "") -> Outcome:
    return check_until(check, target, status, timeout, mentions=mentions, every_s=0.5)


@pytest.fixture(autouse=True)
def scraped(stack) -> None:
    """Wait until every job has been scraped once: a stack that just started has no series yet."""
    target = prometheus(stack)
    deadline = time.monotonic() + POLL_S
    while True:
        targets = target.client.targets()
        if targets and all(t.health != "unknown" for t in targets) \
                and target.client.query("ai_response_quality_score").samples:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the stack's Prometheus has not scraped every job within {POLL_S:.0f}s: {targets}")
        time.sleep(0.5)


def quality(op: str = ">=", threshold: float = 0.6, **extra: Any) -> dict[str, Any]:
    return {"name": "quality", "query": "ai_response_quality_score", "op": op, "threshold": threshold, **extra}


def test_healthy_prometheus_passes_every_check(stack):
    every_alert = sorted({name for names in alert_names().values() for name in names})
    target = prometheus(stack, expect_rules=every_alert, expectations=[
        quality(),
        {"name": "drift", "query": "ai_semantic_drift_score", "op": "<=", "threshold": 0.7, "severity": "warning"},
    ])
    outcomes = {fn.__name__: until(fn, target, "passed") for fn in (
        checks.test_prometheus_ready, checks.test_scrape_targets_up, checks.test_alert_rules_loaded,
        checks.test_promql_expectations_critical, checks.test_promql_expectations_warning,
        checks.test_internal_failures)}
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(outcomes, "passed"), outcomes
    evidence = dict(outcomes["test_promql_expectations_critical"].record.evidence)
    assert 'quality: ai_response_quality_score (0.92 ai_response_quality_score{instance="refapp:8000", ' \
           'job="refapp"}) >= 0.6' in evidence["PromQL expectations"]


@SHARED_REFAPP
def test_paused_refapp_is_a_down_scrape_target(stack):
    target = prometheus(stack)
    assert until(checks.test_scrape_targets_up, target, "passed").status == "passed"
    stack.pause("refapp")
    try:
        # Other self-tests may have another component down meanwhile: wait for refapp's line, not a count.
        outcome = until(checks.test_scrape_targets_up, target, "failed", mentions="job=refapp")
        assert outcome.status == "failed", outcome
        assert re.match(r"prometheus:test: \d of 7 scrape target\(s\) down \(up == 0, alert ServiceDown\):\n",
                        outcome.message), outcome.message
        assert ('- job=refapp instance=refapp:8000 lastError: Get "http://refapp:8000/metrics": '
                'context deadline exceeded') in outcome.message
        ignoring = prometheus(stack, targets_ignore=["refapp"])
        assert until(checks.test_scrape_targets_up, ignoring, "passed").status == "passed"
    finally:
        stack.unpause("refapp")
    assert until(checks.test_scrape_targets_up, target, "passed").status == "passed"


@SHARED_REFAPP
def test_quality_expectation_fails_with_the_observed_value(stack):
    target = prometheus(stack, expectations=[quality()])
    stack.refapp_fault("quality", 0.3)
    try:
        # A paused refapp (another test) leaves no data for a moment: wait for the value itself.
        outcome = until(checks.test_promql_expectations_critical, target, "failed", mentions="(0.3 ")
        assert outcome.status == "failed", outcome
        assert outcome.message == (
            "prometheus:test: 1 of 1 PromQL expectation(s) failed:\n"
            '- quality: ai_response_quality_score (0.3 ai_response_quality_score{instance="refapp:8000", '
            'job="refapp"}) >= 0.6')
    finally:
        stack.refapp_reset()
    assert until(checks.test_promql_expectations_critical, target, "passed").status == "passed"


def test_expectations_are_split_by_severity(stack):
    target = prometheus(stack, expectations=[quality(severity="warning", threshold=2.0)])
    assert run_check(checks.test_promql_expectations_critical, target).status == "skipped"
    outcome = run_check(checks.test_promql_expectations_warning, target)
    assert outcome.status == "failed"
    assert "quality: ai_response_quality_score (0.92 " in outcome.message


@pytest.mark.parametrize(("no_data", "status"), [("fail", "failed"), ("pass", "passed"), ("warn", "passed")])
def test_empty_result_follows_the_no_data_policy(stack, no_data, status):
    absent = {"name": "absent", "query": 'up{job="no-such-job"}', "op": "==", "threshold": 1, "no_data": no_data}
    outcome = run_check(checks.test_promql_expectations_critical, prometheus(stack, expectations=[absent]))
    assert outcome.status == status, outcome
    if no_data == "fail":
        assert outcome.message.endswith('- absent: up{job="no-such-job"} (no data) == 1')
    if no_data == "warn":
        assert outcome.record.warnings == ['absent: up{job="no-such-job"} returned no data (no_data: warn)']


def test_scalar_query(stack):
    def scalar(op: str, threshold: float) -> dict[str, Any]:
        return {"name": "self", "query": 'scalar(up{job="prometheus"})', "op": op, "threshold": threshold}

    assert run_check(checks.test_promql_expectations_critical,
                     prometheus(stack, expectations=[scalar("==", 1)])).status == "passed"
    outcome = run_check(checks.test_promql_expectations_critical, prometheus(stack, expectations=[scalar(">", 5)]))
    assert outcome.status == "failed"
    assert outcome.message.endswith('- self: scalar(up{job="prometheus"}) (1) > 5')


def test_nan_fails_even_with_not_equal(stack):
    nan = {"name": "nan", "query": "scalar(up)", "op": "!=", "threshold": 0}  # scalar() of 3 series is NaN
    outcome = run_check(checks.test_promql_expectations_critical, prometheus(stack, expectations=[nan]))
    assert outcome.status == "failed"
    assert outcome.message.endswith("- nan: scalar(up) (NaN) != 0")


def test_matrix_and_rejected_queries_are_broken_not_failed(stack):
    target = prometheus(stack, expectations=[
        {"name": "range", "query": "up[1m]", "op": "==", "threshold": 1},
        {"name": "typo", "query": "sum(up", "op": "==", "threshold": 1},
        {"name": "text", "query": '"ok"', "op": "==", "threshold": 1},
    ])
    outcome = run_check(checks.test_promql_expectations_critical, target)
    assert outcome.status == "broken", outcome
    lines = outcome.message.splitlines()
    assert lines[0] == "3 of 3 PromQL expectation(s) could not be evaluated:"
    assert lines[1].startswith("- range: up[1m] could not be evaluated: the query returns a range vector (matrix)")
    assert lines[2].startswith("- typo: sum(up could not be evaluated: Prometheus refused the query (HTTP 400): "
                               "bad_data: ")
    assert lines[3] == '- text: "ok" could not be evaluated: the query returns a string; expectations compare numbers'


def test_a_failure_is_reported_with_the_unevaluated_ones(stack):
    target = prometheus(stack, expectations=[quality(threshold=2.0), {"name": "range", "query": "up[1m]", "op": "==",
                                                                        "threshold": 1}])
    outcome = run_check(checks.test_promql_expectations_critical, target)
    assert outcome.status == "failed"
    assert outcome.message.startswith("prometheus:test: 1 of 2 PromQL expectation(s) failed (1 could not be evaluated)")


def test_missing_alert_rule_is_listed(stack):
    target = prometheus(stack, expect_rules=["ServiceDown", "AIQualityScoreLow", "NoSuchAlert", "AlsoMissing"])
    outcome = run_check(checks.test_alert_rules_loaded, target)
    assert outcome.status == "failed"
    assert outcome.message.splitlines()[0] == (
        "prometheus:test: 2 of 4 expected alert rule(s) not loaded: NoSuchAlert, AlsoMissing")
    assert run_check(checks.test_alert_rules_loaded, prometheus(stack)).status == "skipped"


def test_unreachable_prometheus_is_broken_once(stack):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = make_target("prometheus", {"url": f"http://127.0.0.1:{port}"})
    outcome = run_check(checks.test_prometheus_ready, target)
    assert outcome.status == "broken"
    assert isinstance(outcome.exception, Unreachable)
    assert f"GET http://127.0.0.1:{port}/-/ready failed: ConnectError" in outcome.message
    attempts = target.connect_attempts
    assert run_check(checks.test_scrape_targets_up, target).status == "broken"
    assert target.connect_attempts == attempts  # the target is marked down: no second wait


# Fails at every evaluation: the outer label_replace drops the only label that told the two series apart, and a
# rule's result may not hold two series with the same labels.
BROKEN_RULE = """groups:
- name: broken
  interval: 1s
  rules:
  - record: healthgate:duplicate_labelsets
    expr: label_replace(vector(1) or label_replace(vector(1), "x", "y", "", ""), "x", "", "", "")
"""


def test_internal_failures_fail_once_a_rule_fails_to_evaluate():
    """A private Prometheus: a failing rule would leave the shared one's failure counter raised for a day."""
    import base64

    from healthgate.stack.stack import Stack

    private = Stack(components=["prometheus"]).start()
    try:
        target = make_target("prometheus", {"url": private.prometheus_url()})

        def outcome() -> Outcome:
            target.reset()
            return run_check(checks.test_internal_failures, target)

        healthy = eventually(outcome, lambda o: o.status != "skipped", 20, "Prometheus scraping itself", every_s=1)
        assert healthy.status == "passed", healthy
        encoded = base64.b64encode(BROKEN_RULE.encode()).decode()
        container = private.docker_container("prometheus")
        written = container.exec_run(
            ["sh", "-c", f"echo {encoded} | base64 -d > /etc/prometheus/rules/broken.yml"], user="root")
        assert written.exit_code == 0, written.output
        container.kill(signal="SIGHUP")  # Prometheus reloads its configuration and rule files on SIGHUP
        broken = eventually(outcome, lambda o: o.status == "failed", 30, "the failing rule counted", every_s=1)
        assert "Prometheus reported failures of its own:" in broken.message
        assert "- prometheus_rule_evaluation_failures_total" in broken.message
        assert 'rule_group="/etc/prometheus/rules/broken.yml;broken"' in broken.message
    finally:
        private.stop()

