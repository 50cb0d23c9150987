"""Profiles the scenarios run, written as YAML files (the gate reads nothing else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.servers import ROOT, PostgresServer, RedisServer

DEMO = ROOT / "profiles" / "demo.yaml"


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def demo_on_running_stack(path: Path) -> Path:
    """The demo profile against a stack that is already up: ``provision`` removed, ``STACK_*`` from the
    environment, so the measured run times the gate and not Docker."""
    return write(path, {"extends": str(DEMO), "name": "demo-bench", "provision": None})


def native_gate(path: Path, refapp_url: str, pg: PostgresServer, redis: RedisServer) -> Path:
    """A demo-like profile on natively started servers: the refapp as AI app and ML service, PostgreSQL, Redis."""
    return write(path, {
        "name": "demo-native",
        "timeouts": {"connect": "3s", "read": "10s"},
        "targets": {
            "http": {
                "ai-app": {"url": refapp_url, "health": {"path": "/health", "expect_json": {"status": "ok"}},
                           "latency": {"path": "/health", "samples": 20, "concurrency": 4},
                           "guardrails": {"path": "/chat", "prompt_field": "prompt"}},
                "ml": {"url": refapp_url, "health": {"path": "/ml/health"},
                       "prediction": {"path": "/predict", "body": {"features": [0.12, 0.5, 0.33]}}},
            },
            "postgres": {"main": {"dsn": pg.dsn(pg.databases[0]), "tables": ["detections"]}},
            "redis": {"cache": {"url": redis.url(0), "cache_patterns": [{"pattern": "cache:*:expired", "max": 1000}]}},
        },
    })


def http_fleet(path: Path, ports: list[int], *, one_get: bool = False) -> Path:
    """Plain HTTP targets. ``one_get``: only the health endpoint check, one GET per target, the workload a
    goss ``http`` resource has (the latency and error-rate checks would add a 20-request sample each)."""
    targets = {f"svc{i:04d}": {"url": f"http://127.0.0.1:{port}"} for i, port in enumerate(ports)}
    data: dict[str, Any] = {"name": f"fleet-http-{len(ports)}{'-one-get' if one_get else ''}",
                            "timeouts": {"connect": "3s", "read": "10s"}, "targets": {"http": targets}}
    if one_get:
        data["checks"] = {"test_latency": {"enabled": False}, "test_error_rate": {"enabled": False}}
    return write(path, data)


def http_blackholes(path: Path, ports: list[int], *, timeouts: tuple[float, float] | None) -> Path:
    """HTTP targets on black-holed ports; ``timeouts`` None leaves the profile's defaults (connect 3 s, read
    10 s), which is what a user who sets none gets."""
    data: dict[str, Any] = {"name": f"blackhole-http-{len(ports)}",
                            "targets": {"http": {f"hung{i:03d}": {"url": f"http://127.0.0.1:{p}"}
                                                 for i, p in enumerate(ports)}}}
    if timeouts is not None:
        data["timeouts"] = {"connect": f"{timeouts[0]:g}s", "read": f"{timeouts[1]:g}s"}
    return write(path, data)


def postgres_fleet(path: Path, pg: PostgresServer, count: int) -> Path:
    targets = {f"db{i:03d}": {"dsn": pg.dsn(name), "tables": ["detections"]}
               for i, name in enumerate(pg.databases[:count])}
    return write(path, {"name": f"fleet-postgres-{count}", "timeouts": {"connect": "3s", "read": "10s"},
                        "targets": {"postgres": targets}})


def redis_fleet(path: Path, redis: RedisServer, count: int) -> Path:
    targets = {f"cache{i:03d}": {"url": redis.url(i), "cache_patterns": [{"pattern": "cache:*:expired", "max": 1000}]}
               for i in range(count)}
    return write(path, {"name": f"fleet-redis-{count}", "timeouts": {"connect": "3s", "read": "10s"},
                        "targets": {"redis": targets}})
