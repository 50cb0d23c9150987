"""Alertmanager checks against the stack's Alertmanager, with alerts posted as Prometheus would post them."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from checks import test_alertmanager as checks
from healthgate.errors import Unreachable
from healthgate.stack.stack import Stack
from healthgate.testing import Outcome, make_target, run_check

pytestmark = pytest.mark.stack

POLL_S = 20.0
SILENCED = "silenced or inhibited alerts of a blocking severity"


def alertmanager(stack, **settings: Any):
    # The shared stack's Alertmanager starts with the run, so nothing fired before it: no resend wait.
    return make_target("alertmanager", {"url": stack.alertmanager_url(), "resend_wait": "0s", **settings})


def until(target, status: str, accept: Callable[[Outcome], bool] = lambda _: True,
          timeout: float = POLL_S) -> Outcome:
    """Run the gate until it reaches ``status`` and ``accept`` agrees, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        target.reset()
        outcome = run_check(checks.test_no_blocking_alerts, target)
        if (outcome.status == status and accept(outcome)) or time.monotonic() > deadline:
            return outcome
        time.sleep(0.3)


def fire(stack, name: str, severity: str, **annotations: str) -> dict[str, str]:
    return stack.fire_alert(name, severity, annotations=annotations)


def resolve(stack, labels: dict[str, str]) -> None:
    """End this test's alert only: ``stack.resolve_alerts()`` would end those of tests running alongside."""
    ended = datetime.now(UTC).isoformat()
    httpx.post(f"{stack.alertmanager_url()}/api/v2/alerts", timeout=5,
               json=[{"labels": labels, "startsAt": ended, "endsAt": ended}]).raise_for_status()


def silence(stack, alertname: str) -> str:
    now = datetime.now(UTC)
    response = httpx.post(f"{stack.alertmanager_url()}/api/v2/silences", timeout=5, json={
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat(),
        "createdBy": "healthgate self-test", "comment": "known incident, handled",
    })
    response.raise_for_status()
    return str(response.json()["silenceID"])


def expire(stack, silence_id: str) -> None:
    httpx.delete(f"{stack.alertmanager_url()}/api/v2/silence/{silence_id}", timeout=5).raise_for_status()


def test_healthy_alertmanager_passes(stack):
    target = alertmanager(stack)
    assert run_check(checks.test_alertmanager_healthy, target).status == "passed"
    assert until(target, "passed").status == "passed"


def test_firing_critical_alert_blocks_until_silenced(stack):
    name = f"SelfTestIncident{uuid.uuid4().hex[:6]}"
    target = alertmanager(stack)
    silence_id = None
    labels = fire(stack, name, "critical", summary="checkout is down")
    try:
        outcome = until(target, "failed", lambda o: name in o.message)
        assert outcome.status == "failed", outcome
        assert "alert(s) of severity critical firing, not silenced:" in outcome.message
        assert f"- {name} (severity=critical) since " in outcome.message
        assert ": checkout is down" in outcome.message

        silence_id = silence(stack, name)
        outcome = until(target, "passed", lambda o: name in dict(o.record.evidence)[SILENCED])
        assert outcome.status == "passed", outcome
        evidence = dict(outcome.record.evidence)
        assert f'{silence_id} {{alertname="{name}"}} by healthgate self-test until ' in evidence["active silences"]
        assert f"{name} (severity=critical) since " in evidence[SILENCED]
        assert any(name in w and silence_id in w for w in outcome.record.warnings)
    finally:
        if silence_id:
            expire(stack, silence_id)
        resolve(stack, labels)
    assert until(target, "passed", lambda o: name not in str(o.record.evidence)).status == "passed"


def test_blocking_severities_are_configurable(stack):
    name = f"SelfTestWarning{uuid.uuid4().hex[:6]}"
    # Other self-tests may fire warnings of their own: the filter keeps this test about its alert alone.
    scope = {"filter": [f'alertname="{name}"']}
    labels = fire(stack, name, "warning")
    try:
        strict = alertmanager(stack, blocking_severities=["critical", "warning"], **scope)
        outcome = until(strict, "failed")
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith(f"alertmanager:test: 1 alert(s) of severity critical/warning firing, "
                                          f"not silenced:\n- {name} (severity=warning) since ")
        assert run_check(checks.test_no_blocking_alerts, alertmanager(stack, **scope)).status == "passed"
        ignoring = alertmanager(stack, blocking_severities=["warning"], ignore_alerts=[name], **scope)
        assert run_check(checks.test_no_blocking_alerts, ignoring).status == "passed"
    finally:
        resolve(stack, labels)


def test_stopped_alertmanager_is_broken_unreachable():
    # A private Alertmanager: stopping the shared one would fail the checks other workers run meanwhile.
    private = Stack(components=["alertmanager"]).start()
    try:
        target = make_target("alertmanager", {"url": private.alertmanager_url()})
        assert run_check(checks.test_alertmanager_healthy, target).status == "passed"
        target.reset()
        private.stop_component("alertmanager")
        outcome = run_check(checks.test_alertmanager_healthy, target)
        assert outcome.status == "broken", outcome
        assert isinstance(outcome.exception, Unreachable)
        assert f"GET {private.alertmanager_url()}/-/healthy failed: ConnectError" in outcome.message
        attempts = target.connect_attempts
        assert run_check(checks.test_no_blocking_alerts, target).status == "broken"
        assert target.connect_attempts == attempts  # marked down: the second check does not wait again
    finally:
        private.stop()


def test_restarted_alertmanager_cannot_vouch_for_an_empty_alert_list():
    """Alertmanager forgets its alerts when it restarts, until Prometheus re-sends them (every minute): right after
    a restart, during an incident, the list is empty. A private one, so the shared one keeps its alerts."""
    private = Stack(components=["alertmanager"]).start()
    try:
        url = private.alertmanager_url()
        name = f"SelfTestIncident{uuid.uuid4().hex[:6]}"
        private.fire_alert(name, "critical", annotations={"summary": "checkout is down"})
        target = make_target("alertmanager", {"url": url})
        before = run_check(checks.test_no_blocking_alerts, target)
        assert before.status == "failed", before
        assert f"- {name} (severity=critical) since " in before.message

        private.stop_component("alertmanager")
        private.start_component("alertmanager")
        assert httpx.get(f"{url}/api/v2/alerts", timeout=5).json() == [], "the restart kept the alert"
        target.reset()
        outcome = run_check(checks.test_no_blocking_alerts, target)
        assert outcome.status == "broken", outcome
        assert re.match(r"alertmanager:test started \S+ ago and keeps no alert across a restart: alerts "
                        r"firing before it are listed again only once Prometheus re-sends them \(every "
                        r"--rules\.alert\.resend-delay, 1m by default\), so finding none proves nothing yet — "
                        r"run again in \S+, or give this target `eventually: \{within: 3m\}`", outcome.message), \
            outcome.message
        told = make_target("alertmanager", {"url": url, "resend_wait": "0s"})
        assert run_check(checks.test_no_blocking_alerts, told).status == "passed"
        private.fire_alert(name, "critical")  # Prometheus re-sends it
        target.reset()
        assert run_check(checks.test_no_blocking_alerts, target).status == "failed"
    finally:
        private.stop()
