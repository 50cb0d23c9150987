"""HTTP services: health endpoints, latency, guardrails and the health endpoints of the platform's tools."""

from __future__ import annotations

from healthgate.check import ALL, check
from healthgate.expect import evidence, expect, fail


@check(phases=ALL, severity="critical", runbook="health-endpoint")
def test_health_endpoint(http):
    """The health endpoint answers with an accepted status and the expected JSON fields."""
    spec = http.settings.health
    response = http.client.get(spec.path)
    evidence("request", f"GET {response.url}")
    evidence("response", f"HTTP {response.status}\n{response.text()[:2000]}")
    expect(http, "status", response.status, "in", spec.expect_status,
           hint=f"GET {spec.path} must answer {'/'.join(map(str, spec.expect_status))}; restart or roll back")
    if spec.expect_json or spec.expect_version:
        payload = response.json()
        for dotted, wanted in spec.expect_json.items():
            expect(http, dotted, _dig(http, payload, dotted), "==", wanted,
                   hint="the service reports itself unhealthy")
        if spec.expect_version:
            expect(http, spec.version_field, _dig(http, payload, spec.version_field), "==", spec.expect_version,
                   hint="the deployed version is not the one this release expects")


def _dig(target, payload, dotted):
    value = payload
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            fail(target, f"health payload has no field {dotted!r}: {str(payload)[:200]}")
        value = value[part]
    return value
