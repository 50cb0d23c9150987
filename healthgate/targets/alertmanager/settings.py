"""What a profile may say about a alertmanager target: its address, credentials and thresholds."""

from __future__ import annotations

from pydantic import Field

from healthgate.targets._httpjson import ApiSettings


class Settings(ApiSettings):
    blocking_severities: tuple[str, ...] = Field(
        ("critical",), description="an active, unsilenced alert with one of these severities blocks the gate")
    severity_label: str = Field("severity", description="label holding an alert's severity")
    filter: tuple[str, ...] = Field(
        (), description='Alertmanager matchers scoping the alerts judged, e.g. env="prod" (API v2 filter)')
    ignore_alerts: tuple[str, ...] = Field((), description="alert names never blocking (e.g. Watchdog)")
