"""The restore drill on real dumps of the stack's PostgreSQL and Redis, restored into throwaway servers: good
backups pass and report their restore time; a truncated .sql.gz fails at decompression naming the file; a dump
that does not restore, or that lacks rows, fails naming the step or the table."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import checks.test_restore_drill as checks
from healthgate.data_safety.context import DataSafetyRun
from healthgate.data_safety.settings import DataSafety
from healthgate.stack.stack import Stack
from healthgate.targets.base import Target
from healthgate.testing import Outcome, make_target, run_check

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("baseline-schema")]

SCHEMA = "hg_drill_test"
EVENTS = f"{SCHEMA}.events"
DAY = 86400


@pytest.fixture
def admin(stack: Stack) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(stack.postgres_admin_dsn(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {EVENTS} AS SELECT g AS id, now() - g * interval '1 minute' AS created_at "
                     "FROM generate_series(1, 1000) g")
        conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO healthgate")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO healthgate")
        try:
            yield conn
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


@pytest.fixture
def target(stack: Stack) -> Iterator[Target]:
    created = make_target("postgres", {"dsn": stack.env()["STACK_POSTGRES_MONITOR_DSN"]})
    yield created
    created.close()


def dump(stack: Stack, path: Path, *, fmt: str = "plain", age_days: float = 0) -> Path:
    """pg_dump of the test schema as the runbook's backup job makes it (plain, gzip'ed, or custom)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["pg_dump", "-n", SCHEMA, stack.postgres_admin_dsn()]
    if fmt == "custom":
        args.insert(1, "-Fc")
    output = subprocess.run(args, check=True, capture_output=True, timeout=60).stdout
    path.write_bytes(gzip.compress(output) if fmt == "gzip" else output)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


def drill(target: Target, glob: str, **extra: Any) -> Outcome:
    data_safety = DataSafety.model_validate(
        {"restore_drill": {"postgres": {"test": {"backups_glob": glob, "tables": [EVENTS], **extra}}}})
    return run_check(checks.test_postgres_restore_drill, target, data_safety=DataSafetyRun("stack", data_safety))


@pytest.mark.parametrize(("fmt", "name"), [("gzip", "database.sql.gz"), ("plain", "database.sql"),
                                           ("custom", "database.dump")])
def test_a_good_backup_restores_and_reports_its_restore_time(stack, admin, target, tmp_path, fmt, name):
    dump(stack, tmp_path / "20250713" / name, fmt=fmt)
    started = time.monotonic()
    outcome = drill(target, str(tmp_path / "*" / name))
    total = time.monotonic() - started
    assert outcome.status == "passed", outcome
    restore = next(o for o in outcome.record.observations if o.subject == "restore_s")
    assert restore.passed and restore.expected == 900.0  # seeds: MTTR < 15 min
    evidence = dict(outcome.record.evidence)
    assert "restore " in evidence["restore"] and "source      PostgreSQL 15" in evidence["restore"]
    assert f"| rows {EVENTS} | 1000" in next(v for k, v in evidence.items() if k.startswith("restored rows"))
    print(f"{fmt}: restore {restore.observed} s, whole drill {total:.1f} s\n{evidence['restore']}")


def test_a_truncated_sql_gz_fails_at_decompression_naming_the_file(stack, admin, target, tmp_path):
    dump(stack, tmp_path / "20250712" / "database.sql.gz", fmt="gzip", age_days=1)
    newest = dump(stack, tmp_path / "20250713" / "database.sql.gz", fmt="gzip")
    whole = newest.read_bytes()
    newest.write_bytes(whole[: len(whole) // 2])  # the backup job was killed half-way
    outcome = drill(target, str(tmp_path / "*" / "database.sql.gz"))
    assert outcome.status == "failed", outcome
    assert f"restore drill of {newest}: decompression failed" in outcome.message
    assert not outcome.record.observations  # no restore was attempted, so no restore time was claimed


def test_a_dump_that_does_not_restore_fails_at_the_restore_step(admin, target, tmp_path):
    broken = tmp_path / "20250713" / "database.sql"
    broken.parent.mkdir()
    broken.write_text("-- Dumped from database version 15.13\nCREATE SCHEMA hg_drill_test;\n"
                      "CREATE TABLE hg_drill_test.events (id int);\nINSERT INTO hg_drill_test.nope VALUES (1);\n")
    outcome = drill(target, str(broken))
    assert outcome.status == "failed", outcome
    assert f"restore drill of {broken}: restore failed: psql exited with 3" in outcome.message
    assert 'relation "hg_drill_test.nope" does not exist' in outcome.message


def test_a_backup_missing_rows_fails_naming_the_table(stack, admin, target, tmp_path):
    dump(stack, tmp_path / "20250713" / "database.sql.gz", fmt="gzip")
    admin.execute(f"INSERT INTO {EVENTS} SELECT g, now() FROM generate_series(1001, 1100) g")  # 10 % newer rows
    outcome = drill(target, str(tmp_path / "*" / "database.sql.gz"))
    assert outcome.status == "failed", outcome
    row = next(line for line in outcome.message.splitlines() if f"rows {EVENTS}" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")] == [f"rows {EVENTS}", "1100", "1000", "-100",
                                                                    "-55", "FAIL"]
    assert drill(target, str(tmp_path / "*" / "database.sql.gz"), tolerance="10%").status == "passed"


def test_without_docker_the_drill_is_broken(admin, target, tmp_path, monkeypatch):
    dump_path = tmp_path / "20250713" / "database.sql"
    dump_path.parent.mkdir()
    dump_path.write_text("-- Dumped from database version 15.13\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    outcome = drill(target, str(dump_path))
    assert outcome.status == "broken", outcome
    assert "the restore drill needs a Docker daemon" in outcome.message


@pytest.mark.xdist_group("redis-server")
def test_a_redis_rdb_loads_into_a_throwaway_server(stack, tmp_path):
    env = stack.env()
    admin = stack.redis_admin()
    redis_target = make_target("redis", {"url": env["STACK_REDIS_MONITOR_URL"]})
    rdb = tmp_path / "20250713" / "redis.rdb"
    rdb.parent.mkdir()
    try:
        admin.mset({f"hg-drill:{i}": i for i in range(50)})
        subprocess.run(["redis-cli", "-h", env["STACK_REDIS_HOST"], "-p", env["STACK_REDIS_PORT"], "--no-auth-warning",
                        "-a", env["STACK_REDIS_PASSWORD"], "--rdb", str(rdb)], check=True, capture_output=True,
                       timeout=60)
        data_safety = DataSafety.model_validate(
            {"restore_drill": {"redis": {"test": {"rdb_glob": str(tmp_path / "*" / "redis.rdb")}}}})
        outcome = run_check(checks.test_redis_restore_drill, redis_target,
                            data_safety=DataSafetyRun("stack", data_safety))
        assert outcome.status == "passed", outcome
        restore = next(o for o in outcome.record.observations if o.subject == "restore_s")
        print(f"redis: RDB loaded in {restore.observed} s")
        rdb.write_bytes(rdb.read_bytes()[:20])  # truncated: redis-server refuses it and exits
        broken = run_check(checks.test_redis_restore_drill, redis_target,
                           data_safety=DataSafetyRun("stack", data_safety))
        assert broken.status == "failed", broken
        assert f"restore drill of {rdb}: load failed" in broken.message
    finally:
        keys = list(admin.scan_iter(match="hg-drill:*"))
        if keys:
            admin.delete(*keys)
        admin.close()
        redis_target.close()
