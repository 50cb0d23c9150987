"""The only code that talks to a alertmanager target: read-only, with timeouts on every call."""

from __future__ import annotations

from collections.abc import Sequence

from healthgate.targets._httpjson import ApiClient, Probe
from healthgate.targets.alertmanager.facts import Alert, Silence, parse_alerts, parse_silences


class Client(ApiClient):
    """Read-only: GETs on the health endpoints and API v2."""

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
