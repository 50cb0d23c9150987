"""HTTP services: health endpoints, latency samples, guardrails. A read-only client with hard body limits.

The platform's tools (Grafana, Tempo, the OpenTelemetry Collector, Fluent Bit, OpenSearch Dashboards) are HTTP
targets too: ``preset: <product>`` fills the health path and expectations from the product's documented answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.http.client import Client
    from healthgate.targets.http.settings import Settings

    # What a check's ``http`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    HttpTarget: TypeAlias = Target[Settings, Client]
