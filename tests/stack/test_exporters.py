"""postgres_exporter, redis_exporter and node_exporter in the stack, and NightScan's alerts and figures judged on
their real series: each expectation of profiles/nightscan.yaml, as written there, holds on a healthy stack and
fails, with the real series in its message, on the fault it exists to catch.

A private stack without OpenSearch or the collector: the uptime figure remembers every failed scrape for a day,
so it must not see the shared stack's other tests pause its components, and these tests stop and fill things.
They run in file order: the healthy state first, the faults whose trace stays in a window last.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

import checks.test_prometheus as checks
from healthgate.stack.components import NODE_DATA_MOUNT, POSTGRES_DB, POSTGRES_EXPORTER_USER
from healthgate.stack.stack import Stack
from healthgate.targets.base import Target
from healthgate.testing import Outcome, make_target, run_check
from tests.polling import eventually

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack-nightscan")]
ROOT = Path(__file__).resolve().parents[2]
NIGHTSCAN = yaml.safe_load((ROOT / "profiles" / "nightscan.yaml").read_text())["targets"]["prometheus"]["main"]
EXPECTATIONS = {e["name"]: e for e in NIGHTSCAN["expectations"]}
JOBS = ("prometheus", "refapp", "postgres-exporter", "redis-exporter", "node-exporter")
# A scrape every 2 s and a rule evaluation every 2 s; 30 s leaves room for a loaded machine.
POLL_S = 30.0
HELD_CONNECTIONS = 85  # above DatabaseConnectionsHigh's 80, below PostgreSQL's default max_connections of 100


@pytest.fixture(scope="module")
def nightscan() -> Iterator[Stack]:
    private = Stack(components=["postgres", "redis", "refapp", *JOBS[2:], "prometheus"]).start()
    try:
        yield private
    finally:
        private.stop()


def target(stack: Stack, *expectations: dict[str, Any]) -> Target:
    return make_target("prometheus", {"url": stack.prometheus_url(), "expectations": list(expectations),
                                      "expect_rules": NIGHTSCAN["expect_rules"]})


def judge(stack: Stack, name: str, **override: Any) -> Outcome:
    """One NightScan expectation, exactly as the profile writes it unless overridden, judged by its check."""
    expectation = {**EXPECTATIONS[name], **override}
    check = checks.test_promql_expectations_critical if expectation["severity"] == "critical" \
        else checks.test_promql_expectations_warning
    return run_check(check, target(stack, expectation))


def until(observe: Callable[[], Outcome], status: str, mentions: str = "", within_s: float = POLL_S) -> Outcome:
    return eventually(observe, lambda o: o.status == status and mentions in o.message, within_s,
                      f"an outcome {status} mentioning {mentions!r}", every_s=1)


def failure_line(outcome: Outcome) -> str:
    """The expectation's line of a failure message (the line after the count)."""
    assert outcome.status == "failed", outcome
    lines = outcome.message.splitlines()
    assert lines[0] == "prometheus:test: 1 of 1 PromQL expectation(s) failed:", outcome.message
    return lines[1]


def metrics(url: str) -> str:
    response = httpx.get(f"{url}/metrics", timeout=10)
    response.raise_for_status()
    return response.text


# ---------------------------------------------------------------------- healthy


def test_exporters_answer_their_real_api_through_least_privilege_logins(nightscan: Stack) -> None:
    env = nightscan.env()
    assert re.search(r"^pg_up 1$", metrics(env["STACK_POSTGRES_EXPORTER_URL"]), re.M)
    assert re.search(r"^redis_up 1$", metrics(env["STACK_REDIS_EXPORTER_URL"]), re.M)
    node = metrics(env["STACK_NODE_EXPORTER_URL"])
    assert re.search(r"^node_memory_MemAvailable_bytes \d", node, re.M)
    assert f'mountpoint="{NODE_DATA_MOUNT}"' in node
    # postgres_exporter's login reads the statistics views (pg_monitor) and no table.
    password = json.loads(nightscan.to_json())["credentials"]["postgres_exporter_password"]
    dsn = (f"postgresql://{POSTGRES_EXPORTER_USER}:{password}@{env['STACK_POSTGRES_HOST']}:"
           f"{env['STACK_POSTGRES_PORT']}/{POSTGRES_DB}")
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        assert conn.execute("SELECT pg_has_role(current_user, 'pg_monitor', 'member'), "
                            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone() == (True, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM detections")
    # redis_exporter logs in with a read-only ACL user of its own: what Redis refused it is read-only commands
    # whose series it then leaves out, never a write.
    redis_env = nightscan.docker_container("redis-exporter").attrs["Config"]["Env"]
    assert "REDIS_USER=redis_exporter" in redis_env
    admin = nightscan.redis_admin()
    try:
        refused = {e["object"] for e in admin.acl_log(count=100) if e["username"] == "redis_exporter"}
        acl = {line.split()[1]: [w for w in line.split()[2:] if not w.startswith("#")] for line in admin.acl_list()}
    finally:
        admin.close()
    assert refused <= {"latency|latest", "slowlog|get", "slowlog|len", "config|get", "client|setname"}, refused
    assert acl["redis_exporter"] == acl["healthgate"], acl  # the checks' read-only rules, its own password
    assert "-@all" in acl["redis_exporter"] and "+@read" in acl["redis_exporter"], acl
    up = httpx.get(f"{nightscan.prometheus_url()}/api/v1/query", params={"query": "up"}, timeout=10).json()
    assert {r["metric"]["job"]: r["value"][1] for r in up["data"]["result"]} == dict.fromkeys(JOBS, "1")


def test_every_nightscan_expectation_holds_on_a_healthy_stack(nightscan: Stack) -> None:
    healthy = target(nightscan, *NIGHTSCAN["expectations"])
    outcomes = {fn.__name__: until(lambda fn=fn: (healthy.reset(), run_check(fn, healthy))[1], "passed")
                for fn in (checks.test_promql_expectations_critical, checks.test_promql_expectations_warning,
                           checks.test_alert_rules_loaded)}
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(outcomes, "passed")
    judged = dict(outcomes["test_promql_expectations_warning"].record.evidence)["PromQL expectations"]
    # Judged on the exporters' own series, not on anything the reference app serves.
    assert re.search(r'\[passed\] DatabaseConnectionsHigh: pg_stat_activity_count \(\d+ pg_stat_activity_count\{'
                     r'datname="\w+", instance="postgres-exporter:9187", job="postgres-exporter"', judged), judged
    assert re.search(r'\[passed\] HostMemory: .* \([\d.]+ \{instance="node-exporter:9100", job="node-exporter"\}\) '
                     r"< 80", judged), judged
    assert f'mountpoint="{NODE_DATA_MOUNT}"' in judged and 'mountpoint="/"' in judged
    uptime = next(line for line in judged.splitlines() if line.startswith("[passed] Uptime: "))
    assert uptime.startswith("[passed] Uptime: avg_over_time(up[1d]) (1 {")
    assert all(f'job="{job}"}}' in uptime for job in JOBS), uptime


# ---------------------------------------------------------------------- each expectation broken


def test_database_connections_high_fails_while_connections_are_held(nightscan: Stack) -> None:
    held = [psycopg.connect(nightscan.postgres_admin_dsn(), connect_timeout=5, autocommit=True)
            for _ in range(HELD_CONNECTIONS)]
    try:
        outcome = until(lambda: judge(nightscan, "DatabaseConnectionsHigh"), "failed", 'state="idle"')
        line = failure_line(outcome)
        count = re.search(r"^- DatabaseConnectionsHigh: pg_stat_activity_count \((\d+) pg_stat_activity_count\{"
                          r'datname="app", instance="postgres-exporter:9187", job="postgres-exporter", '
                          r'server="postgres:5432", state="idle"\}\) <= 80 — psql \$NIGHTSCAN_DATABASE_URI -c '
                          r"'SELECT \* FROM pg_stat_activity;'$", line)
        assert count and int(count.group(1)) >= HELD_CONNECTIONS, line
        # The stack's copy of the guide's alert sees the same series (pending: it fires after 2 minutes).
        def state() -> str:
            groups = httpx.get(f"{nightscan.prometheus_url()}/api/v1/rules", timeout=10).json()["data"]["groups"]
            return next(r["state"] for g in groups if g["name"] == "nightscan_critical" for r in g["rules"]
                        if r["name"] == "DatabaseConnectionsHigh")
        eventually(state, lambda s: s in ("pending", "firing"), POLL_S, "DatabaseConnectionsHigh pending")
    finally:
        for conn in held:
            conn.close()
    assert until(lambda: judge(nightscan, "DatabaseConnectionsHigh"), "passed").status == "passed"


def test_host_disk_fails_when_a_filesystem_fills(nightscan: Stack) -> None:
    container = nightscan.docker_container("node-exporter")
    written = container.exec_run(["dd", "if=/dev/zero", f"of={NODE_DATA_MOUNT}/fill", "bs=1M", "count=15"],
                                 user="root")
    assert written.exit_code == 0, written.output
    try:
        outcome = until(lambda: judge(nightscan, "HostDisk"), "failed", NODE_DATA_MOUNT)
        line = failure_line(outcome)
        assert re.match(r"^- HostDisk: 100 \* \(node_filesystem_size_bytes - node_filesystem_free_bytes\) / .* "
                        r'\(9\d(\.\d+)? \{device="tmpfs", fstype="tmpfs", instance="node-exporter:9100", '
                        r'job="node-exporter", mountpoint="/opt/backups"\}\) < 85 — df -h; ', line), line
    finally:
        container.exec_run(["rm", "-f", f"{NODE_DATA_MOUNT}/fill"], user="root")
    assert until(lambda: judge(nightscan, "HostDisk"), "passed").status == "passed"


def test_host_memory_is_judged_on_node_exporter_s_real_series(nightscan: Stack) -> None:
    """Filling 80 % of the machine's memory would starve everything else on it, so the broken case lowers the
    threshold under the value node_exporter reports instead: the same query, the same real series."""
    healthy = until(lambda: judge(nightscan, "HostMemory"), "passed")
    observed = float(re.search(r"HostMemory: .* \(([\d.]+) \{instance=", dict(healthy.record.evidence)[
        "PromQL expectations"]).group(1))  # type: ignore[union-attr]
    assert 0 < observed < 80
    below = round(observed / 2, 1)
    line = failure_line(judge(nightscan, "HostMemory", threshold=below))
    assert re.fullmatch(r"- HostMemory: 100 \* \(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes\) "
                        rf'\([\d.]+ \{{instance="node-exporter:9100", job="node-exporter"\}}\) < {below:g} — free -m; '
                        r"ps aux --sort=-rss \| head; docker stats --no-stream", line), line


@pytest.mark.parametrize(("name", "fault", "value", "observed"), [
    ("PredictionQueue", "queue", 250, "250"), ("ModelAccuracy", "accuracy", 0.81, "0.81")])
def test_ml_figures_fail_with_the_app_s_values(nightscan: Stack, name: str, fault: str, value: float,
                                              observed: str) -> None:
    nightscan.refapp_fault(fault, value)
    try:
        line = failure_line(until(lambda: judge(nightscan, name), "failed", f"({observed})"))
        assert line.startswith(f"- {name}: ")
    finally:
        nightscan.refapp_reset()
    assert until(lambda: judge(nightscan, name), "passed").status == "passed"


def test_service_down_then_uptime_below_three_nines_for_the_day(nightscan: Stack) -> None:
    """A paused exporter misses its scrapes: ServiceDown fails while it is down; the uptime figure keeps the
    downtime for its whole window, after the service is back."""
    nightscan.pause("redis-exporter")
    try:
        down = until(lambda: judge(nightscan, "ServiceDown"), "failed", "redis-exporter")
        assert failure_line(down) == ('- ServiceDown: up (0 up{instance="redis-exporter:9121", job="redis-exporter"}) '
                                      "== 1 — docker ps | grep nightscan; docker logs nightscan_web; docker restart "
                                      "nightscan_web")
        time.sleep(4)  # two more missed scrapes
    finally:
        nightscan.unpause("redis-exporter")
    assert until(lambda: judge(nightscan, "ServiceDown"), "passed").status == "passed"
    uptime = failure_line(judge(nightscan, "Uptime"))
    assert re.fullmatch(r"- Uptime: avg_over_time\(up\[1d\]\) \(0\.\d+ \{instance=\"redis-exporter:9121\", "
                        r'job="redis-exporter"\}\) > 0\.999 — which service was down today: avg_over_time\(up\[1d\]\) '
                        r"< 0\.999 in Prometheus, then its logs", uptime), uptime


def test_high_error_rate_fails_when_the_app_answers_500(nightscan: Stack) -> None:
    """Last: the 5-minute rate keeps the errors after the fault is cleared."""
    nightscan.refapp_fault("errors", 1.0)
    try:
        line = failure_line(until(lambda: judge(nightscan, "HighErrorRate"), "failed"))
    finally:
        nightscan.refapp_reset()
    assert re.fullmatch(r'- HighErrorRate: sum\(rate\(http_requests_total\{status=~"5\.\."\}\[5m\]\)\) \([\d.]+\) '
                        r"<= 0\.01 — tail -f logs/nightscan\.log \| grep ERROR", line), line
