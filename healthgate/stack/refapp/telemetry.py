"""The app's own telemetry to an OpenTelemetry Collector: OTLP over HTTP with JSON encoding, written by hand.

OTLP/HTTP+JSON needs nothing beyond the standard library, and the image has only Debian's starlette and uvicorn.
It is configured the way an OpenTelemetry SDK is, by the specification's environment variables:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (unset: nothing is sent), ``OTEL_SERVICE_NAME``, ``OTEL_METRIC_EXPORT_INTERVAL``
and ``OTEL_BSP_SCHEDULE_DELAY`` (milliseconds). What it sends:

- a server span for every request the app serves (admin requests excepted), one trace each;
- ``ai_app.requests``, the cumulative count of requests served (synthetic background traffic included), which
  a collector writing to Prometheus turns into ``ai_app_requests_total{job="<service name>"}``.

The `telemetry_off` fault stops both, as a crashed or misconfigured SDK exporter would: nothing is queued meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .state import State

SCOPE = {"name": "healthgate.refapp", "version": "1"}
POST_TIMEOUT_S = 5.0
MAX_PENDING_SPANS = 5000  # beyond this the oldest are dropped, as an SDK's batch processor does when full
SPAN_KIND_SERVER = 2
STATUS_UNSET, STATUS_ERROR = 0, 2


@dataclass(frozen=True)
class OtlpConfig:
    endpoint: str  # base URL; /v1/traces and /v1/metrics are appended, as the specification says
    service_name: str = "ai-lab-app"
    instance_id: str = field(default_factory=socket.gethostname)
    metric_interval_s: float = 60.0  # the specification's defaults
    span_interval_s: float = 5.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> OtlpConfig | None:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/")
        if not endpoint:
            return None
        return cls(
            endpoint=endpoint,
            service_name=environ.get("OTEL_SERVICE_NAME", "").strip() or "ai-lab-app",
            metric_interval_s=float(environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")) / 1000,
            span_interval_s=float(environ.get("OTEL_BSP_SCHEDULE_DELAY", "5000")) / 1000,
        )


@dataclass
class ExportStats:
    """What the sender did, for /admin/telemetry: a self-test reads it to know the app really sent."""

    spans_sent: int = 0
    points_sent: int = 0
    failed_posts: int = 0
    last_error: str = ""


def _value(raw: object) -> dict[str, Any]:
    if isinstance(raw, bool):
        return {"boolValue": raw}
    if isinstance(raw, int):
        return {"intValue": str(raw)}  # int64 is a string in OTLP/JSON
    return {"stringValue": str(raw)}


def _attributes(values: Mapping[str, object]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in values.items()]


class OtlpSender:
    """Collects spans as requests are served and exports spans and metrics on their intervals.

    It runs as a task on the app's event loop, so it reads the app's state on the thread that changes it; only
    the blocking HTTP posts go to a worker thread.
    """

    def __init__(self, config: OtlpConfig, state: State) -> None:
        self.config, self.state = config, state
        self.stats = ExportStats()
        self._spans: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING_SPANS)
        self._started_ns = time.time_ns()
        self._task: asyncio.Task[None] | None = None

    @property
    def sending(self) -> bool:
        return "telemetry_off" not in self.state.faults

    def start(self) -> None:
        """Start exporting on the running event loop (called with the first request: uvicorn runs without a
        lifespan, so there is no start-up hook that works on every starlette version)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="otlp-sender")

    def record_span(self, method: str, path: str, status: int, start_ns: int, end_ns: int) -> None:
        if not self.sending:
            return
        self._spans.append({
            "traceId": os.urandom(16).hex(),
            "spanId": os.urandom(8).hex(),
            "name": f"{method} {path}",
            "kind": SPAN_KIND_SERVER,
            "startTimeUnixNano": str(start_ns),
            "endTimeUnixNano": str(end_ns),
            "attributes": _attributes({"http.request.method": method, "url.path": path,
                                       "http.response.status_code": status}),
            "status": {"code": STATUS_ERROR if status >= 500 else STATUS_UNSET},
        })

    def _resource(self) -> dict[str, Any]:
        return {"attributes": _attributes({"service.name": self.config.service_name,
                                           "service.instance.id": self.config.instance_id,
                                           "telemetry.sdk.language": "python",
                                           "telemetry.sdk.name": "healthgate-refapp"})}

    def traces_payload(self) -> dict[str, Any] | None:
        spans = [self._spans.popleft() for _ in range(len(self._spans))]
        if not spans:
            return None
        return {"resourceSpans": [{"resource": self._resource(),
                                   "scopeSpans": [{"scope": SCOPE, "spans": spans}]}]}

    def metrics_payload(self) -> dict[str, Any]:
        self.state.advance()  # synthetic traffic up to now
        served = int(sum(list(self.state.counters["ai_requests_total"].values())))
        point = {"startTimeUnixNano": str(self._started_ns), "timeUnixNano": str(time.time_ns()),
                 "asInt": str(served)}
        metric = {"name": "ai_app.requests", "description": "Requests served by the application.",
                  "unit": "{request}",
                  "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [point]}}
        return {"resourceMetrics": [{"resource": self._resource(),
                                     "scopeMetrics": [{"scope": SCOPE, "metrics": [metric]}]}]}

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(self.config.metric_interval_s, self.config.span_interval_s)
        next_metrics = next_spans = time.monotonic()
        while True:
            now = time.monotonic()
            if not self.sending:
                self._spans.clear()
            else:
                if now >= next_spans:
                    next_spans = now + self.config.span_interval_s
                    traces = self.traces_payload()
                    if traces is not None:
                        count = len(traces["resourceSpans"][0]["scopeSpans"][0]["spans"])
                        if await loop.run_in_executor(None, self._post, "/v1/traces", traces):
                            self.stats.spans_sent += count
                if now >= next_metrics:
                    next_metrics = now + self.config.metric_interval_s
                    if await loop.run_in_executor(None, self._post, "/v1/metrics", self.metrics_payload()):
                        self.stats.points_sent += 1
            await asyncio.sleep(tick)

    def _post(self, path: str, payload: dict[str, Any]) -> bool:
        request = urllib.request.Request(self.config.endpoint + path, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # An SDK drops what it could not send and goes on; so does this (the collector may start later).
            self.stats.failed_posts += 1
            self.stats.last_error = f"POST {path}: {exc}"
            return False
        return True
