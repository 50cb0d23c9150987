"""What a alertmanager check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from healthgate.errors import BadResponse


@dataclass(frozen=True)
class Alert:
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str  # active | suppressed | unprocessed
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    starts_at: str
    fingerprint: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "(no alertname)")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description") or ""

    def render(self, severity_label: str = "severity") -> str:
        others = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items())
                           if k not in ("alertname", severity_label))
        text = f"{self.name} ({severity_label}={self.labels.get(severity_label, '?')}) since {self.starts_at}"
        text += f" {{{others}}}" if others else ""
        return text + (f": {self.summary}" if self.summary else "")


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


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def parse_alerts(payload: Any) -> list[Alert]:
    """``/api/v2/alerts`` answer (a JSON list) → alerts."""
    if not isinstance(payload, list):
        raise BadResponse(f"/api/v2/alerts: expected a list, got {str(payload)[:200]!r}")
    alerts = []
    for item in payload:
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            raise BadResponse(f"/api/v2/alerts: malformed alert {str(item)[:200]!r}")
        status = item.get("status")
        if not isinstance(status, dict):
            status = {}
        alerts.append(Alert(
            labels={str(k): str(v) for k, v in item["labels"].items()},
            annotations={str(k): str(v) for k, v in (item.get("annotations") or {}).items()},
            state=str(status.get("state", "unprocessed")),
            silenced_by=_strings(status.get("silencedBy")),
            inhibited_by=_strings(status.get("inhibitedBy")),
            starts_at=str(item.get("startsAt", "")),
            fingerprint=str(item.get("fingerprint", "")),
        ))
    return alerts


def render_matcher(matcher: Mapping[str, Any]) -> str:
    equal = matcher.get("isEqual", True)
    op = ("=~" if equal else "!~") if matcher.get("isRegex") else ("=" if equal else "!=")
    return f'{matcher.get("name")}{op}"{matcher.get("value")}"'


def parse_silences(payload: Any) -> list[Silence]:
    """``/api/v2/silences`` answer → silences (every state; callers keep the active ones)."""
    if not isinstance(payload, list):
        raise BadResponse(f"/api/v2/silences: expected a list, got {str(payload)[:200]!r}")
    try:
        return [
            Silence(
                id=str(s["id"]),
                state=str((s.get("status") or {}).get("state", "")),
                matchers=tuple(render_matcher(m) for m in s.get("matchers") or ()),
                created_by=str(s.get("createdBy", "")),
                comment=str(s.get("comment", "")),
                ends_at=str(s.get("endsAt", "")),
            )
            for s in payload
        ]
    except (TypeError, KeyError, AttributeError):
        raise BadResponse(f"/api/v2/silences: unexpected answer {str(payload)[:200]!r}") from None


def split_alerts(alerts: Sequence[Alert], *, severities: Sequence[str], severity_label: str = "severity",
                 ignore: Sequence[str] = ()) -> AlertSplit:
    """Sort active alerts by whether they block a deployment.

    An ``unprocessed`` alert has just arrived and Alertmanager has not matched it against silences yet: it counts
    as firing, because the gate must not let a deployment slip through in that instant.
    """
    blocking, silenced, inhibited, other = [], [], [], []
    for alert in alerts:
        if alert.labels.get(severity_label) not in severities or alert.name in ignore:
            other.append(alert)
        elif alert.silenced_by:
            silenced.append(alert)
        elif alert.inhibited_by:
            inhibited.append(alert)
        elif alert.state in ("active", "unprocessed"):
            blocking.append(alert)
        else:
            other.append(alert)
    return AlertSplit(tuple(blocking), tuple(silenced), tuple(inhibited), tuple(other))
