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


def http_fleet(path: Path, ports: list[int]) -> Path:
    targets = {f"svc{i:04d}": {"url": f"http://127.0.0.1:{port}"} for i, port in enumerate(ports)}
    return write(path, {"name": f"fleet-http-{len(ports)}", "timeouts": {"connect": "3s", "read": "10s"},
                        "targets": {"http": targets}})


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


def blackholes(path: Path, ports: list[int], *, connect: float, read: float) -> Path:
    """One HTTP, one Redis and one PostgreSQL target per black-holed port triple."""
    http = {f"hung{i:03d}": {"url": f"http://127.0.0.1:{p}"} for i, p in enumerate(ports[0::3])}
    redis = {f"hung{i:03d}": {"url": f"redis://127.0.0.1:{p}/0"} for i, p in enumerate(ports[1::3])}
    pg = {f"hung{i:03d}": {"dsn": f"postgresql://healthgate:x@127.0.0.1:{p}/app"} for i, p in enumerate(ports[2::3])}
    timeouts = {"connect": f"{connect:g}s", "read": f"{read:g}s"}
    return write(path, {"name": f"blackhole-{len(ports)}", "timeouts": timeouts,
                        "targets": {"http": http, "redis": redis, "postgres": pg}})
