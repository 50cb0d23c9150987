"""The only code that talks to a alertmanager target: read-only, with timeouts on every call."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from healthgate.errors import AuthFailed, BadResponse
from healthgate.targets._httpjson import ApiClient, Probe
from healthgate.targets.alertmanager.facts import (
    Alert,
    Deliveries,
    Silence,
    parse_alerts,
    parse_deliveries,
    parse_silences,
)


class Client(ApiClient):
    """Read-only: GETs on the health endpoints, API v2 and its own /metrics."""

    product = "Alertmanager"

    def healthy(self) -> Probe:
        return self.probe("/-/healthy")

    def ready(self) -> Probe:
        return self.probe("/-/ready")

    def alerts(self, filters: Sequence[str] = ()) -> list[Alert]:
        """Every active alert, silenced and inhibited ones included (they are evidence), within ``filters``."""
        params = [("active", "true"), ("silenced", "true"), ("inhibited", "true"), ("unprocessed", "true")]
        params += [("filter", f) for f in filters]
        return parse_alerts(self.get_json("/api/v2/alerts", params), self.where("/api/v2/alerts"))

    def silences(self) -> list[Silence]:
        return parse_silences(self.get_json("/api/v2/silences"), self.where("/api/v2/silences"))

    def deliveries(self) -> Deliveries:
        """Its notification counters per integration, since it started (GET /metrics)."""
        response = self.get("/metrics")
        if response.status in (401, 403):
            raise AuthFailed(f"GET {response.where} answered HTTP {response.status}",
                             hint="the monitoring token needs read access to /metrics as well")
        if response.status != 200:
            raise BadResponse(f"GET {response.where} answered HTTP {response.status}: {response.text()[:200]!r}",
                              hint="Alertmanager serves /metrics on its web port; does a proxy hide it?")
        if response.truncated:
            raise BadResponse(f"GET {response.where} answered more than the {len(response.body)}-byte limit",
                              hint="raise max_body for this target")
        return parse_deliveries(response.text(), f"GET {response.where}")

    def started_at(self) -> float:
        """When this Alertmanager process started (``uptime`` of GET /api/v2/status), as a Unix time."""
        payload = self.get_json("/api/v2/status")
        raw = payload.get("uptime") if isinstance(payload, dict) else None
        # Go prints up to nanoseconds; Python reads up to microseconds.
        text = re.sub(r"(\.\d{6})\d+", r"\1", str(raw or "")).replace("Z", "+00:00")
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            raise BadResponse(f"GET /api/v2/status of {self.settings.address()}: uptime {raw!r} is not a time",
                              hint="is this Alertmanager's API v2?") from None
