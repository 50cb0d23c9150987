"""The hermetic stack: every component answers its real API, and a fault injected through the
stack's fault methods is visible through that API, then repaired."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import docker
import httpx
import psycopg
import pytest
import redis
import yaml
from opensearchpy import OpenSearch

from healthgate.alerts import RULES_FILE
from healthgate.stack import components
from healthgate.stack.images import resolve_image
from healthgate.stack.stack import ALL_COMPONENTS, Stack, StackError
from tests.polling import eventually

CONFIG_DIR = Path(__file__).resolve().parents[2] / "healthgate" / "stack" / "config"




def get_json(url: str, **params: str) -> Any:
    response = httpx.get(url, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


# ---------------------------------------------------------------------- without containers


def rule_groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for path in sorted((CONFIG_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            groups[group["name"]] = [rule["alert"] for rule in group["rules"]]
    return groups


def test_rule_files_hold_every_runbook_alert() -> None:
    assert rule_groups() == {
        "ai_monitoring": [
            "AIQualityScoreLow",
            "AIQualityScoreCritical",
            "HighHallucinationRate",
            "PromptInjectionDetected",
            "JailbreakAttemptDetected",
            "HighPIIDetectionRate",
            "SemanticDriftHigh",
            "ErrorBudgetBurnRateHigh",
            "ErrorBudgetBurnRateCritical",
            "HighErrorRate",
            "HighErrorRateCritical",
            "GDPRComplianceLow",
            "ServiceDown",
        ],
        "nightscan_critical": ["ServiceDown", "HighErrorRate", "DatabaseConnectionsHigh"],
    }


def check_with(tool: str, *args: str) -> None:
    __tracebackhide__ = True
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (Debian's prometheus packages) not installed")
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("names", [ALL_COMPONENTS, ("prometheus",)], ids=["all", "prometheus-alone"])
def test_generated_prometheus_config_passes_promtool(names: tuple[str, ...], tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(components.render_prometheus_config(frozenset(names)))
    check_with("promtool", "check", "config", str(config))
    jobs = [job["job_name"] for job in yaml.safe_load(config.read_text())["scrape_configs"]]
    assert jobs == [n for n in ("prometheus", "alertmanager", "refapp", "postgres-exporter", "redis-exporter",
                                "node-exporter", "otelcol") if n in names] + ["healthgate"]


def test_rule_files_pass_promtool() -> None:
    check_with("promtool", "check", "rules", *sorted(str(p) for p in (CONFIG_DIR / "rules").glob("*.yml")))


def test_alertmanager_config_passes_amtool() -> None:
    check_with("amtool", "check-config", str(CONFIG_DIR / "alertmanager.yml"))


def test_unknown_component_is_refused() -> None:
    with pytest.raises(StackError, match="unknown stack component"):
        Stack(["postgres", "mysql"])


def test_description_round_trips_without_ownership() -> None:
    attached = Stack.attach(Stack(["redis"]).to_json())
    assert attached.components == ["redis"]
    assert attached.owner is False


def test_missing_docker_daemon_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(StackError, match=r"no Docker daemon reachable .*dockerd &"):
        Stack(["redis"]).start()


# ---------------------------------------------------------------------- with Docker, own containers


def leftovers(stack: Stack) -> list[str]:
    client = docker.from_env()
    mine = {"label": f"org.healthgate.stack={stack.stack_id}"}
    containers = [c.name for c in client.containers.list(all=True, filters=mine)]
    networks = [n.name for n in client.networks.list(filters=mine)]
    return containers + networks


@pytest.mark.stack
def test_a_component_that_exits_is_reported_with_its_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Alertmanager's image given redis-server arguments exits at once, complaining about them.
    monkeypatch.setenv("HEALTHGATE_IMAGE_REDIS", resolve_image("alertmanager"))
    broken = Stack(["redis"])
    with pytest.raises(StackError) as raised:
        broken.start()
    message = str(raised.value)
    assert "redis (healthgate-" in message
    assert "exited with code" in message
    assert "waited for: redis PING" in message
    assert "log lines of healthgate-" in message
    assert leftovers(broken) == []


@pytest.mark.stack
def test_a_component_never_ready_times_out_naming_wait_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Redis's image in the refapp's place runs, but nothing answers HTTP on port 8000.
    monkeypatch.setenv("HEALTHGATE_IMAGE_REFAPP", resolve_image("redis"))
    monkeypatch.setattr(components.RefApp, "startup_timeout_s", 4.0)
    broken = Stack(["refapp"])
    with pytest.raises(StackError) as raised:
        broken.start()
    message = str(raised.value)
    assert "refapp (healthgate-" in message
    assert "was not ready within 4 s" in message
    assert "waited for: HTTP GET http://127.0.0.1:" in message
    assert "/health answering 200" in message
    assert "Ready to accept connections" in message  # the container's own log lines
    assert leftovers(broken) == []


# ---------------------------------------------------------------------- with the shared stack
# Tests that break a shared component share an xdist group: with `--dist loadgroup` they run on one
# worker, so no other test meets the component broken.
REFAPP_FAULTS = pytest.mark.xdist_group("stack-refapp")


@pytest.mark.stack
def test_env_points_every_component_at_loopback(stack: Stack, stack_env: dict[str, str]) -> None:
    assert set(stack.components or []) == set(ALL_COMPONENTS)
    urls = {k: v for k, v in stack_env.items() if k.endswith("_URL") and "REDIS" not in k}
    assert sorted(urls) == [
        "STACK_ALERTMANAGER_URL",
        "STACK_NODE_EXPORTER_URL",
        "STACK_OPENSEARCH_URL",
        "STACK_OTELCOL_METRICS_URL",
        "STACK_OTELCOL_OTLP_URL",
        "STACK_OTELCOL_URL",
        "STACK_POSTGRES_EXPORTER_URL",
        "STACK_PROMETHEUS_URL",
        "STACK_REFAPP_URL",
    ]
    assert all(url.startswith("http://127.0.0.1:") for url in urls.values())
    assert stack_env["STACK_POSTGRES_HOST"] == stack_env["STACK_REDIS_HOST"] == "127.0.0.1"


@pytest.mark.stack
def test_postgres_stop_refuses_connections_and_start_repairs(stack: Stack, stack_env: dict[str, str]) -> None:
    admin_dsn = stack.postgres_admin_dsn()
    with psycopg.connect(admin_dsn, connect_timeout=5, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [("20250713_01",)]
        assert conn.execute("SELECT count(*) FROM detections").fetchone() == (4,)
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        assert preload == ("pg_stat_statements",)
    with psycopg.connect(stack_env["STACK_POSTGRES_MONITOR_DSN"], connect_timeout=5, autocommit=True) as mon:
        assert mon.execute("SELECT count(*) >= 0 FROM pg_stat_statements").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            mon.execute("SELECT rolpassword FROM pg_authid")  # monitoring never reads credentials

    stack.stop_component("postgres")
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(admin_dsn, connect_timeout=3)
    finally:
        stack.start_component("postgres")

    with psycopg.connect(stack.postgres_admin_dsn(), connect_timeout=5, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.stack
def test_redis_maxmemory_set_by_admin_is_seen_by_monitor(stack: Stack, stack_env: dict[str, str]) -> None:
    monitor = redis.Redis.from_url(stack_env["STACK_REDIS_MONITOR_URL"], socket_timeout=5)
    admin = stack.redis_admin()
    try:
        assert monitor.ping() is True
        with pytest.raises(redis.exceptions.NoPermissionError):
            monitor.set("healthgate", "write")
        admin.config_set("maxmemory", "64mb")
        assert monitor.info("memory")["maxmemory"] == 64 * 1024 * 1024
        admin.config_set("maxmemory", "0")
        assert monitor.info("memory")["maxmemory"] == 0
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
        monitor.close()


@pytest.mark.stack
def test_opensearch_replica_index_turns_cluster_yellow_until_deleted(stack: Stack) -> None:
    client = OpenSearch(stack.opensearch_url(), timeout=15)

    def status() -> str:
        return str(client.cluster.health(request_timeout=10)["status"])

    assert status() == "green"
    client.indices.create(
        index="healthgate-replicated",
        body={"settings": {"number_of_shards": 1, "number_of_replicas": 1}},
        request_timeout=30,
    )
    try:
        eventually(status, lambda s: s == "yellow", 15, "cluster health with an unassignable replica")
    finally:
        client.indices.delete(index="healthgate-replicated", request_timeout=30)
    eventually(status, lambda s: s == "green", 15, "cluster health after deleting the index")


def target_health(stack: Stack) -> dict[str, str]:
    targets = get_json(f"{stack.prometheus_url()}/api/v1/targets", state="active")["data"]["activeTargets"]
    return {t["labels"]["job"]: t["health"] for t in targets}


@pytest.mark.stack
@REFAPP_FAULTS
def test_prometheus_sees_a_paused_refapp_down_then_up(stack: Stack) -> None:
    all_up = dict.fromkeys(("prometheus", "alertmanager", "refapp", "postgres-exporter", "redis-exporter",
                            "node-exporter", "otelcol"), "up")
    eventually(lambda: target_health(stack), lambda h: h == all_up, 15, "every scrape target up")
    stack.pause("refapp")
    try:
        eventually(lambda: target_health(stack)["refapp"], lambda h: h == "down", 10, "refapp target down")
    finally:
        stack.unpause("refapp")
    eventually(lambda: target_health(stack)["refapp"], lambda h: h == "up", 10, "refapp target up again")


@pytest.mark.stack
def test_prometheus_loaded_every_runbook_alert_and_healthgates_own(stack: Stack) -> None:
    groups = get_json(f"{stack.prometheus_url()}/api/v1/rules", type="alert")["data"]["groups"]
    loaded = {g["name"]: [r["name"] for r in g["rules"]] for g in groups}
    healthgate = [rule["alert"] for rule in yaml.safe_load(RULES_FILE.read_text())["groups"][0]["rules"]]
    assert loaded == rule_groups() | {"healthgate": healthgate}
    alertmanagers = get_json(f"{stack.prometheus_url()}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    assert [am["url"] for am in alertmanagers] == ["http://alertmanager:9093/api/v2/alerts"]


@pytest.mark.stack
def test_alertmanager_shows_a_fired_alert_until_resolved(stack: Stack) -> None:
    def injected() -> list[str]:
        alerts = get_json(f"{stack.alertmanager_url()}/api/v2/alerts", filter='injected_by="healthgate.stack"')
        return sorted(a["labels"]["alertname"] for a in alerts)

    stack.fire_alert("HealthgateStackTest", "critical", {"service": "refapp"})
    try:
        eventually(injected, lambda names: names == ["HealthgateStackTest"], 10, "fired alert listed")
    finally:
        assert stack.resolve_alerts() >= 1
    eventually(injected, lambda names: names == [], 10, "resolved alert gone from the active list")


@pytest.mark.stack
@REFAPP_FAULTS
def test_refapp_fault_is_visible_on_health_until_reset(stack: Stack) -> None:
    health = f"{stack.refapp_url()}/health"
    assert httpx.get(health, timeout=10).status_code == 200
    stack.refapp_fault("down", True)
    try:
        assert httpx.get(health, timeout=10).status_code == 503
    finally:
        stack.refapp_reset()
    assert httpx.get(health, timeout=10).status_code == 200


@pytest.mark.stack
def test_exec_runs_inside_a_component(stack: Stack) -> None:
    code, output = stack.exec("redis", ["redis-server", "--version"])
    assert (code, output.startswith("Redis server v=")) == (0, True)
