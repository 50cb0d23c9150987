"""Alertmanager: healthy and ready, and no unsilenced alert of a blocking severity firing.

Every check only reads (GET ``/-/healthy``, ``/-/ready``, ``/api/v2/alerts``, ``/api/v2/silences``,
``/api/v2/status``); behind an authenticating proxy the monitoring token needs read access to those paths and
nothing else.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from healthgate.check import ALL, check
from healthgate.errors import CheckError
from healthgate.expect import evidence, expect, fail, note
from healthgate.targets.alertmanager.facts import split_alerts
from healthgate.units import format_duration

if TYPE_CHECKING:
    from healthgate.targets.alertmanager import AlertmanagerTarget


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
