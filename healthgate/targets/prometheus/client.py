"""The only code that talks to a prometheus target: read-only, with timeouts on every call."""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

from healthgate.errors import BadResponse, CheckError
from healthgate.targets._httpjson import ApiClient, ApiRejected, Probe
from healthgate.targets.prometheus.facts import QueryResult, Rule, ScrapeTarget, parse_query, parse_rules, parse_targets


class RuntimeInfo(NamedTuple):
    started_at: float  # Unix time
    reload_config_success: bool
    last_config_time: str


class Client(ApiClient):
    """Read-only: GETs on the HTTP API; queries carry a server-side timeout so a heavy one cannot run on."""

    product = "Prometheus server"

    def ready(self) -> Probe:
        return self.probe("/-/ready")

    def runtime_info(self) -> RuntimeInfo:
        """GET /api/v1/status/runtimeinfo: when the server started, and how the last configuration load went."""
        payload = self.get_json("/api/v1/status/runtimeinfo")
        data = payload.get("data") if isinstance(payload, dict) else None
        try:
            assert isinstance(data, dict) and isinstance(data["reloadConfigSuccess"], bool)
            started = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", str(data["startTime"]))
                                             .replace("Z", "+00:00")).timestamp()
        except (AssertionError, KeyError, ValueError):
            raise BadResponse(f"/api/v1/status/runtimeinfo: not a runtime information answer: {str(payload)[:200]!r}",
                              hint="Prometheus has this API since 2.14: is this a Prometheus server?") from None
        return RuntimeInfo(started, data["reloadConfigSuccess"], str(data.get("lastConfigTime", "")))

    def targets(self) -> list[ScrapeTarget]:
        # state=active: the dropped targets of a large service discovery can run to megabytes.
        return parse_targets(self.get_json("/api/v1/targets", {"state": "active"}), self.where("/api/v1/targets"))

    def rules(self) -> list[Rule]:
        return parse_rules(self.get_json("/api/v1/rules"), self.where("/api/v1/rules"))

    def query(self, expr: str) -> QueryResult:
        """Instant query. A query Prometheus rejects (syntax, timeout) raises ``CheckError`` naming it."""
        # Seconds as a float; the server gives up a little before we would, so its error names the query.
        params = {"query": expr, "timeout": f"{max(0.5, self.timeouts.read * 0.9):.1f}"}
        try:
            payload = self.get_json("/api/v1/query", params)
        except ApiRejected as exc:
            # 400 bad_data: syntax; 422 execution: e.g. many-to-many matching; 503: timeout or overload.
            if exc.status not in (400, 422):
                raise
            raise CheckError(f"Prometheus refused the query (HTTP {exc.status}): {exc.detail}",
                             hint="fix the query in the profile (try it in the Prometheus UI)") from None
        return parse_query(payload, query=expr, server=self.settings.address())
