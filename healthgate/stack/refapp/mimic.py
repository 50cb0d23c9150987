"""Health endpoints of products the reference systems run but this machine cannot.

Grafana, Tempo, the OpenTelemetry Collector, Fluent Bit and OpenSearch Dashboards each answer their health
endpoint in a shape of their own; the HTTP check presets are proven against these imitations, so each one records
the real product's answer, healthy and failing, and names the version it was taken from. Each product lives under
``/mimic/<product>`` so a target's base URL can point at it unchanged; the ``mimic_unhealthy`` fault switches one
product to its failure answer, ``fluentbit_health_check_off`` gives Fluent Bit's default configuration.
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


def _since(started: float) -> str:
    return dt.datetime.fromtimestamp(started, dt.UTC).isoformat().replace("+00:00", "Z")


def _uptime(started: float) -> str:
    """Go duration format, as the collector's health-check extension prints it."""
    seconds = time.time() - started
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    secs = f"{seconds % 60:.6f}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + secs


def routes(state: State, garbage: Garbage) -> list[Route]:
    """Routes of every imitation; ``garbage`` answers the JSON ones when that fault is set."""
    started = time.time()  # each app is a fresh start of every imitated product

    def product(name: str, handler: Callable[[bool], Response], json: bool = False) -> Callable[
            [Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if json and (broken := garbage()) is not None:
                return broken
            return handler(state.unhealthy(name))
        return endpoint

    def grafana(bad: bool) -> Response:
        """Grafana 10.4, GET :3000/api/health: 503 with ``database: failing`` when its database is unreachable."""
        body = {"commit": "d0a2ebf4e3", "database": "failing" if bad else "ok", "version": "10.4.2"}
        return JSONResponse(body, status_code=503 if bad else 200)

    def tempo(bad: bool) -> Response:
        """Tempo 2.x, GET :3200/ready: 503 until its ingester has been ready for min_ready_duration (15 s), which
        is also what a Tempo that just started answers."""
        if bad:
            return PlainTextResponse("Ingester not ready: waiting for 15s after being ready", 503)
        return PlainTextResponse("ready")

    def otelcol(bad: bool) -> Response:
        """OpenTelemetry Collector 0.165 with the contrib health_check extension 0.165.1, GET :13133/. Not ready,
        it answers 503 with Go's zero time and an empty uptime."""
        if bad:
            return JSONResponse({"status": "Server not available", "upSince": "0001-01-01T00:00:00Z", "uptime": ""},
                                status_code=503)
        return JSONResponse({"status": "Server available", "upSince": _since(started), "uptime": _uptime(started)})

    def otelcol_metrics(bad: bool) -> Response:
        """The collector 0.165's own telemetry, GET :8888/metrics: counters carry no ``_total`` suffix, and an
        exporter's ``otelcol_exporter_send_failed_*`` series appear only with its first failure (its ``sent``
        ones with its first export). Labels are reduced to ``exporter``."""
        state.advance()  # the failed counters grow while the fault lasts
        lines = ["# HELP otelcol_process_uptime Uptime of the process",
                 "# TYPE otelcol_process_uptime counter",
                 f"otelcol_process_uptime {time.time() - started:.3f}"]
        series = [("sent", "successfully sent to destination", int(state.otelcol_sent))]
        if state.otelcol_failed >= 1:
            series.append(("send_failed", "that failed to be sent to destination", int(state.otelcol_failed)))
        for kind, meaning, count in series:
            for signal, unit in (("spans", "spans"), ("metric_points", "metric points"),
                                 ("log_records", "log records")):
                name = f"otelcol_exporter_{kind}_{signal}"
                lines += [f"# HELP {name} Number of {unit} {meaning}.", f"# TYPE {name} counter",
                          f'{name}{{exporter="otlp"}} {fmt(count)}']
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")

    def fluentbit(bad: bool) -> Response:
        """Fluent Bit 5.1, GET :2020/api/v1/health: ``ok``/``error`` and a newline, without a Content-Type. The
        endpoint exists only with ``Health_Check On`` in [SERVICE] (default Off): otherwise 404."""
        if "fluentbit_health_check_off" in state.faults:
            return Response(status_code=404)
        return Response(b"error\n" if bad else b"ok\n", status_code=500 if bad else 200)

    def dashboards(bad: bool) -> Response:
        """OpenSearch Dashboards 2.19, GET :5601/api/status (the default, legacy status format): always HTTP 200;
        the overall state (green, yellow, red) and each core service's and plugin's are in the body."""
        level = ("red", "Red", "danger", "danger", "Danger Will Robinson! Danger!") if bad else \
            ("green", "Green", "success", "secondary", "Looking good")
        since = _since(started)

        def component(name: str, healthy_message: str, failing_message: str, fails: bool) -> dict[str, str]:
            state_name, _, icon, color, _ = level if fails else ("green", "", "success", "secondary", "")
            return {"id": f"{name}@2.19.1", "message": failing_message if fails else healthy_message,
                    "since": since, "state": state_name, "icon": icon, "uiColor": color}

        body = {
            "name": "opensearch-dashboards",
            "uuid": "5a2c4c5e-0f3b-4b8e-9e1d-2f6d3c1a7b90",
            "version": {"number": "2.19.1", "build_hash": "6a7f1c0e", "build_number": 8000,
                        "build_snapshot": False},
            "status": {
                "overall": {"since": since, "state": level[0], "title": level[1], "nickname": level[4],
                            "icon": level[2], "uiColor": level[3]},
                "statuses": [
                    component("core:opensearch", "OpenSearch is available",
                              "Unable to retrieve version information from OpenSearch nodes.", bad),
                    component("core:savedObjects", "SavedObjects service has completed migrations and is available",
                              "SavedObjects service is not available without a healthy OpenSearch connection",
                              bad),
                ],
            },
            "metrics": {"last_updated": _since(time.time()), "collection_interval_in_millis": 5000,
                        "concurrent_connections": 1},
        }
        return JSONResponse(body)

    return [
        Route("/mimic/grafana/api/health", product("grafana", grafana, json=True)),
        Route("/mimic/tempo/ready", product("tempo", tempo)),
        Route("/mimic/otelcol/", product("otelcol", otelcol, json=True)),
        Route("/mimic/otelcol/metrics", product("otelcol", otelcol_metrics)),
        Route("/mimic/fluentbit/api/v1/health", product("fluentbit", fluentbit)),
        Route("/mimic/opensearch-dashboards/api/status",
              product("opensearch-dashboards", dashboards, json=True)),
    ]
