"""HTTP services: health endpoints, latency samples, guardrails. A read-only client with hard body limits.

The platform's tools (Grafana, Tempo, the OpenTelemetry Collector, Fluent Bit, OpenSearch Dashboards) are HTTP
targets too: ``preset: <product>`` fills the health path and expectations from the product's documented answer.
"""
