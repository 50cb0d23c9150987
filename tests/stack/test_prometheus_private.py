"""Prometheus checks on a Prometheus of their own, started by the test: a fresh one (its own failure counters, with a
10 s self-scrape interval so they keep a single sample long enough to be checked in that state), and one whose
configuration reload fails."""

from __future__ import annotations

import base64
import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from checks import test_prometheus as checks
from healthgate.errors import CheckError
from healthgate.testing import make_target, run_check
from tests.polling import eventually
from tests.stack.test_prometheus_checks import BROKEN_RULE

pytestmark = pytest.mark.stack


# Prometheus scrapes itself every 10 s: after its first self-scrape its counters keep a single sample for 10 s.
FRESH_CONFIG = """global:
  scrape_interval: 10s
  evaluation_interval: 1s
rule_files: [/tmp/rules/*.yml]
scrape_configs:
- job_name: prometheus
  static_configs:
  - targets: [localhost:9090]
"""


@contextlib.contextmanager
def fresh_prometheus(rules: str = "") -> Iterator[str]:
    """A Prometheus started now with FRESH_CONFIG (and ``rules``), on its own; yields its URL."""
    with fresh_container(rules) as (url, _):
        yield url


@contextlib.contextmanager
def fresh_container(rules: str = "") -> Iterator[tuple[str, Any]]:
    """As ``fresh_prometheus``; yields its URL and its docker container."""
    from healthgate.stack.images import resolve_image
    from healthgate.stack.stack import STACK_LABEL, docker_client

    files = {"/tmp/prometheus.yml": FRESH_CONFIG} | ({"/tmp/rules/test.yml": rules} if rules else {})
    script = "mkdir -p /tmp/rules && " + " && ".join(
        f"echo {base64.b64encode(text.encode()).decode()} | base64 -d > {path}" for path, text in files.items())
    script += " && exec /bin/prometheus --config.file=/tmp/prometheus.yml --storage.tsdb.path=/tmp/data"
    container = docker_client().containers.run(
        resolve_image("prometheus"), entrypoint=["sh", "-c", script], ports={"9090/tcp": ("127.0.0.1", None)},
        labels={STACK_LABEL: f"fresh-{uuid.uuid4().hex[:8]}"}, detach=True)
    try:
        def published() -> int | None:
            container.reload()
            bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("9090/tcp") or []
            return int(bindings[0]["HostPort"]) if bindings else None

        port = eventually(published, lambda p: p is not None, 20, "Prometheus port published")
        yield f"http://127.0.0.1:{port}", container
    finally:
        container.remove(force=True, v=True)


def first_self_scrape(url: str) -> Any:
    """The target, once Prometheus has scraped itself once (its own counters have one sample)."""
    target = make_target("prometheus", {"url": url})

    def samples() -> int:
        target.reset()
        try:
            return len(target.client.query("prometheus_tsdb_wal_corruptions_total").samples)
        except CheckError:  # not listening, or not ready yet (503)
            return 0

    eventually(samples, lambda n: n > 0, 30, "Prometheus scraped itself once", every_s=0.1)
    return target


def single_sample(target, counter: str) -> bool:
    result = target.client.query(f"count_over_time({counter}[1h])")
    return bool(result.samples) and all(s.value == 1 for s in result.samples)


def test_internal_failures_on_a_fresh_prometheus_judge_the_count_since_start():
    """Right after start the counters have one sample and no increase() yet: Prometheus does scrape itself, so the
    check judges their values since start instead of skipping as if it did not."""
    with fresh_prometheus() as url:
        target = first_self_scrape(url)
        outcome = run_check(checks.test_internal_failures, target)
        assert single_sample(target, "prometheus_tsdb_wal_corruptions_total"), "the second scrape came too early"
        assert outcome.status == "passed", outcome
        assert len(outcome.record.warnings) == 1, outcome.record.warnings
        assert re.fullmatch(r"\d+ failure counter series have a single sample so far \(Prometheus or a rule group "
                            r"started less than a scrape interval ago\): judged by their count since they were "
                            r"created, not over 1d", outcome.record.warnings[0]), outcome.record.warnings


def test_internal_failures_on_a_fresh_prometheus_with_a_failing_rule_fail():
    """A rule failing from the start is counted before the second scrape: a fresh server is judged, not excused."""
    for _ in range(3):  # the first self-scrape may come before the rule's first evaluation: start again then
        with fresh_prometheus(BROKEN_RULE) as url:
            target = first_self_scrape(url)
            outcome = run_check(checks.test_internal_failures, target)
            counter = "prometheus_rule_evaluation_failures_total"
            if not single_sample(target, counter) or outcome.status == "passed":
                continue  # scraped before the rule's first evaluation, or the second scrape came too early
            assert outcome.status == "failed", outcome
            assert "Prometheus reported failures of its own:" in outcome.message
            assert f'- {counter} {{instance="localhost:9090", job="prometheus", rule_group="/tmp/rules/test.yml;' \
                   'broken"} (+' in outcome.message
            assert "since it was created, less than a scrape ago) <= 0" in outcome.message
            return
    pytest.fail("no fresh Prometheus counted a rule failure before its second self-scrape in 3 attempts")


def test_failed_configuration_reload_fails_readiness():
    """A reload of a broken prometheus.yml fails, and Prometheus stays ready on its previous configuration:
    /-/ready still answers 200, only its runtime information tells."""
    with fresh_container() as (url, container):
        target = make_target("prometheus", {"url": url})

        def ready() -> str:
            target.reset()
            return run_check(checks.test_prometheus_ready, target).status

        eventually(ready, lambda status: status == "passed", 30, "Prometheus ready")
        broken = container.exec_run(["sh", "-c", "echo 'scrape_configs: [{job_name: }' >> /tmp/prometheus.yml"])
        assert broken.exit_code == 0, broken.output
        container.kill(signal="SIGHUP")  # Prometheus reloads its configuration on SIGHUP

        def reload_failed() -> bool:
            return httpx.get(f"{url}/api/v1/status/runtimeinfo", timeout=5).json()["data"]["reloadConfigSuccess"]

        eventually(reload_failed, lambda ok: ok is False, 20, "the reload failed")
        assert httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
        target.reset()
        outcome = run_check(checks.test_prometheus_ready, target)
        assert outcome.status == "failed", outcome
        assert re.match(r"prometheus:test: reloadConfigSuccess \(False\) == True — the last reload of its "
                        r"configuration failed: it still runs the one loaded at \d{4}-\d\d-\d\dT\S+, so scrape jobs "
                        r"and rule files changed since are not in effect", outcome.message), outcome.message


def test_targets_not_scraped_yet_cannot_be_judged():
    """Right after Prometheus starts, its targets come from service discovery a few seconds later, then their health
    is unknown until their first scrape (up to one scrape interval, 10 s here): a target that is down cannot be seen
    yet, so the check could not check, rather than fail for 'no target' or pass."""
    seen = set()
    for _ in range(3):  # the first scrape may come before the check looks: start again then
        with fresh_container() as (url, _):
            prometheus = make_target("prometheus", {"url": url})

            def ready() -> int:
                try:
                    return httpx.get(f"{url}/-/ready", timeout=2).status_code
                except httpx.HTTPError:
                    return 0

            eventually(ready, lambda status: status == 200, 30, "Prometheus ready", every_s=0.05)
            def state() -> str:
                active = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
                return str(active[0]["health"]) if active else "none"

            while True:
                before = state()
                prometheus.reset()
                outcome = run_check(checks.test_scrape_targets_up, prometheus)
                after = state()
                if after not in ("none", "unknown"):
                    break  # scraped already: nothing more to see on this one
                if before != after:
                    continue  # discovery handed the target over while the check looked
                assert outcome.status == "broken", outcome
                if after == "none":
                    seen.add("no target yet")
                    assert re.fullmatch(
                        r"prometheus:test started \S+ ago and has no active scrape target yet: service discovery "
                        r"hands its first targets over a few seconds after start — run again in a minute, or give "
                        r"the target `eventually: \{within: 2m\}`", outcome.message), outcome.message
                else:
                    seen.add("not scraped yet")
                    assert outcome.message == (
                        "1 of 1 scrape target(s) of prometheus:test not scraped yet, their health is unknown: "
                        "prometheus/localhost:9090 — Prometheus or its service discovery started them less than a "
                        "scrape interval ago: run again after one scrape interval, or give the target "
                        "`eventually: {within: 2m}`")
                time.sleep(0.2)
            prometheus.reset()
            assert run_check(checks.test_scrape_targets_up, prometheus).status == "passed"
            if seen == {"no target yet", "not scraped yet"}:
                return
    pytest.fail(f"saw only {sorted(seen)} before the first scrape, in 3 fresh Prometheus servers")
