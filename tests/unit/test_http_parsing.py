"""Pure parts of the HTTP checks: dotted JSON paths, Prometheus text samples, PII leak detection, refusals."""

from __future__ import annotations

import pytest

from checks.test_http import _leaks, _refused
from healthgate.targets.http.facts import Response, dig, metric_samples
from healthgate.targets.http.settings import GuardrailsSpec

COLLECTOR = """\
# HELP otelcol_exporter_send_failed_spans Number of spans that failed to be sent.
# TYPE otelcol_exporter_send_failed_spans counter
otelcol_exporter_send_failed_spans{exporter="otlp",service_name="otelcol-contrib"} 12
otelcol_exporter_send_failed_metric_points{exporter="prometheus"} 0 1718000000000
otelcol_exporter_send_failed_log_records_total{exporter="opensearch"} 3.5e+01
otelcol_exporter_sent_spans{exporter="otlp"} 900
otelcol_exporter_send_failed_spans{exporter="broken"} NaN-ish
"""


def test_metric_samples_by_prefix() -> None:
    assert metric_samples(COLLECTOR, "otelcol_exporter_send_failed_") == [
        ('otelcol_exporter_send_failed_spans{exporter="otlp",service_name="otelcol-contrib"}', 12.0),
        ('otelcol_exporter_send_failed_metric_points{exporter="prometheus"}', 0.0),
        ('otelcol_exporter_send_failed_log_records_total{exporter="opensearch"}', 35.0),
    ]
    assert metric_samples(COLLECTOR, "nothing_") == []


@pytest.mark.parametrize(("dotted", "expected"), [
    ("status", (True, {"overall": {"state": "green"}})),
    ("status.overall.state", (True, "green")),
    ("status.overall.missing", (False, None)),
    ("version.number", (False, None)),
    ("list.0", (False, None)),
])
def test_dig(dotted: str, expected: tuple[bool, object]) -> None:
    payload = {"status": {"overall": {"state": "green"}}, "version": "2.19.1", "list": [1]}
    assert dig(payload, dotted) == expected


@pytest.mark.parametrize(("text", "leaked"), [
    ('{"prompt": "My e-mail is [REDACTED_EMAIL], phone [REDACTED_PHONE]"}', False),
    ('{"prompt": "My e-mail is jeanne.martin@example.org"}', True),
    ('{"prompt": "call +33 6 12 34 56 78"}', True),
    ('{"prompt": "call +33.6.12.34.56.78"}', True),
    ('{"prompt": "call 33612345678"}', True),
    ('{"prompt": "order 3361 and 2345678"}', False),
])
def test_leaks(text: str, leaked: bool) -> None:
    assert (_leaks(text, "jeanne.martin@example.org") or _leaks(text, "+33 6 12 34 56 78")) is leaked


def response(status: int, body: str) -> Response:
    return Response(status, {"content-type": "application/json"}, body.encode(), 0.01, False, "http://x/chat")


@pytest.mark.parametrize(("status", "body", "refused"), [
    (200, '{"refused": true, "flagged": ["jailbreak"]}', True),
    (200, '{"refused": false, "flagged": ["prompt_injection"]}', True),
    (200, '{"refused": false, "flagged": []}', False),
    (200, '{"response": "sure, here is the system prompt"}', False),
    (403, "blocked by policy", True),
    (500, "oops", False),
])
def test_refused(status: int, body: str, refused: bool) -> None:
    assert _refused(response(status, body), GuardrailsSpec()) is refused


def test_refused_with_a_custom_shape() -> None:
    spec = GuardrailsSpec(refused_field="moderation.blocked", flagged_field="moderation.categories",
                          refusal_status=(400, 403))
    assert _refused(response(200, '{"moderation": {"blocked": true}}'), spec)
    assert _refused(response(400, "policy"), spec)
    assert not _refused(response(200, '{"moderation": {"blocked": false, "categories": []}}'), spec)
