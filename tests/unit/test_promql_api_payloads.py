"""Prometheus and Alertmanager API answers (recorded from Prometheus 2.42 and Alertmanager 0.25) turned into facts,
and alerts sorted into blocking / silenced / inhibited, without a server."""

from __future__ import annotations

import pytest

from healthgate.errors import BadResponse
from healthgate.targets.alertmanager.facts import Alert, parse_alerts, parse_silences, render_matcher, split_alerts
from healthgate.targets.prometheus.facts import parse_rules, parse_targets

TARGETS = {"status": "success", "data": {"activeTargets": [
    {"discoveredLabels": {"__address__": "alertmanager:9093", "job": "alertmanager"},
     "labels": {"instance": "alertmanager:9093", "job": "alertmanager"}, "scrapePool": "alertmanager",
     "scrapeUrl": "http://alertmanager:9093/metrics", "lastError": "", "lastScrape": "2026-11-25T06:17:36.167Z",
     "health": "up"},
    {"discoveredLabels": {"__address__": "refapp:8000", "job": "refapp"},
     "labels": {"instance": "refapp:8000", "job": "refapp"}, "scrapePool": "refapp",
     "scrapeUrl": "http://refapp:8000/metrics", "lastError": "Get \"http://refapp:8000/metrics\": context deadline "
     "exceeded", "lastScrape": "2026-11-25T06:17:36.221Z", "health": "down"},
    {"labels": {}, "scrapePool": "node", "scrapeUrl": "http://node:9100/metrics", "health": "unknown"},
], "droppedTargets": []}}

RULES = {"status": "success", "data": {"groups": [
    {"name": "ai_monitoring", "file": "/etc/prometheus/rules/ai-monitoring.yml", "rules": [
        {"state": "inactive", "name": "AIQualityScoreLow", "query": "ai_response_quality_score < 0.6",
         "health": "ok", "type": "alerting", "alerts": []},
        {"state": "firing", "name": "ServiceDown", "query": "up == 0", "health": "ok", "type": "alerting"},
    ]},
    {"name": "broken", "file": "/etc/prometheus/rules/x.yml", "rules": [
        {"name": "job:up:sum", "query": "sum by (job) (up)", "health": "err", "type": "recording",
         "lastError": "vector cannot contain metrics with the same labelset"},
    ]},
]}}

ALERTS = [
    {"annotations": {"summary": "checkout is down"}, "fingerprint": "a1", "startsAt": "2026-11-25T06:17:37.044Z",
     "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
     "labels": {"alertname": "ServiceDown", "severity": "critical", "job": "refapp", "instance": "refapp:8000"}},
    {"annotations": {}, "fingerprint": "a2", "startsAt": "2026-11-25T06:17:37.044Z",
     "status": {"inhibitedBy": [], "silencedBy": ["f34657b8-da42-4a3e-a501-a270a7dc3f6b"], "state": "suppressed"},
     "labels": {"alertname": "X", "injected_by": "healthgate.stack", "severity": "critical"}},
    {"annotations": {}, "fingerprint": "a3", "startsAt": "2026-11-25T06:17:38.000Z",
     "status": {"inhibitedBy": ["a1"], "silencedBy": [], "state": "suppressed"},
     "labels": {"alertname": "HighErrorRateCritical", "severity": "critical"}},
    {"annotations": {}, "fingerprint": "a4", "startsAt": "2026-11-25T06:17:39.000Z",
     "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
     "labels": {"alertname": "AIQualityScoreLow", "severity": "warning"}},
    {"annotations": {}, "fingerprint": "a5", "startsAt": "2026-11-25T06:17:40.000Z",
     "status": {"inhibitedBy": [], "silencedBy": [], "state": "unprocessed"},
     "labels": {"alertname": "JustArrived", "severity": "critical"}},
    {"annotations": {}, "fingerprint": "a6", "startsAt": "2026-11-25T06:17:40.000Z",
     "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
     "labels": {"alertname": "Watchdog", "severity": "critical"}},
]

SILENCES = [
    {"id": "f34657b8", "status": {"state": "active"}, "comment": "known, handled", "createdBy": "ops",
     "endsAt": "2026-11-25T06:27:37.283Z", "startsAt": "2026-11-25T06:17:37.342Z",
     "matchers": [{"isEqual": True, "isRegex": False, "name": "alertname", "value": "X"},
                  {"isEqual": True, "isRegex": True, "name": "instance", "value": "refapp.*"}]},
    {"id": "218839c5", "status": {"state": "expired"}, "comment": "", "createdBy": "selftest",
     "endsAt": "2026-11-25T06:15:28.248Z", "matchers": [{"isRegex": False, "name": "alertname", "value": "D"}]},
]


def test_parse_targets():
    targets = parse_targets(TARGETS)
    assert [(t.job, t.instance, t.health) for t in targets] == [
        ("alertmanager", "alertmanager:9093", "up"), ("refapp", "refapp:8000", "down"),
        ("node", "http://node:9100/metrics", "unknown")]
    assert targets[1].render() == ('job=refapp instance=refapp:8000 health=down lastError: '
                                   'Get "http://refapp:8000/metrics": context deadline exceeded')


def test_parse_rules():
    rules = parse_rules(RULES)
    assert [(r.group, r.name, r.health, r.state) for r in rules] == [
        ("ai_monitoring", "AIQualityScoreLow", "ok", "inactive"), ("ai_monitoring", "ServiceDown", "ok", "firing"),
        ("broken", "job:up:sum", "err", "")]
    assert rules[2].last_error == "vector cannot contain metrics with the same labelset"


@pytest.mark.parametrize("parse", [parse_targets, parse_rules])
@pytest.mark.parametrize("payload", [{"status": "success"}, [], None, {"data": {"groups": 3, "activeTargets": 3}}])
def test_listings_reject_malformed_answers(parse, payload):
    with pytest.raises(BadResponse, match="unexpected answer"):
        parse(payload)


def test_split_alerts_with_defaults():
    split = split_alerts(parse_alerts(ALERTS), severities=["critical"], ignore=["Watchdog"])
    assert [a.name for a in split.blocking] == ["ServiceDown", "JustArrived"]
    assert [a.name for a in split.silenced] == ["X"]
    assert [a.name for a in split.inhibited] == ["HighErrorRateCritical"]
    assert [a.name for a in split.other] == ["AIQualityScoreLow", "Watchdog"]


def test_split_alerts_with_custom_severities_and_label():
    alerts = [Alert({"alertname": "A", "priority": "P1"}, {}, "active", (), (), "t", "f"),
              Alert({"alertname": "B", "priority": "P3"}, {}, "active", (), (), "t", "f"),
              Alert({"alertname": "C"}, {}, "active", (), (), "t", "f")]
    split = split_alerts(alerts, severities=["P1", "P2"], severity_label="priority")
    assert ([a.name for a in split.blocking], [a.name for a in split.other]) == (["A"], ["B", "C"])


def test_alert_render():
    service_down = parse_alerts(ALERTS)[0]
    assert service_down.render() == ('ServiceDown (severity=critical) since 2026-11-25T06:17:37.044Z '
                                     '{instance="refapp:8000", job="refapp"}: checkout is down')


@pytest.mark.parametrize("payload", [{"alerts": []}, [{"labels": "x"}], ["x"]])
def test_parse_alerts_rejects_malformed_answers(payload):
    with pytest.raises(BadResponse, match="/api/v2/alerts"):
        parse_alerts(payload)


def test_parse_silences():
    silences = parse_silences(SILENCES)
    assert [(s.id, s.state) for s in silences] == [("f34657b8", "active"), ("218839c5", "expired")]
    assert silences[0].render() == ('f34657b8 {alertname="X", instance=~"refapp.*"} by ops '
                                    'until 2026-11-25T06:27:37.283Z: known, handled')
    with pytest.raises(BadResponse, match="/api/v2/silences"):
        parse_silences([{"status": {}}])


@pytest.mark.parametrize(("matcher", "text"), [
    ({"name": "a", "value": "b", "isRegex": False, "isEqual": True}, 'a="b"'),
    ({"name": "a", "value": "b", "isRegex": False, "isEqual": False}, 'a!="b"'),
    ({"name": "a", "value": "b.*", "isRegex": True, "isEqual": True}, 'a=~"b.*"'),
    ({"name": "a", "value": "b.*", "isRegex": True, "isEqual": False}, 'a!~"b.*"'),
    ({"name": "a", "value": "b", "isRegex": False}, 'a="b"'),  # before 0.22 there was no isEqual
])
def test_render_matcher(matcher, text):
    assert render_matcher(matcher) == text
