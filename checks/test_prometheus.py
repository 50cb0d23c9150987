"""Prometheus: ready, every scrape target up, the expected alert rules loaded, PromQL expectations of the profile,
and no failures of its own storage or rule evaluation.

Every check only reads the HTTP API (GET ``/-/ready`` and ``/api/v1/*``); behind an authenticating proxy the
monitoring token needs read access to those paths and nothing else.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from healthgate import expect as expect_mod
from healthgate.check import ALL, DAILY, POST, RECOVERY, check
from healthgate.errors import AuthFailed, CheckError, Unreachable
from healthgate.expect import evidence, expect, fail, note
from healthgate.targets.prometheus.facts import (
    INTERNAL_FAILURE_COUNTERS,
    Judgement,
    format_labels,
    format_value,
    judge,
    promql_duration,
)
from healthgate.units import format_duration

if TYPE_CHECKING:
    from healthgate.targets.prometheus import PrometheusTarget

# Service discovery hands the scrape manager its first targets some seconds after start (5 s for static ones);
# until then no active target means "not yet", not "collects nothing".
DISCOVERY_WAIT_S = 60.0


@check(phases=ALL, severity="critical", runbook="prometheus-ready")
def test_prometheus_ready(prometheus: PrometheusTarget):
    """Prometheus answers 200 on /-/ready: it has loaded its configuration and storage, and the last reload of its
    configuration succeeded; a failed reload leaves it ready on the previous configuration, so /-/ready alone
    cannot tell (GET /-/ready, /api/v1/status/runtimeinfo)."""
    probe = prometheus.client.ready()
    evidence("GET /-/ready", f"HTTP {probe.status} in {format_duration(probe.elapsed)}\n{probe.text}")
    expect(prometheus, "GET /-/ready", probe.status, "==", 200,
           hint=f"answered {probe.text!r}: still replaying its WAL after a restart, or failing; see its logs")
    info = prometheus.client.runtime_info()
    evidence("GET /api/v1/status/runtimeinfo", f"reloadConfigSuccess: {str(info.reload_config_success).lower()}\n"
                                               f"lastConfigTime: {info.last_config_time}")
    expect(prometheus, "reloadConfigSuccess", info.reload_config_success, "==", True,
           hint=f"the last reload of its configuration failed: it still runs the one loaded at "
                f"{info.last_config_time}, so "
                "scrape jobs and rule files changed since are not in effect; find the error in its log "
                "(\"Error reloading config\"), check with promtool check config, then reload (POST /-/reload or "
                "SIGHUP)")


@check(phases=ALL, severity="critical", runbook="scrape-targets")
def test_scrape_targets_up(prometheus: PrometheusTarget):
    """Every active scrape target is up, as `up == 0` (alert ServiceDown) would say (GET /api/v1/targets).

    A target not scraped yet (Prometheus or its service discovery just started it) has an unknown health: the
    check could not check rather than pass while it is pending."""
    ignored = set(prometheus.settings.targets_ignore)
    targets = prometheus.client.targets()
    evidence("GET /api/v1/targets?state=active", "\n".join(t.render() for t in targets) or "(no active target)")
    if not targets:
        age = time.time() - prometheus.client.runtime_info().started_at
        if age < DISCOVERY_WAIT_S:
            raise CheckError(f"{prometheus.id} started {format_duration(max(age, 0.0))} ago and has no active scrape "
                             "target yet: service discovery hands its first targets over a few seconds after start",
                             hint="run again in a minute, or give the target `eventually: {within: 2m}`")
        fail(prometheus, "no active scrape target: Prometheus collects nothing "
                         "— check scrape_configs and service discovery")
    judged = [t for t in targets if t.job not in ignored]
    down = [t for t in judged if t.health == "down"]
    unknown = [t for t in judged if t.health not in ("up", "down")]
    if down:
        pending = f" ({len(unknown)} more not scraped yet)" if unknown else ""
        fail(prometheus, f"{len(down)} of {len(judged)} scrape target(s) down (up == 0, alert ServiceDown)"
             f"{pending}:\n"
             + "\n".join(f"- job={t.job} instance={t.instance} lastError: {t.last_error or '(none)'}"
                         for t in down)
             + "\nhint: check the service is running and its /metrics answers from the Prometheus host")
    if unknown:
        raise CheckError(f"{len(unknown)} of {len(judged)} scrape target(s) of {prometheus.id} not scraped yet, "
                         "their health is unknown: " + ", ".join(f"{t.job}/{t.instance}" for t in unknown),
                         hint="Prometheus or its service discovery started them less than a scrape interval ago: "
                              "run again after one scrape interval, or give the target `eventually: {within: 2m}`")


@check(phases=ALL, severity="warning", runbook="alert-rules",
       applies=lambda s: bool(s.expect_rules))
def test_alert_rules_loaded(prometheus: PrometheusTarget):
    """Every alert rule named in expect_rules is loaded and evaluates without error (GET /api/v1/rules)."""
    wanted = prometheus.settings.expect_rules
    if not wanted:
        pytest.skip("expect_rules is empty for this target: nothing to verify")
    rules = prometheus.client.rules()
    evidence("GET /api/v1/rules", "\n".join(f"{r.group}/{r.name} health={r.health} state={r.state}"
                                            + (f" lastError: {r.last_error}" if r.last_error else "")
                                            for r in rules) or "(no rule loaded)")
    loaded = {r.name for r in rules}
    missing = [name for name in wanted if name not in loaded]
    broken = [r for r in rules if r.name in wanted and r.health == "err"]
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(wanted)} expected alert rule(s) not loaded: {', '.join(missing)}")
    problems += [f"rule {r.group}/{r.name} fails to evaluate: {r.last_error}" for r in broken]
    if problems:
        fail(prometheus, "\n".join(problems) + "\nhint: check rule_files in prometheus.yml, run promtool check "
             "rules, then reload (POST /-/reload)")


@check(phases=ALL, severity="critical", runbook="promql-expectations",
       applies=lambda s: any(e.severity == "critical" for e in s.expectations))
def test_promql_expectations_critical(prometheus: PrometheusTarget):
    """Every PromQL expectation of severity critical holds for every series it returns (GET /api/v1/query)."""
    _expectations(prometheus, "critical")


@check(phases=ALL, severity="warning", runbook="promql-expectations",
       applies=lambda s: any(e.severity == "warning" for e in s.expectations))
def test_promql_expectations_warning(prometheus: PrometheusTarget):
    """Every PromQL expectation of severity warning holds for every series it returns (GET /api/v1/query)."""
    _expectations(prometheus, "warning")


def _expectations(prometheus, severity: str) -> None:
    __tracebackhide__ = True
    chosen = [e for e in prometheus.settings.expectations if e.severity == severity]
    if not chosen:
        pytest.skip(f"no PromQL expectation of severity {severity} for this target")
    judgements: list[Judgement] = []
    for expectation in chosen:
        try:
            result = prometheus.client.query(expectation.query)
        except CheckError as exc:
            # A refused query spoils only its own expectation; a lost server or refused token spoils them all.
            if isinstance(exc, Unreachable | AuthFailed):
                raise
            judgements.append(Judgement(expectation, "error", "", error=str(exc)))
            continue
        judgements.append(judge(expectation, result))
    evidence("PromQL expectations", "\n".join(f"[{j.status}] {j.render()}" for j in judgements))
    _record_observations(judgements)
    for warned in (j for j in judgements if j.status == "warned"):
        note(f"{warned.expectation.name}: {warned.expectation.query} returned no data (no_data: warn)")
    failed = [j for j in judgements if j.status == "failed"]
    errors = [j for j in judgements if j.status == "error"]
    if failed:
        unevaluated = f" ({len(errors)} could not be evaluated)" if errors else ""
        fail(prometheus, f"{len(failed)} of {len(chosen)} PromQL expectation(s) failed{unevaluated}:\n"
             + "\n".join(f"- {j.render()}" for j in failed + errors))
    if errors:
        raise CheckError(f"{len(errors)} of {len(chosen)} PromQL expectation(s) could not be evaluated:\n"
                         + "\n".join(f"- {j.render()}" for j in errors))


def _record_observations(judgements: list[Judgement]) -> None:
    """Expectations are judged together, so their comparisons are recorded here rather than by ``expect``."""
    record = expect_mod.current.get()
    if record is None:
        return
    for j in judgements:
        if j.status != "error":
            record.observations.append(expect_mod.Observation(
                subject=f"{j.expectation.name}: {j.expectation.query}", observed=j.observed, op=j.expectation.op,
                expected=format_value(j.expectation.threshold), passed=j.status != "failed"))


@check(phases=(DAILY,), severity="warning", runbook="internal-failures")
def test_internal_failures(prometheus: PrometheusTarget):
    """Prometheus's own failure counters (rule evaluation, notifications, TSDB compaction, WAL) did not increase
    over thresholds.internal_failures_window (default 1d); needs Prometheus to scrape itself (GET /api/v1/query).

    A counter series with a single sample so far (Prometheus, or a rule group, started less than one self-scrape
    ago) has no increase() yet; it counts from 0 since it was created, so its value is judged as the increase since
    then, with a note, rather than waiting a scrape interval or skipping a server that does scrape itself."""
    window = promql_duration(prometheus.thresholds.internal_failures_window)
    allowed = prometheus.thresholds.max_internal_failures
    lines, increased = [], []
    with_increase: set[tuple[str, str]] = set()
    for counter in INTERNAL_FAILURE_COUNTERS:
        query = f"increase({counter}[{window}])"
        for sample in prometheus.client.query(query).samples:
            with_increase.add((counter, format_labels(sample.labels)))
            lines.append(f"{query} {format_labels(sample.labels)} = {format_value(sample.value)}")
            if not sample.value <= allowed:
                increased.append(f"- {counter} {format_labels(sample.labels)} "
                                 f"(+{format_value(sample.value)} in {window}) <= {format_value(allowed)}")
    # The counters as they are now (last 5 minutes): those without an increase have a single sample in the window.
    current = prometheus.client.query("{__name__=~\"" + "|".join(INTERNAL_FAILURE_COUNTERS) + "\"}").samples
    single = []
    for sample in current:
        labels = {k: v for k, v in sample.labels.items() if k != "__name__"}
        counter = sample.labels.get("__name__", "")
        if (counter, format_labels(labels)) in with_increase:
            continue
        single.append(counter)
        lines.append(f"{counter} {format_labels(labels)} = {format_value(sample.value)} (one sample so far: the "
                     "count since it was created)")
        if not sample.value <= allowed:
            increased.append(f"- {counter} {format_labels(labels)} (+{format_value(sample.value)} since it was "
                             f"created, less than a scrape ago) <= {format_value(allowed)}")
    evidence("failure counters", "\n".join(lines) or "(no series)")
    if not with_increase and not single:
        pending = [t for t in prometheus.client.targets() if t.health == "unknown"]
        if pending:
            pytest.skip(f"no prometheus_* failure counter series yet: {len(pending)} scrape target(s) not scraped "
                        "since Prometheus started (if none of them is Prometheus itself, add a job for its own "
                        "/metrics)")
        pytest.skip("no prometheus_* failure counter series: this Prometheus does not scrape itself "
                    "(add a job for its own /metrics)")
    if single:
        note(f"{len(single)} failure counter series have a single sample so far (Prometheus or a rule group started "
             f"less than a scrape interval ago): judged by their count since they were created, not over {window}")
    if increased:
        fail(prometheus, "Prometheus reported failures of its own:\n" + "\n".join(increased)
             + "\nhint: read its logs for the failing rule, notifier or TSDB block")


# How far back the check looks for the newest data point of a stream that stopped, to tell "stopped at 10:42" from
# "never arrived"; a coarse step keeps the subquery cheap.
NEWEST_LOOKBACK = "1d"


@check(phases=(POST, RECOVERY, DAILY), severity="critical", runbook="telemetry-arriving",
       applies=lambda s: bool(s.telemetry))
def test_telemetry_arriving(prometheus: PrometheusTarget):
    """Telemetry an application sends through the OpenTelemetry Collector is arriving: for each ``telemetry``
    stream, at least min_points (default 1) data points of its selector were written within its window (default 5m)
    (GET /api/v1/query).

    Counts the samples themselves (``count_over_time``), so a series that stopped is not taken for a live one during
    Prometheus's 5-minute lookback; a selector matching nothing counts as nothing arrived, never as a pass. Choose a
    metric the application's SDK exports at every interval (a cumulative counter or a gauge), not one that appears
    only with events."""
    streams = prometheus.settings.telemetry
    if not streams:
        pytest.skip("no telemetry stream configured for this target")
    lines, missing = [], []
    for stream in streams:
        window = promql_duration(stream.window)
        query = f"sum(count_over_time({stream.selector}[{window}]))"
        try:
            samples = prometheus.client.query(query).samples
        except CheckError as exc:
            if isinstance(exc, Unreachable | AuthFailed):
                raise
            raise CheckError(f"{stream.name}: {exc}", hint="telemetry selectors must be plain series selectors, "
                                                           'e.g. ai_app_requests_total{job="ai-app"}') from None
        arrived = sum(sample.value for sample in samples)  # no series: nothing arrived
        lines.append(f"{stream.name}: {query} = {format_value(arrived)} (min {stream.min_points})")
        if arrived < stream.min_points:
            missing.append(f"- {stream.name}: {format_value(arrived)} data point(s) of {stream.selector} in the last "
                           f"{window} (min {stream.min_points}); {_newest(prometheus, stream.selector)}")
    evidence("data points per stream", "\n".join(lines))
    if missing:
        fail(prometheus, f"{len(missing)} of {len(streams)} telemetry stream(s) not arriving:\n" + "\n".join(missing))


def _newest(prometheus, selector: str) -> str:
    """How long ago the newest data point of a stream arrived, as the hint of a failure."""
    __tracebackhide__ = True
    # Exact within Prometheus's 5-minute lookback; beyond it, from a subquery with a step of a minute.
    for query, about in ((f"time() - max(timestamp({selector}))", ""),
                         (f"time() - max(max_over_time(timestamp({selector})[{NEWEST_LOOKBACK}:1m]))", "about ")):
        samples = prometheus.client.query(query).samples
        if samples:
            return (f"the newest arrived {about}{format_duration(max(samples[0].value, 0.0))} ago — the application "
                    "stopped sending or the collector stopped forwarding: check the collector's export failures "
                    "(otelcol_exporter_send_failed_*) and its log, then the application's OTLP exporter and its log")
    return (f"none in the last {NEWEST_LOOKBACK}: nothing has arrived — check the metric name and the job (the "
            "application's service.name), that the collector's metrics pipeline writes to this Prometheus, and the "
            "application's OTEL_EXPORTER_OTLP_ENDPOINT")
