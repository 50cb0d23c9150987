"""Prometheus: readiness, scrape targets, loaded alert rules, PromQL expectations, its own failure counters.

The client only reads the HTTP API (``/-/ready``, ``/api/v1/targets``, ``/api/v1/rules``, ``/api/v1/query``);
turning query results into verdicts is done by pure functions below, tested from recorded API payloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.prometheus.client import Client
    from healthgate.targets.prometheus.settings import Settings

    # What a check's ``prometheus`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    PrometheusTarget: TypeAlias = Target[Settings, Client]
