"""Which alerts of a blocking severity block the gate: only one Alertmanager reports ``suppressed`` *and* names
who suppresses it is let through; every other state, documented or not, blocks and says why."""

from __future__ import annotations

from typing import Any

import pytest

from healthgate.targets.alertmanager.facts import parse_alerts, split_alerts


def judged(state: Any, **status: Any) -> tuple[str, str]:
    """(group the alert lands in, its rendered line) for one critical alert in ``state``."""
    alert = parse_alerts([{"labels": {"alertname": "DiskFull", "severity": "critical"}, "startsAt": "t",
                           "status": {"state": state, **status}}])[0]
    split = split_alerts([alert], severities=["critical"])
    groups = {name: getattr(split, name) for name in ("blocking", "silenced", "inhibited", "muted", "other")}
    (group,) = [name for name, alerts in groups.items() if alerts]
    return group, alert.render()


@pytest.mark.parametrize(("state", "status", "group", "why"), [
    ("active", {}, "blocking", ""),
    ("unprocessed", {}, "blocking", ""),  # not yet matched against silences: the instant a deploy must not slip in
    ("active", {"silencedBy": ["s1"]}, "blocking", ""),  # contradicts itself: the state wins, fail closed
    ("suppressed", {"silencedBy": ["s1"]}, "silenced", ""),
    ("suppressed", {"inhibitedBy": ["f1"]}, "inhibited", ""),
    ("suppressed", {"mutedBy": ["weekends"]}, "muted", ""),
    ("suppressed", {}, "blocking",
     " [state 'suppressed' but no silence, inhibiting alert or time interval named; treated as firing]"),
    ("suppressed", {"silencedBy": None, "inhibitedBy": None}, "blocking",
     " [state 'suppressed' but no silence, inhibiting alert or time interval named; treated as firing]"),
    ("firing", {}, "blocking", " [state 'firing' not understood; treated as firing]"),
    ("firing", {"silencedBy": ["s1"]}, "blocking", " [state 'firing' not understood; treated as firing]"),
    (None, {}, "blocking", " [state null not understood; treated as firing]"),
    ("", {}, "blocking", " [state '' not understood; treated as firing]"),
    ("SUPPRESSED", {"silencedBy": ["s1"]}, "blocking", " [state 'SUPPRESSED' not understood; treated as firing]"),
    (["active"], {}, "blocking", " [state '[\"active\"]' not understood; treated as firing]"),
])
def test_only_an_explicitly_suppressed_alert_is_let_through(state: Any, status: dict[str, Any], group: str,
                                                            why: str) -> None:
    assert judged(state, **status) == (group, f"DiskFull (severity=critical) since t{why}")


def test_a_missing_state_blocks_too() -> None:
    (alert,) = parse_alerts([{"labels": {"alertname": "A", "severity": "critical"}, "status": {}}])
    assert split_alerts([alert], severities=["critical"]).blocking == (alert,)
    assert alert.state_doubt == "state null not understood; treated as firing"
