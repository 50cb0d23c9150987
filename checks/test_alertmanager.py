"""Alertmanager: healthy and ready, delivering its notifications, and no unsilenced alert of a blocking severity
firing.

Every check only reads (GET ``/-/healthy``, ``/-/ready``, ``/api/v2/alerts``, ``/api/v2/silences``,
``/api/v2/status``, ``/metrics``); behind an authenticating proxy the monitoring token needs read access to those
paths and nothing else.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from healthgate.check import ALL, DAILY, POST, RECOVERY, check
from healthgate.errors import CheckError
from healthgate.expect import evidence, expect, fail, note
from healthgate.targets.alertmanager.facts import split_alerts
from healthgate.units import format_duration

if TYPE_CHECKING:
    from healthgate.targets.alertmanager import AlertmanagerTarget
    from healthgate.targets.alertmanager.facts import Deliveries


@check(phases=ALL, severity="critical", runbook="alertmanager-health")
def test_alertmanager_healthy(alertmanager: AlertmanagerTarget):
    """Alertmanager answers 200 on /-/healthy and on /-/ready (GET /-/healthy, /-/ready)."""
    healthy = alertmanager.client.healthy()
    ready = alertmanager.client.ready()
    evidence("health endpoints", "\n".join(f"GET {p.path}: HTTP {p.status} in {format_duration(p.elapsed)} "
                                           f"{p.text!r}" for p in (healthy, ready)))
    expect(alertmanager, "GET /-/healthy", healthy.status, "==", 200,
           hint=f"answered {healthy.text!r}: the process is failing; read its logs")
    expect(alertmanager, "GET /-/ready", ready.status, "==", 200,
           hint=f"answered {ready.text!r}: still loading its configuration or joining its cluster peers")


@check(phases=(POST, RECOVERY, DAILY), severity="critical", runbook="notifications-delivered")
def test_notifications_delivered(alertmanager: AlertmanagerTarget):
    """No notification to a receiver failed lately, by Alertmanager's own delivery counters (GET /metrics): its
    health endpoints answer 200 while every page it sends is refused.

    Per integration, ``alertmanager_notification_requests_failed_total`` counts every failed try and
    ``alertmanager_notifications_failed_total`` every notification given up after its retries. They count since
    the process started, and a failure of last month must not fail today's gate, so the window is two reads
    ``notification_window`` apart (default 90s), taken only when a failure was counted since the start: a receiver
    still failing while it has something to deliver is retried at most about a minute apart (Alertmanager's
    back-off), so its counter grows within the window. With no failure since the start the check judges at once
    and costs no wait. Not PromQL's ``increase(...[1h])``: that needs a Prometheus scraping this Alertmanager,
    which a target of this kind cannot assume; nor the previous run's reading, which the gate does not keep.
    ``notification_window: 0s`` fails on any failure since the start, without waiting. A counter that went down
    between the reads means a restart: what it counts since happened within the window. Alertmanager 0.25 and 0.27
    serve every integration's counters at 0 from the start; no such series at all means nothing attempted yet (a
    pass, with a note); an answer without any ``alertmanager_*`` metric could not be checked."""
    window = alertmanager.settings.notification_window
    first = alertmanager.client.deliveries()
    evidence("delivery counters since the start (GET /metrics)", _counted(first))
    started = ("started" if first.started_at is None
               else f"started {format_duration(max(time.time() - first.started_at, 0.0))} ago")
    if not first.by_integration:
        note(f"no alertmanager_notifications_* series: no notification attempted since Alertmanager {started}")
        return
    if not first.failing:
        sent = ", ".join(f"{d.integration} {d.notifications:g}" for d in first.by_integration.values()
                         if d.notifications) or "none attempted"
        note(f"no notification failed since Alertmanager {started}; notifications: {sent}")
        return
    judged, subject = first, f"failed notification requests since Alertmanager {started}"
    if window > 0:
        time.sleep(window)
        second = alertmanager.client.deliveries()
        judged, restarted = first.increase(second)
        evidence(f"delivery counters {format_duration(window)} later", _counted(second))
        subject = f"failed notification requests in {format_duration(window)}" + (
            " (Alertmanager restarted in between: counted since)" if restarted else "")
    failing = judged.failing
    total = sum(d.failures for d in failing)
    if not failing:
        earlier = "; ".join(f"{d.integration} {d.failures:g} failed requests" for d in first.failing)
        note(f"notifications failed earlier, none within the window: {earlier} since Alertmanager {started} "
             "(its log says which receiver and why)")
    expect(alertmanager, subject, total, "==", 0,
           hint="; ".join(f"{d.integration}: {d.requests_failed:g} of {d.requests:g} requests failed, "
                          f"{d.failed:g} of {d.notifications:g} notifications given up" for d in failing)
                + " — pages are not reaching their receivers: check that each receiver's endpoint is reachable "
                  "from Alertmanager (URL, DNS, port, credentials, SMTP relay), validate the file with "
                  "`amtool check-config`, and read its log (`Notify for alerts failed` names the receiver)")


def _counted(deliveries: Deliveries) -> str:
    """The counters that counted something: every integration's series is served, most of them at 0."""
    counted = [line for line in deliveries.series if not line.endswith(" 0")]
    return "\n".join(counted) or f"{len(deliveries.series)} series, all 0"


@check(phases=ALL, severity="critical", runbook="blocking-alerts")
def test_no_blocking_alerts(alertmanager: AlertmanagerTarget):
    """No active alert of a blocking severity (default: critical) is firing unsilenced and uninhibited: a
    deployment must not start, nor a recovery be declared, during an incident (GET /api/v2/alerts, /silences).

    Fails closed: only an alert Alertmanager reports ``suppressed`` by a named silence, inhibiting alert or time
    interval is let through; a state it does not document (``firing``, null) counts as firing. Alertmanager keeps
    no alert across a restart, and Prometheus re-sends firing ones only every minute: within resend_wait (default
    2m) of its start an empty list proves nothing, and the check could not check (GET /api/v2/status)."""
    settings = alertmanager.settings
    alerts = alertmanager.client.alerts(settings.filter)
    split = split_alerts(alerts, severities=settings.blocking_severities, severity_label=settings.severity_label,
                         ignore=settings.ignore_alerts)
    silences = [s for s in alertmanager.client.silences() if s.state == "active"]
    label = settings.severity_label

    def listing(group):
        return "\n".join(a.render(label) for a in group) or "(none)"

    scope = f" matching {', '.join(settings.filter)}" if settings.filter else ""
    evidence(f"blocking alerts ({label} in {', '.join(settings.blocking_severities)}{scope})",
             listing(split.blocking))
    evidence("silenced or inhibited alerts of a blocking severity",
             "silenced:\n" + listing(split.silenced) + "\ninhibited:\n" + listing(split.inhibited)
             + "\nmuted by a time interval:\n" + listing(split.muted))
    evidence("active silences", "\n".join(s.render() for s in silences) or "(none)")
    evidence("other active alerts", listing(split.other))
    if split.silenced:
        note(f"{len(split.silenced)} alert(s) of a blocking severity silenced: "
             + "; ".join(f"{a.name} by silence {', '.join(a.silenced_by)}" for a in split.silenced))
    if split.blocking:
        fail(alertmanager, f"{len(split.blocking)} alert(s) of {label} {'/'.join(settings.blocking_severities)} "
             "firing, not silenced:\n" + "\n".join(f"- {a.render(label)}" for a in split.blocking)
             + "\nhint: resolve the incident first; a known, handled alert gets a silence with a comment "
             "(amtool silence add), which this gate then lists as evidence")
    # Alertmanager keeps no alert across a restart: until Prometheus re-sends them, "none firing" proves nothing.
    wait = settings.resend_wait
    age = time.time() - alertmanager.client.started_at() if wait > 0 else wait
    if age < wait:
        raise CheckError(f"{alertmanager.id} started {format_duration(max(age, 0.0))} ago and keeps no alert across "
                         "a restart: alerts firing before it are listed again only once Prometheus re-sends them "
                         "(every --rules.alert.resend-delay, 1m by default), so finding none proves nothing yet",
                         hint=f"run again in {format_duration(wait - age)}, or give this target "
                              f"`eventually: {{within: {format_duration(wait + 60)}}}`; set resend_wait: 0s only "
                              "where nothing can have fired before its start")
