"""What a profile may say about a alertmanager target: its address, credentials and thresholds."""

from __future__ import annotations

from pydantic import Field

from healthgate.targets._httpjson import ApiSettings
from healthgate.units import Duration


class Settings(ApiSettings):
    blocking_severities: tuple[str, ...] = Field(
        ("critical",), description="an active, unsilenced alert with one of these severities blocks the gate")
    severity_label: str = Field("severity", description="label holding an alert's severity")
    filter: tuple[str, ...] = Field(
        (), description='Alertmanager matchers scoping the alerts judged, e.g. env="prod" (API v2 filter)')
    ignore_alerts: tuple[str, ...] = Field((), description="alert names never blocking (e.g. Watchdog)")
    resend_wait: Duration = Field(
        120.0, description="after Alertmanager (re)starts, how long an empty alert list proves nothing: it keeps no "
                           "alerts across restarts, and Prometheus re-sends firing ones only every "
                           "--rules.alert.resend-delay (1m) at its next rule evaluation; 0s where nothing can have "
                           "fired before its start (a stack started with the run)")
    notification_window: Duration = Field(
        90.0, ge=0, description="when a notification failed since Alertmanager started, how long to watch for a new "
                                "failure before judging; a failing one is retried at most about 60s (plus "
                                "jitter) apart while it has something to deliver; 0s: any failure since the start "
                                "fails, without waiting")
