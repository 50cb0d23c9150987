"""What a alertmanager check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from healthgate.errors import BadResponse
from healthgate.targets._exposition import samples
from healthgate.targets._shape import listing, mapping, string_map, strings, text

# The states of API v2 (``alertStatus.state``). Anything else (``firing`` from another API version or a proxy,
# null) is not understood, and an alert in a state not understood is judged as firing: the gate fails closed.
FIRING_STATES = ("active", "unprocessed")
SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Alert:
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str | None  # active | suppressed | unprocessed, or whatever else the server said
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    starts_at: str
    fingerprint: str
    muted_by: tuple[str, ...] = ()  # active time intervals (mute_time_intervals), Alertmanager 0.25+

    @property
    def suppressed(self) -> bool:
        """Let through only when the API says so twice: state ``suppressed`` and who suppresses it."""
        return self.state == SUPPRESSED and bool(self.silenced_by or self.inhibited_by or self.muted_by)

    @property
    def state_doubt(self) -> str:
        """Why an alert counts as firing although its state does not say ``active``, or ``""``."""
        if self.state in FIRING_STATES:
            return ""
        if self.state == SUPPRESSED and not self.suppressed:
            return "state 'suppressed' but no silence, inhibiting alert or time interval named; treated as firing"
        shown = "null" if self.state is None else repr(self.state)
        return f"state {shown} not understood; treated as firing"

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "(no alertname)")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description") or ""

    def render(self, severity_label: str = "severity") -> str:
        others = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items())
                           if k not in ("alertname", severity_label))
        line = f"{self.name} ({severity_label}={self.labels.get(severity_label, '?')}) since {self.starts_at}"
        line += f" {{{others}}}" if others else ""
        line += f": {self.summary}" if self.summary else ""
        return line + (f" [{self.state_doubt}]" if self.state_doubt and not self.suppressed else "")


@dataclass(frozen=True)
class Silence:
    id: str
    state: str  # active | pending | expired
    matchers: tuple[str, ...]
    created_by: str
    comment: str
    ends_at: str

    def render(self) -> str:
        return (f"{self.id} {{{', '.join(self.matchers)}}} by {self.created_by} until {self.ends_at}"
                + (f": {self.comment}" if self.comment else ""))


@dataclass(frozen=True)
class AlertSplit:
    blocking: tuple[Alert, ...]  # firing, not silenced or inhibited, blocking severity
    silenced: tuple[Alert, ...]  # blocking severity but silenced (shown as evidence, never blocking)
    inhibited: tuple[Alert, ...]  # blocking severity but inhibited by another alert
    other: tuple[Alert, ...]  # every other active alert
    muted: tuple[Alert, ...] = ()  # blocking severity but muted by an active time interval


def parse_alerts(payload: Any, where: str = "/api/v2/alerts") -> list[Alert]:
    """``/api/v2/alerts`` answer (a JSON list of ``gettableAlert``) → alerts."""
    alerts = []
    for item in listing(payload, where, "the answer"):
        item = mapping(item, where, "an alert")
        labels = mapping(item.get("labels"), where, "labels of an alert")
        status = mapping(item.get("status"), where, "status of an alert")
        state = status.get("state")
        alerts.append(Alert(
            labels=string_map(labels, where, "labels"),
            annotations=string_map(item.get("annotations"), where, "annotations"),
            state=state if isinstance(state, str) or state is None else shown_state(state),
            silenced_by=strings(status.get("silencedBy"), where, "status.silencedBy"),
            inhibited_by=strings(status.get("inhibitedBy"), where, "status.inhibitedBy"),
            muted_by=strings(status.get("mutedBy"), where, "status.mutedBy"),
            starts_at=str(item.get("startsAt", "")),
            fingerprint=str(item.get("fingerprint", "")),
        ))
    return alerts


def shown_state(state: Any) -> str:
    """A state that is not even a string is kept as its JSON text, so it is judged (as firing) and shown."""
    return json.dumps(state)[:40]


def render_matcher(matcher: Mapping[str, Any]) -> str:
    equal = matcher.get("isEqual", True)
    op = ("=~" if equal else "!~") if matcher.get("isRegex") else ("=" if equal else "!=")
    return f'{matcher.get("name")}{op}"{matcher.get("value")}"'


def parse_silences(payload: Any, where: str = "/api/v2/silences") -> list[Silence]:
    """``/api/v2/silences`` answer → silences (every state; callers keep the active ones)."""
    silences = []
    for item in listing(payload, where, "the answer"):
        item = mapping(item, where, "a silence")
        listed = listing(item.get("matchers"), where, "matchers", optional=True)
        matchers = [mapping(m, where, "a matcher") for m in listed]
        silences.append(Silence(
            id=text(item.get("id"), where, "id of a silence"),
            state=str(mapping(item.get("status"), where, "status of a silence", optional=True).get("state", "")),
            matchers=tuple(render_matcher(m) for m in matchers),
            created_by=str(item.get("createdBy", "")),
            comment=str(item.get("comment", "")),
            ends_at=str(item.get("endsAt", "")),
        ))
    return silences


def split_alerts(alerts: Sequence[Alert], *, severities: Sequence[str], severity_label: str = "severity",
                 ignore: Sequence[str] = ()) -> AlertSplit:
    """Sort active alerts by whether they block a deployment. Fails closed: of the alerts of a blocking severity,
    only one the API reports ``suppressed`` *and* names a silence, inhibiting alert or time interval for is let
    through. ``unprocessed`` (just arrived, not yet matched against silences) blocks, and so does a state not
    understood (``firing``, null) or a ``suppressed`` without anyone suppressing it.
    """
    blocking, silenced, inhibited, muted, other = [], [], [], [], []
    for alert in alerts:
        if alert.labels.get(severity_label) not in severities or alert.name in ignore:
            other.append(alert)
        elif not alert.suppressed:
            blocking.append(alert)
        elif alert.silenced_by:
            silenced.append(alert)
        elif alert.inhibited_by:
            inhibited.append(alert)
        else:
            muted.append(alert)
    return AlertSplit(tuple(blocking), tuple(silenced), tuple(inhibited), tuple(other), tuple(muted))


# Alertmanager's own counters of deliveries, per integration (email, webhook, pagerduty, …), since its start. A
# notification is one message to one integration of a receiver; it is retried (requests) with a back-off until its
# group's next flush, and counted failed when it gives up. 0.27 adds a ``reason`` label to the failed counters;
# they are summed per integration.
DELIVERY_COUNTERS = {
    "alertmanager_notifications_total": "notifications",
    "alertmanager_notifications_failed_total": "failed",
    "alertmanager_notification_requests_total": "requests",
    "alertmanager_notification_requests_failed_total": "requests_failed",
}


@dataclass(frozen=True)
class Delivery:
    """One integration's counters: ``notifications`` attempted and ``failed`` (given up after retries), and the
    ``requests`` behind them (every try) and ``requests_failed``."""

    integration: str
    notifications: float = 0.0
    failed: float = 0.0
    requests: float = 0.0
    requests_failed: float = 0.0

    @property
    def failures(self) -> float:
        """Failed requests, or failed notifications where a version serves no request counters: the larger."""
        return max(self.failed, self.requests_failed)

    def render(self) -> str:
        return (f"{self.integration}: {self.notifications:g} notification(s), {self.failed:g} failed; "
                f"{self.requests:g} request(s), {self.requests_failed:g} failed")


@dataclass(frozen=True)
class Deliveries:
    """What GET /metrics says of notifications: per integration, and when the process started (if served)."""

    by_integration: Mapping[str, Delivery]
    started_at: float | None
    series: tuple[str, ...]  # the samples read, as served, for evidence

    @property
    def attempted(self) -> float:
        return sum(d.notifications + d.requests for d in self.by_integration.values())

    @property
    def failing(self) -> list[Delivery]:
        return [d for d in self.by_integration.values() if d.failures > 0]

    def increase(self, later: Deliveries) -> tuple[Deliveries, bool]:
        """What ``later`` counted since this read, and whether a counter went down: the process restarted in
        between, and everything ``later`` counts happened since (as PromQL's ``increase`` reads a reset)."""
        reset = False
        grown = {}
        for name, now in later.by_integration.items():
            before = self.by_integration.get(name, Delivery(name))
            deltas = {field: getattr(now, field) - getattr(before, field) for field in DELIVERY_COUNTERS.values()}
            if any(d < 0 for d in deltas.values()):
                reset = True
                grown[name] = now
            else:
                grown[name] = Delivery(name, **deltas)
        return Deliveries(grown, later.started_at, later.series), reset


def parse_deliveries(text: str, where: str = "GET /metrics") -> Deliveries:
    """Alertmanager's ``/metrics`` (text format) → its delivery counters. An answer without a single
    ``alertmanager_*`` sample is not Alertmanager's metrics (a proxy's page, another server): ``BadResponse``.
    Alertmanager 0.25 and 0.27 serve every counter at 0 from the start; a version that creates them with the first
    notification serves none before it, which is read as nothing attempted."""
    counters: dict[str, dict[str, float]] = {}
    started_at = None
    ours = False
    series = []
    for sample in samples(text):
        ours = ours or sample.name.startswith("alertmanager_")
        if sample.name == "process_start_time_seconds":
            started_at = sample.value
        field = DELIVERY_COUNTERS.get(sample.name)
        if field is None:
            continue
        integration = sample.labels.get("integration", "(no integration label)")
        values = counters.setdefault(integration, {})
        values[field] = values.get(field, 0.0) + sample.value
        series.append(f"{sample.series} {sample.value:g}")
    if not ours:
        raise BadResponse(f"{where} serves no alertmanager_* metric",
                          hint="is the URL Alertmanager's own (it serves /metrics on its web port), not a proxy's?")
    return Deliveries({name: Delivery(name, **values) for name, values in sorted(counters.items())}, started_at,
                      tuple(series))
