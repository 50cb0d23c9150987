"""Baselines against the stack's real PostgreSQL and Redis: a healthy deploy passes, deleted rows fail naming the
table and both counts, an unexpected schema change fails, and restoring an old dump (a real pg_restore of an
older backup) fails the recovery check on the RPO.

Everything lives in a schema of its own, dropped afterwards, so the shared server is left as it was; the
monitoring login gets SELECT on it only, as the runbook page asks.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import checks.test_baseline as checks
from healthgate.data_safety import store
from healthgate.data_safety.context import DataSafetyRun
from healthgate.data_safety.settings import DataSafety
from healthgate.stack.stack import Stack
from healthgate.targets.base import Target
from healthgate.testing import Outcome, make_target, run_check

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("baseline-schema")]

SCHEMA = "hg_baseline_test"
EVENTS = f"{SCHEMA}.events"
MIGRATIONS = f"{SCHEMA}.schema_migrations"
BASELINE = {
    "exact_tables": [EVENTS, MIGRATIONS],
    "max_id": {EVENTS: "id"},
    "max_timestamp": {EVENTS: "created_at"},
    "schemas": [SCHEMA],
    "migrations": {"table": MIGRATIONS},
}
TIMINGS: dict[str, float] = {}


def settings(**overrides: Any) -> DataSafety:
    return DataSafety.model_validate({"baseline": {"postgres": {"test": BASELINE}}, **overrides})


def create_schema(conn: psycopg.Connection[Any], *, hours_back: list[float]) -> None:
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(f"CREATE TABLE {EVENTS} (id bigserial PRIMARY KEY, site text NOT NULL, "
                 "created_at timestamptz NOT NULL)")
    conn.execute(f"CREATE INDEX events_created_at ON {EVENTS} (created_at)")
    conn.execute(f"CREATE TABLE {MIGRATIONS} (version text PRIMARY KEY)")
    conn.execute(f"INSERT INTO {MIGRATIONS} VALUES ('20250713_01')")
    insert_events(conn, hours_back)
    grant(conn)


def insert_events(conn: psycopg.Connection[Any], hours_back: list[float]) -> None:
    for hours in sorted(hours_back, reverse=True):
        conn.execute(f"INSERT INTO {EVENTS} (site, created_at) VALUES ('pond', now() - make_interval(secs => %s))",
                     (hours * 3600,))


def grant(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO healthgate")
    conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO healthgate")


@pytest.fixture
def admin(stack: Stack) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(stack.postgres_admin_dsn(), autocommit=True, connect_timeout=5) as conn:
        create_schema(conn, hours_back=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
        try:
            yield conn
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


@pytest.fixture
def target(stack: Stack) -> Iterator[Target]:
    created = make_target("postgres", {"dsn": stack.env()["STACK_POSTGRES_MONITOR_DSN"]})
    yield created
    created.close()


def save(target: Target, data_safety: DataSafety, path: Path) -> None:
    run = DataSafetyRun("stack", data_safety)
    started = time.monotonic()
    outcome = run_check(checks.test_postgres_baseline_recorded, target, data_safety=run)
    TIMINGS["save"] = time.monotonic() - started
    assert outcome.status == "passed", outcome
    store.save(path, profile="stack", targets=run.recorded)


def compare(check: Any, target: Target, data_safety: DataSafety, path: Path) -> Outcome:
    started = time.monotonic()
    outcome = run_check(check, target, data_safety=DataSafetyRun("stack", data_safety, baseline_path=str(path)))
    TIMINGS["compare"] = time.monotonic() - started
    return outcome


def test_healthy_deploy_passes(admin, target, tmp_path):
    baseline = tmp_path / "baseline.json"
    save(target, settings(), baseline)
    insert_events(admin, [0])  # the application kept writing during the deploy
    kept = compare(checks.test_postgres_data_kept, target, settings(), baseline)
    assert kept.status == "passed", kept
    table = dict(kept.record.evidence)["comparison with the baseline"]
    assert f"| rows {EVENTS} " in table and "| +1 " in table
    assert compare(checks.test_postgres_recovery_point, target, settings(), baseline).status == "passed"
    print(f"baseline save {TIMINGS['save'] * 1000:.0f} ms, compare {TIMINGS['compare'] * 1000:.0f} ms")


def test_deleted_rows_fail_naming_the_table_and_the_counts(admin, target, tmp_path):
    baseline = tmp_path / "baseline.json"
    save(target, settings(), baseline)
    admin.execute(f"DELETE FROM {EVENTS} WHERE id IN (2, 3, 4)")
    outcome = compare(checks.test_postgres_data_kept, target, settings(), baseline)
    assert outcome.status == "failed"
    assert outcome.message.startswith("postgres:test: 1 of ")
    row = next(line for line in outcome.message.splitlines() if f"rows {EVENTS}" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")] == [f"rows {EVENTS}", "10", "7", "-3", "-0", "FAIL"]
    assert str(baseline) in outcome.message


def test_a_tolerance_absorbs_an_expected_cleanup(admin, target, tmp_path):
    baseline = tmp_path / "baseline.json"
    tolerant = settings(baseline={"postgres": {"test": {**BASELINE, "tolerance": {EVENTS: "30%"}}}})
    save(target, tolerant, baseline)
    admin.execute(f"DELETE FROM {EVENTS} WHERE id IN (2, 3, 4)")
    assert compare(checks.test_postgres_data_kept, target, tolerant, baseline).status == "passed"


def test_a_schema_change_passes_only_as_an_expected_migration(admin, target, tmp_path):
    baseline = tmp_path / "baseline.json"
    save(target, settings(), baseline)
    admin.execute(f"ALTER TABLE {EVENTS} ADD COLUMN confidence real")
    admin.execute(f"INSERT INTO {MIGRATIONS} VALUES ('20250801_01')")
    refused = compare(checks.test_postgres_data_kept, target, settings(), baseline)
    assert refused.status == "failed"
    assert "migration 20250801_01" in refused.message and "not in expected_migrations" in refused.message
    assert f"schema column {EVENTS}.confidence" in refused.message
    allowed = settings(expected_migrations=["20250801_01"])
    accepted = compare(checks.test_postgres_data_kept, target, allowed, baseline)
    assert accepted.status == "passed", accepted
    assert any("accepted" in warning for warning in accepted.record.warnings)


def test_a_restored_old_backup_fails_on_the_rpo(stack, admin, target, tmp_path):
    dsn = stack.postgres_admin_dsn()
    # The backup: data up to three days ago.
    create_schema(admin, hours_back=[120, 110, 100, 90, 80, 72])
    old_dump = tmp_path / "database.dump"
    subprocess.run(["pg_dump", "-Fc", "-n", SCHEMA, "-f", str(old_dump), dsn], check=True, timeout=60)
    # Production went on writing until now; the baseline is taken before the incident.
    insert_events(admin, [48, 24, 12, 1, 0])
    baseline = tmp_path / "baseline.json"
    save(target, settings(), baseline)
    # The incident, and a recovery from that old backup.
    admin.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    subprocess.run(["pg_restore", "--exit-on-error", "-d", dsn, str(old_dump)], check=True, timeout=60)
    grant(admin)

    outcome = compare(checks.test_postgres_recovery_point, target, settings(), baseline)
    assert outcome.status == "failed", outcome
    line = next(line for line in outcome.message.splitlines() if f"newest {EVENTS}.created_at" in line)
    assert "| back 3d " in line and "back <= RPO 24h" in line and line.rstrip().endswith("FAIL    |")
    within = compare(checks.test_postgres_recovery_point, target, settings(rpo="7d"), baseline)
    assert within.status == "passed", within
    assert any("within RPO" in warning for warning in within.record.warnings)


def test_old_rows_deleted_fail_the_recovery_check(admin, target, tmp_path):
    """Deleting the oldest rows leaves the newest timestamp where it was: no restore explains that loss, so the
    recovery check fails naming the table, the restore point and both counts."""
    baseline = tmp_path / "baseline.json"
    save(target, settings(), baseline)
    admin.execute(f"DELETE FROM {EVENTS} WHERE id <= 3")
    outcome = compare(checks.test_postgres_recovery_point, target, settings(), baseline)
    assert outcome.status == "failed", outcome
    row = next(line for line in outcome.message.splitlines() if f"| rows {EVENTS}.created_at <= " in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:4] == ["10", "7", "-3"] and cells[5] == "FAIL", row
    assert "restored to " in cells[4] and "rows at or before it all kept" in cells[4]
    assert f"| rows {EVENTS} " in outcome.message


def test_a_real_restore_within_the_rpo_passes_after_new_writes(stack, admin, target, tmp_path):
    """A backup taken an hour ago, restored after the baseline: only rows newer than the backup are missing, the
    application writes again after the recovery, and the recovery check accepts it within the RPO."""
    dsn = stack.postgres_admin_dsn()
    backup = tmp_path / "database.dump"
    subprocess.run(["pg_dump", "-Fc", "-n", SCHEMA, "-f", str(backup), dsn], check=True, timeout=60)
    insert_events(admin, [0.5, 0.2, 0])  # written after the backup, lost by the restore
    baseline = tmp_path / "baseline.json"
    save(target, settings(), baseline)
    admin.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    subprocess.run(["pg_restore", "--exit-on-error", "-d", dsn, str(backup)], check=True, timeout=60)
    grant(admin)
    insert_events(admin, [-0.01])  # the application is back
    outcome = compare(checks.test_postgres_recovery_point, target, settings(), baseline)
    assert outcome.status == "passed", outcome
    table = dict(outcome.record.evidence)["comparison with the baseline"]
    assert f"| rows {EVENTS} " in table and "newer than the restore point, within RPO" in table
    assert "restored to " in table


def test_missing_select_grant_is_named(admin, target, tmp_path):
    admin.execute(f"REVOKE SELECT ON {EVENTS} FROM healthgate")
    outcome = run_check(checks.test_postgres_baseline_recorded, target,
                        data_safety=DataSafetyRun("stack", settings()))
    assert outcome.status == "broken"
    assert f"GRANT SELECT ON {EVENTS} TO healthgate" in outcome.message


@pytest.mark.xdist_group("redis-server")
def test_redis_keys_lost_between_save_and_compare_fail(stack, tmp_path):
    data_safety = DataSafety.model_validate({"baseline": {"redis": {"test": {"patterns": ["hg-baseline:*"]}}}})
    redis_target = make_target("redis", {"url": stack.env()["STACK_REDIS_MONITOR_URL"]})
    admin = stack.redis_admin()
    try:
        admin.mset({f"hg-baseline:{i}": i for i in range(20)})
        run = DataSafetyRun("stack", data_safety)
        assert run_check(checks.test_redis_baseline_recorded, redis_target, data_safety=run).status == "passed"
        path = tmp_path / "baseline.json"
        store.save(path, profile="stack", targets=run.recorded)
        compared = DataSafetyRun("stack", data_safety, baseline_path=str(path))
        assert run_check(checks.test_redis_keys_kept, redis_target, data_safety=compared).status == "passed"
        admin.delete(*(f"hg-baseline:{i}" for i in range(5)))
        outcome = run_check(checks.test_redis_keys_kept, redis_target,
                            data_safety=DataSafetyRun("stack", data_safety, baseline_path=str(path)))
        assert outcome.status == "failed"
        assert "| keys hg-baseline:* | 20 " in outcome.message and "| 15 " in outcome.message
    finally:
        keys = list(admin.scan_iter(match="hg-baseline:*"))
        if keys:
            admin.delete(*keys)
        admin.close()
        redis_target.close()


@pytest.mark.xdist_group("redis-server")
def test_a_redis_baseline_sends_only_the_clients_read_only_commands(stack):
    """What the server received while the fingerprint was taken (MONITOR), checked against the client's
    allow-list: the baseline has no Redis connection of its own."""
    from healthgate.targets.redis.client import READ_ONLY_COMMANDS

    data_safety = DataSafety.model_validate({"baseline": {"redis": {"test": {"patterns": ["hg-monitor:*"]}}}})
    redis_target = make_target("redis", {"url": stack.env()["STACK_REDIS_MONITOR_URL"]})
    admin = stack.redis_admin()
    try:
        admin.mset({f"hg-monitor:{i}": i for i in range(3)})
        with admin.monitor() as monitor:
            outcome = run_check(checks.test_redis_baseline_recorded, redis_target,
                                data_safety=DataSafetyRun("stack", data_safety))
            redis_target.close()
            admin.echo("hg-monitor-end")
            seen = []
            while (entry := monitor.next_command())["command"] != "ECHO hg-monitor-end":
                seen.append(entry)
        # the fingerprint's connection is the one that scanned for its pattern
        ports = {entry["client_port"] for entry in seen if "hg-monitor:*" in entry["command"]}
        sent = [entry["command"].split()[0].upper() for entry in seen if entry["client_port"] in ports]
        assert outcome.status == "passed", outcome
        handshake = {"AUTH", "HELLO", "CLIENT", "SELECT", "QUIT"}
        data = [command for command in sent if command not in handshake]
        assert {"DBSIZE", "SCAN"} <= set(data), sent
        assert set(data) <= READ_ONLY_COMMANDS, sent
    finally:
        admin.delete(*(f"hg-monitor:{i}" for i in range(3)))
        admin.close()
        redis_target.close()


@pytest.mark.xdist_group("opensearch-server")
def test_opensearch_documents_lost_between_save_and_compare_fail(stack, tmp_path):
    import httpx

    url = stack.env()["STACK_OPENSEARCH_URL"]
    index = "hg-baseline-test"
    data_safety = DataSafety.model_validate(
        {"baseline": {"opensearch": {"test": {"index_patterns": [f"{index}*"]}}}})
    search_target = make_target("opensearch", {"url": url, "logs": None})
    with httpx.Client(base_url=url, timeout=30) as admin:
        try:
            body = "".join(f'{{"index": {{"_id": "{i}"}}}}\n{{"n": {i}}}\n' for i in range(10))
            admin.post(f"/{index}/_bulk?refresh=true", content=body,
                       headers={"Content-Type": "application/x-ndjson"}).raise_for_status()
            run = DataSafetyRun("stack", data_safety)
            recorded = run_check(checks.test_opensearch_baseline_recorded, search_target, data_safety=run)
            assert recorded.status == "passed", recorded
            path = tmp_path / "baseline.json"
            store.save(path, profile="stack", targets=run.recorded)
            same = run_check(checks.test_opensearch_documents_kept, search_target,
                             data_safety=DataSafetyRun("stack", data_safety, baseline_path=str(path)))
            assert same.status == "passed", same
            for i in range(4):
                admin.delete(f"/{index}/_doc/{i}?refresh=true").raise_for_status()
            lost = run_check(checks.test_opensearch_documents_kept, search_target,
                             data_safety=DataSafetyRun("stack", data_safety, baseline_path=str(path)))
            assert lost.status == "failed", lost
            assert f"| documents {index}* | 10 " in lost.message and "| 6 " in lost.message
        finally:
            admin.delete(f"/{index}")
            search_target.close()
