"""Prometheus: readiness, scrape targets, loaded alert rules, PromQL expectations, its own failure counters.

The client only reads the HTTP API (``/-/ready``, ``/api/v1/targets``, ``/api/v1/rules``, ``/api/v1/query``);
turning query results into verdicts is done by pure functions below, tested from recorded API payloads.
"""
