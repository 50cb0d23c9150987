"""Health endpoints of products the reference systems run but this machine cannot.

Grafana, Tempo, the OpenTelemetry Collector, Fluent Bit and OpenSearch Dashboards each have a
documented health shape; the HTTP check presets for them are proven against these imitations.
Each product lives under ``/mimic/<product>`` so a target's base URL can point at it unchanged,
and the ``mimic_unhealthy`` fault switches one product to its documented failure answer.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .state import State, fmt

Garbage = Callable[[], Response | None]
_STARTED = time.time()


def _since() -> str:
    return dt.datetime.fromtimestamp(_STARTED, dt.UTC).isoformat().replace("+00:00", "Z")


def _uptime() -> str:
    """Go duration format, as the collector's health-check extension prints it."""
    seconds = time.time() - _STARTED
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    secs = f"{seconds % 60:.6f}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + secs


def routes(state: State, garbage: Garbage) -> list[Route]:
    """Routes of every imitation; ``garbage`` answers the JSON ones when that fault is set."""

    def product(name: str, handler: Callable[[bool], Response], json: bool = False) -> Callable[
            [Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if json and (broken := garbage()) is not None:
                return broken
            return handler(state.unhealthy(name))
        return endpoint

    def grafana(bad: bool) -> Response:
        body = {"commit": "d0a2ebf4e3", "database": "failing" if bad else "ok", "version": "10.4.2"}
        return JSONResponse(body, status_code=503 if bad else 200)

    def tempo(bad: bool) -> Response:
        if bad:
            return PlainTextResponse("Ingester not ready: waiting for 15s after being ready", 503)
        return PlainTextResponse("ready")

    def otelcol(bad: bool) -> Response:
        if bad:
            return JSONResponse({"status": "Server not available"}, status_code=503)
        return JSONResponse({"status": "Server available", "upSince": _since(), "uptime": _uptime()})

    def otelcol_metrics(bad: bool) -> Response:
        state.advance()  # the failed counters grow while the fault lasts
        lines = []
        failed = fmt(int(state.otelcol_failed))
        for signal in ("spans", "metric_points", "log_records"):
            name = f"otelcol_exporter_send_failed_{signal}"
            lines += [f"# HELP {name} Number of {signal.replace('_', ' ')} that failed to be sent.",
                      f"# TYPE {name} counter",
                      f'{name}{{exporter="otlp",service_name="otelcol-contrib"}} {failed}']
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    def fluentbit(bad: bool) -> Response:
        return PlainTextResponse("error", 500) if bad else PlainTextResponse("ok")

    def dashboards(bad: bool) -> Response:
        state_name, title = ("red", "Red") if bad else ("green", "Green")
        body = {
            "name": "opensearch-dashboards",
            "uuid": "5a2c4c5e-0f3b-4b8e-9e1d-2f6d3c1a7b90",
            "version": {"number": "2.19.1", "build_hash": "6a7f1c0e", "build_number": 8000,
                        "build_snapshot": False},
            "status": {"overall": {"state": state_name, "title": title, "since": _since()},
                       "statuses": [{"id": "core:opensearch@2.19.1", "state": state_name}]},
        }
        return JSONResponse(body, status_code=503 if bad else 200)

    return [
        Route("/mimic/grafana/api/health", product("grafana", grafana, json=True)),
        Route("/mimic/tempo/ready", product("tempo", tempo)),
        Route("/mimic/otelcol/", product("otelcol", otelcol, json=True)),
        Route("/mimic/otelcol/metrics", product("otelcol", otelcol_metrics)),
        Route("/mimic/fluentbit/api/v1/health", product("fluentbit", fluentbit)),
        Route("/mimic/opensearch-dashboards/api/status",
              product("opensearch-dashboards", dashboards, json=True)),
    ]
