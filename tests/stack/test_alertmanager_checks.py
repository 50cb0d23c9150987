"""Alertmanager checks against the stack's Alertmanager, with alerts posted as Prometheus would post them."""

from __future__ import annotations

import io
import re
import tarfile
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


# A private Alertmanager's configuration: one route, short waits so a notification is tried within a second.
RECEIVER_CONFIG = """\
route:
  receiver: pager
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: pager
{integrations}
"""
# The reference application answers a POST on /admin/reset with 200 (it clears faults it has none of): a receiver
# that works, in the private stack's network.
WORKING_WEBHOOK = "    webhook_configs: [{url: 'http://refapp:8000/admin/reset', send_resolved: false}]"
# Port 1 of the Alertmanager container, inside the stack's network: nothing listens, the connection is refused.
DEAD_WEBHOOK = "    webhook_configs: [{url: 'http://alertmanager:1/page', send_resolved: false}]"
WINDOW = "10s"  # the receiver's failures recur every few seconds with these waits
FAILING = re.compile(
    r"alertmanager:test: failed notification requests in 10s \((\d+)\) == 0 — webhook: (\d+) of (\d+) requests "
    r"failed, (\d+) of (\d+) notifications given up — pages are not reaching their receivers: check that each "
    r"receiver's endpoint is reachable from Alertmanager \(URL, DNS, port, credentials, SMTP relay\), validate the "
    r"file with `amtool check-config`, and read its log \(`Notify for alerts failed` names the receiver\)$")


def reconfigure(private: Stack, integrations: str) -> None:
    """Replace a private Alertmanager's configuration and reload it, as an operator's edit would."""
    config = RECEIVER_CONFIG.format(integrations=integrations).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("alertmanager.yml")
        info.size, info.mode = len(config), 0o644
        tar.addfile(info, io.BytesIO(config))
    assert private.docker_container("alertmanager").put_archive("/etc/alertmanager", archive.getvalue())
    httpx.post(f"{private.alertmanager_url()}/-/reload", timeout=5).raise_for_status()


def webhook_counter(private: Stack, name: str) -> float:
    text = httpx.get(f"{private.alertmanager_url()}/metrics", timeout=5).text
    (value,) = re.findall(rf'^{name}{{integration="webhook"[^}}]*}} (\S+)$', text, re.MULTILINE)
    return float(value)


def wait_for_counter(private: Stack, name: str, above: float, timeout: float = 40.0) -> float:
    deadline = time.monotonic() + timeout
    while (value := webhook_counter(private, name)) <= above and time.monotonic() < deadline:
        time.sleep(0.5)
    assert value > above, f"{name} stayed at {value:g} for {timeout:g}s"
    return value


def test_notifications_delivered_until_the_receiver_is_unreachable():
    """Alertmanager answers 200 on /-/healthy and /-/ready, and its other checks pass, while every page it sends to
    a receiver is refused: only its own delivery counters tell. A private one, reconfigured by the test."""
    private = Stack(components=["alertmanager", "refapp"]).start()
    try:
        target = make_target("alertmanager", {"url": private.alertmanager_url(), "resend_wait": "0s",
                                              "notification_window": WINDOW})
        fresh = run_check(checks.test_notifications_delivered, target)
        assert fresh.status == "passed", fresh
        assert fresh.record.warnings[0].startswith("no notification failed since Alertmanager started"), fresh.record

        reconfigure(private, WORKING_WEBHOOK)
        private.fire_alert(f"SelfTestDelivered{uuid.uuid4().hex[:6]}", "warning")
        wait_for_counter(private, "alertmanager_notifications_total", 0)
        target.reset()
        delivered = run_check(checks.test_notifications_delivered, target)
        assert delivered.status == "passed", delivered
        assert re.match(r"no notification failed since Alertmanager started \S+ ago; notifications: webhook 1$",
                        delivered.record.warnings[0]), delivered.record.warnings

        reconfigure(private, DEAD_WEBHOOK)
        private.fire_alert(f"SelfTestUndelivered{uuid.uuid4().hex[:6]}", "warning")
        wait_for_counter(private, "alertmanager_notifications_failed_total", 0)
        # What the suite saw before: healthy, ready, nothing blocking; the pages are lost all the same.
        for existing in (checks.test_alertmanager_healthy, checks.test_no_blocking_alerts):
            target.reset()
            assert run_check(existing, target).status == "passed", existing.__name__
        target.reset()
        failing = run_check(checks.test_notifications_delivered, target)
        assert failing.status == "failed", failing
        match = FAILING.match(failing.message)
        assert match, failing.message
        observed, requests_failed, requests = (int(g) for g in match.group(1, 2, 3))
        assert observed == requests_failed == requests > 0  # every try in the window refused
        at_once = make_target("alertmanager", {"url": private.alertmanager_url(), "notification_window": "0s"})
        since_start = run_check(checks.test_notifications_delivered, at_once)
        assert since_start.status == "failed", since_start
        assert re.match(r"alertmanager:test: failed notification requests since Alertmanager started \S+ ago "
                        r"\(\d+\) == 0 — webhook: ", since_start.message), since_start.message

        # Repaired: the receiver now has nothing that can fail; the failures of before are history, not a failure.
        reconfigure(private, "")
        time.sleep(2)  # the retry under way ends with the reload
        target.reset()
        repaired = run_check(checks.test_notifications_delivered, target)
        assert repaired.status == "passed", repaired
        assert re.match(r"notifications failed earlier, none within the window: webhook \d+ failed requests since "
                        r"Alertmanager started \S+ ago \(its log says which receiver and why\)$",
                        repaired.record.warnings[0]), repaired.record.warnings
    finally:
        private.stop()


def test_shared_alertmanager_delivers_its_notifications(stack):
    # The shared stack's receiver has no integration: nothing is ever attempted, so nothing can have failed.
    outcome = run_check(checks.test_notifications_delivered, alertmanager(stack))
    assert outcome.status == "passed", outcome
    assert outcome.record.warnings[0].startswith("no notification failed since Alertmanager started"), outcome.record
