"""Every PostgreSQL check against real servers: passes when healthy, fails with its message once the fault is made
through the server itself (real sessions, locks, indexes, transaction IDs), passes again once repaired.

Faults that would disturb other tests (a nearly full connection pool, a stopped or frozen server) use a private
one-component stack; the others use the shared stack's server and undo themselves in ``finally``.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import checks.test_postgres as checks
from healthgate.check import spec_of
from healthgate.errors import AuthFailed, PermissionMissing, PoolExhausted, TargetDown, Unreachable
from healthgate.stack.stack import Stack
from healthgate.targets.base import Target, Timeouts
from healthgate.targets.postgres.client import Client as PostgresClient
from healthgate.testing import Outcome, make_target, run_check
from tests.polling import eventually

# Faults change the shared server: under `-n --dist loadgroup` these tests run one after another.
pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("postgres-server")]

ALL_CHECKS = [getattr(checks, name) for name in dir(checks) if spec_of(getattr(checks, name)) is not None]
SMALL_MAX_CONNECTIONS = 20
MIGRATIONS = {"table": "schema_migrations", "expected": "20250713_01"}


# ------------------------------------------------------------------------------------------------ helpers


def pg_target(stack: Stack, *, admin: bool = False, dsn: str | None = None, timeouts: Timeouts | None = None,
              **settings: Any) -> Target:
    env = stack.env()
    dsn = dsn or env["STACK_POSTGRES_DSN" if admin else "STACK_POSTGRES_MONITOR_DSN"]
    return make_target("postgres", {"dsn": dsn, **settings}, timeouts=timeouts)


def run(check: Callable[..., Any], stack: Stack, **settings: Any) -> Outcome:
    target = pg_target(stack, **settings)
    try:
        return run_check(check, target)
    finally:
        target.close()


def with_dbname(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


def with_user(dsn: str, user: str, password: str) -> str:
    return make_conninfo(dsn, user=user, password=password)




def assert_outcome(outcome: Outcome, status: str, pattern: str = "") -> None:
    __tracebackhide__ = True
    assert outcome.status == status, outcome
    if pattern:
        assert re.search(pattern, outcome.message), f"{pattern!r} not in {outcome.message!r}"


@contextlib.contextmanager
def session(dsn: str, *, autocommit: bool = True) -> Iterator[psycopg.Connection[Any]]:
    conn = psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5, application_name="healthgate-test")
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def running_in_background(dsn: str, statement: str) -> Iterator[int]:
    """Run ``statement`` in its own session on a thread; yields the session's pid, cancels it on exit so the
    statement never completes (and never lands in pg_stat_statements)."""
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5, application_name="healthgate-test")
    (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone() or (0,)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            conn.execute(statement)
        except psycopg.errors.QueryCanceled:
            pass
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield pid
    finally:
        with session(dsn) as admin:
            admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(10)
        conn.close()
    assert not errors, errors


def activity_seconds(admin: psycopg.Connection[Any], pid: int, column: str) -> float:
    row = admin.execute(f"SELECT extract(epoch FROM now() - {column})::float8 FROM pg_stat_activity WHERE pid = %s",
                        (pid,)).fetchone()
    return float(row[0]) if row and row[0] is not None else -1.0


@pytest.fixture
def admin(stack: Stack) -> Iterator[psycopg.Connection[Any]]:
    with session(stack.postgres_admin_dsn()) as conn:
        yield conn


@pytest.fixture(scope="module")
def small_server() -> Iterator[Stack]:
    """A private PostgreSQL whose max_connections is lowered to 20, for faults that would hurt shared tests."""
    own = Stack(["postgres"])
    own.start()
    try:
        with session(own.postgres_admin_dsn()) as conn:
            conn.execute(f"ALTER SYSTEM SET max_connections = {SMALL_MAX_CONNECTIONS}")
        own.stop_component("postgres")
        own.start_component("postgres")
        yield own
    finally:
        own.stop()


# ------------------------------------------------------------------------------------------------- healthy


def test_every_check_passes_on_the_healthy_server(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    # The daily maintenance of the operations guide; a fresh server's small tables were never vacuumed.
    admin.execute("VACUUM ANALYZE")
    # The one grant beyond pg_monitor the checks need, documented in the runbook.
    admin.execute("GRANT SELECT ON schema_migrations TO healthgate")
    target = pg_target(stack, expected_major_version=15, migrations=MIGRATIONS, max_database_size="1GiB")
    try:
        outcomes = {fn.__name__: run_check(fn, target) for fn in ALL_CHECKS}
    finally:
        target.close()
    statuses = {name: o.status for name, o in outcomes.items()}
    expected = {name: "passed" for name in statuses}
    expected["test_replication"] = "skipped"  # a primary without standbys, none expected
    assert statuses == expected, {n: o for n, o in outcomes.items() if o.status != expected[n]}
    assert "primary without standbys" in outcomes["test_replication"].message
    assert target.connect_attempts == 1, "every check of a target must share one connection"


def test_reachable_reports_the_version_and_judges_the_major(stack: Stack) -> None:
    outcome = run(checks.test_reachable, stack)
    assert_outcome(outcome, "passed")
    assert any("PostgreSQL 15" in text for _, text in outcome.record.evidence), outcome.record.evidence
    assert_outcome(run(checks.test_reachable, stack, expected_major_version=16), "failed",
                   r"^postgres:test: major_version \(15\) == 16 — the server runs 15\.")


# ------------------------------------------------------------------------------------------ session faults


@contextlib.contextmanager
def ordinary_role(admin_dsn: str, name: str = "healthgate_app") -> Iterator[str]:
    """A plain login like an application's (no superuser, no reserved slots); yields its DSN."""
    password = "app-password-1"
    with session(admin_dsn) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {name}")
        admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    try:
        yield with_user(admin_dsn, name, password)
    finally:
        with session(admin_dsn) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'")
            admin.execute(f"DROP ROLE IF EXISTS {name}")


def ordinary_slots(admin_dsn: str) -> int:
    with session(admin_dsn) as admin:
        row = admin.execute("SELECT current_setting('max_connections')::int - "
                            "current_setting('superuser_reserved_connections')::int - "
                            "coalesce(current_setting('reserved_connections', true), '0')::int").fetchone()
    assert row is not None
    return int(row[0])


def test_connections_judge_the_slots_ordinary_roles_can_use(small_server: Stack) -> None:
    """20 slots, 3 reserved for superusers: the application and the monitoring login share 17, so 17 sessions are a
    full pool, not 85 % of one."""
    admin_dsn = small_server.postgres_admin_dsn()
    slots = ordinary_slots(admin_dsn)
    assert slots == SMALL_MAX_CONNECTIONS - 3
    assert_outcome(run(checks.test_connections, small_server), "passed")
    with ordinary_role(admin_dsn) as app_dsn:
        held = [psycopg.connect(app_dsn, autocommit=True, connect_timeout=5) for _ in range(slots - 1)]
        try:
            # The application holds 16, the check's own login takes the last ordinary slot.
            outcome = run(checks.test_connections, small_server)
            assert_outcome(outcome, "failed",
                           r"^postgres:test: connections_used_pct \(100 %\) < 90 % — 17 client sessions \(active: 1, "
                           r"idle: 16\) of the 17 slots ordinary roles can use \(max_connections 20 − 3 "
                           r"superuser_reserved_connections\): look for a connection leak")
        finally:
            for conn in held:
                conn.close()
    assert_outcome(run(checks.test_connections, small_server), "passed")


def test_login_refused_for_lack_of_slots_fails_the_connection_check(small_server: Stack) -> None:
    """When ordinary roles hold every slot they can use, the monitoring login is refused: the connection check
    fails saying so, whichever check met the refusal first; the other checks could not check, with that reason."""
    admin_dsn = small_server.postgres_admin_dsn()
    with ordinary_role(admin_dsn) as app_dsn:
        held = [psycopg.connect(app_dsn, autocommit=True, connect_timeout=5) for _ in range(ordinary_slots(admin_dsn))]
        try:
            refusal = (r"login \(refused: remaining connection slots are reserved for non-replication superuser "
                       r"connections\) == accepted — every connection slot ordinary roles can use is taken")
            # The connection check first: it meets the refusal itself.
            outcome = run(checks.test_connections, small_server)
            assert_outcome(outcome, "failed", rf"^postgres:test: {refusal}")
            # Another check first, as in a run (test_reachable is collected first): it could not check, and the
            # connection check still judges the refusal it recorded, without a second login.
            target = pg_target(small_server)
            try:
                first = run_check(checks.test_reachable, target)
                assert_outcome(first, "broken", r"^postgresql://127\.0\.0\.1:\d+/app refused the login of healthgate: "
                                                r".*remaining connection slots are reserved .* — every connection "
                                                r"slot open to this role is taken: the pool is exhausted")
                assert isinstance(first.exception, PoolExhausted)
                assert_outcome(run_check(checks.test_connections, target), "failed", rf"^postgres:test: {refusal}")
                later = run_check(checks.test_blocked_locks, target)
                assert_outcome(later, "broken", r"^postgres:test had no connection slot left for us earlier in this "
                                                r"run: .*remaining connection slots are reserved")
                assert target.connect_attempts == 1
            finally:
                target.close()
        finally:
            for conn in held:
                conn.close()
    assert_outcome(run(checks.test_connections, small_server), "passed")


def test_idle_in_transaction_session_fails(stack: Stack) -> None:
    instant = {"thresholds": {"idle_in_transaction": "0s"}}
    assert_outcome(run(checks.test_idle_in_transaction, stack, **instant), "passed")
    with session(stack.postgres_admin_dsn(), autocommit=False) as forgotten:
        forgotten.execute("SELECT count(*) FROM detections")  # opens a transaction and leaves it open
        pid = forgotten.info.backend_pid
        outcome = run(checks.test_idle_in_transaction, stack, **instant)
        assert_outcome(outcome, "failed",
                       rf"^postgres:test: idle_in_transaction_sessions \(1\) <= 0 — sessions idle in a transaction "
                       rf"for more than 0ms; oldest: pid {pid} postgres@")
        assert "SELECT count(*) FROM detections" in outcome.message
        # The seed threshold of 10 minutes is not reached by a transaction a second old.
        assert_outcome(run(checks.test_idle_in_transaction, stack), "passed")
        forgotten.rollback()
    assert_outcome(run(checks.test_idle_in_transaction, stack, **instant), "passed")


def test_long_running_query_fails(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    short = {"thresholds": {"longest_query": "1s"}}
    assert_outcome(run(checks.test_long_running_queries, stack, **short), "passed")
    with running_in_background(stack.postgres_admin_dsn(), "SELECT pg_sleep(60)") as pid:
        eventually(lambda: activity_seconds(admin, pid, "query_start"), lambda s: s > 1.5, 10, "pg_sleep running")
        outcome = run(checks.test_long_running_queries, stack, **short)
        assert_outcome(outcome, "failed",
                       rf"^postgres:test: longest_query_s \(\d+(\.\d)? s\) <= 1 s — pid {pid} postgres@.* active "
                       r"\d+s: SELECT pg_sleep\(60\)")
    assert_outcome(run(checks.test_long_running_queries, stack, **short), "passed")


def test_blocked_lock_fails(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    admin.execute("CREATE TABLE IF NOT EXISTS healthgate_lock_probe (id int)")
    short = {"thresholds": {"lock_wait": "1s"}}
    dsn = stack.postgres_admin_dsn()
    try:
        assert_outcome(run(checks.test_blocked_locks, stack, **short), "passed")
        with session(dsn, autocommit=False) as holder:
            holder.execute("LOCK TABLE healthgate_lock_probe IN ACCESS EXCLUSIVE MODE")
            holder_pid = holder.info.backend_pid
            with running_in_background(dsn, "SELECT count(*) FROM healthgate_lock_probe") as waiter:
                eventually(lambda: activity_seconds(admin, waiter, "query_start"), lambda s: s > 1.5, 10,
                           "lock wait")
                outcome = run(checks.test_blocked_locks, stack, **short)
                assert_outcome(outcome, "failed",
                               rf"^postgres:test: longest_lock_wait_s \(\d+(\.\d)? s\) <= 1 s — pid {waiter} "
                               rf"\(postgres\) waits \d+s for AccessShareLock on relation healthgate_lock_probe, "
                               rf"blocked by {holder_pid}: SELECT count")
            holder.rollback()
        assert_outcome(run(checks.test_blocked_locks, stack, **short), "passed")
    finally:
        admin.execute("DROP TABLE IF EXISTS healthgate_lock_probe")


# ------------------------------------------------------------------------------------------ replication


def test_replication_judges_role_and_expected_standbys(stack: Stack) -> None:
    assert_outcome(run(checks.test_replication, stack, min_standbys=1), "failed",
                   r"^postgres:test: streaming_standbys \(0\) >= 1 — a standby is down")
    assert_outcome(run(checks.test_replication, stack, role="standby"), "failed",
                   r"^postgres:test: role \(primary\) == standby — a failover")
    assert_outcome(run(checks.test_replication, stack, role="primary"), "skipped", "min_standbys: 0")


@dataclass
class ReplicatedPair:
    primary: Stack
    standby: Any  # docker SDK container of the standby
    standby_dsn: str  # monitoring login, on the standby's published port
    standby_admin_dsn: str

    def primary_target(self, **settings: Any) -> Target:
        return pg_target(self.primary, **settings)

    def standby_target(self, **settings: Any) -> Target:
        return pg_target(self.primary, dsn=self.standby_dsn, **settings)


STANDBY_SCRIPT = """
set -e
# A restarted standby keeps its data directory and resumes streaming.
[ -s "$PGDATA/PG_VERSION" ] || pg_basebackup --host=postgres --username=postgres --pgdata="$PGDATA" \
    --wal-method=stream --write-recovery-conf --checkpoint=fast --no-password
exec postgres -D "$PGDATA" -c hot_standby=on -c wal_receiver_status_interval=1s -c wal_retrieve_retry_interval=1s
"""


@pytest.fixture(scope="module")
def replicated() -> Iterator[ReplicatedPair]:
    """A private primary and a real streaming standby made from it with pg_basebackup, on the primary's network."""
    from healthgate.stack.images import resolve_image
    from healthgate.stack.stack import STACK_LABEL, docker_client

    primary = Stack(["postgres"])
    primary.start()
    try:
        # Replication connections need their own pg_hba line ("all" does not cover them).
        code, output = primary.exec("postgres", ["bash", "-c", "echo 'host replication all all scram-sha-256' >> "
                                                              "/var/lib/postgresql/data/pg_hba.conf"])
        assert code == 0, output
        with session(primary.postgres_admin_dsn()) as conn:
            conn.execute("SELECT pg_reload_conf()")
        container = primary.docker_container("postgres")
        network = next(iter(container.attrs["NetworkSettings"]["Networks"]))
        env = primary.env()
        standby = docker_client().containers.run(
            resolve_image("postgres"),
            entrypoint=["bash", "-c", STANDBY_SCRIPT],
            user="postgres",
            environment={"PGPASSWORD": env["STACK_POSTGRES_PASSWORD"], "PGDATA": "/var/lib/postgresql/data"},
            network=network,
            ports={"5432/tcp": ("127.0.0.1", free_port())},  # fixed, so it survives a restart
            labels={STACK_LABEL: primary.stack_id},  # removed with the primary's stack
            name=f"healthgate-{primary.stack_id}-standby",
            detach=True,
        )

        def published_port() -> int | None:
            standby.reload()
            bindings = (standby.attrs["NetworkSettings"]["Ports"] or {}).get("5432/tcp") or []
            return int(bindings[0]["HostPort"]) if bindings else None

        port = eventually(published_port, lambda p: p is not None, 10, "standby port published")
        monitor = make_conninfo(env["STACK_POSTGRES_MONITOR_DSN"], port=port)
        admin_dsn = make_conninfo(env["STACK_POSTGRES_DSN"], port=port)

        def in_recovery() -> Any:
            try:
                with session(admin_dsn) as conn:
                    return conn.execute("SELECT pg_is_in_recovery()").fetchone()
            except psycopg.OperationalError as exc:
                return str(exc).strip()[-200:]

        eventually(in_recovery, lambda r: r == (True,), 60,
                   "standby answering (logs: " + standby.logs(tail=5).decode(errors="replace") + ")")
        yield ReplicatedPair(primary, standby, monitor, admin_dsn)
    finally:
        primary.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def replication_outcome(target_factory: Callable[..., Target], **settings: Any) -> Outcome:
    target = target_factory(**settings)
    try:
        return run_check(checks.test_replication, target)
    finally:
        target.close()


def test_replication_passes_with_a_streaming_standby(replicated: ReplicatedPair) -> None:
    eventually(lambda: replication_outcome(replicated.primary_target, min_standbys=1, role="primary"),
               lambda o: o.status == "passed", 20, "primary sees its standby streaming")
    outcome = replication_outcome(replicated.standby_target, role="standby")
    assert_outcome(outcome, "passed")
    assert any("status: streaming" in text for _, text in outcome.record.evidence), outcome.record.evidence
    assert_outcome(replication_outcome(replicated.standby_target, role="primary"), "failed",
                   r"^postgres:test: role \(standby\) == primary — a failover or promotion happened")


def test_replication_fails_when_standby_replay_lags(replicated: ReplicatedPair) -> None:
    short = {"thresholds": {"replication_lag": "1s"}}
    with session(replicated.standby_admin_dsn) as standby_admin, \
            session(replicated.primary.postgres_admin_dsn()) as primary_admin:
        primary_admin.execute("CREATE TABLE IF NOT EXISTS healthgate_replicated (id int)")
        primary_admin.execute("INSERT INTO healthgate_replicated VALUES (1)")
        # Lag is measured from the last replayed transaction: let the standby replay one first.
        eventually(lambda: standby_admin.execute("SELECT pg_last_xact_replay_timestamp() IS NOT NULL").fetchone(),
                   lambda r: r == (True,), 15, "standby replayed a transaction")
        standby_admin.execute("SELECT pg_wal_replay_pause()")
        try:
            primary_admin.execute("INSERT INTO healthgate_replicated VALUES (2)")
            outcome = eventually(lambda: replication_outcome(replicated.standby_target, **short),
                                 lambda o: o.status == "failed", 15, "standby lag over 1 s")
            assert_outcome(outcome, "failed", r"^postgres:test: replay_lag_s \(\d+(\.\d)? s\) <= 1 s — replay is "
                                              r"paused: SELECT pg_wal_replay_resume\(\)")
        finally:
            standby_admin.execute("SELECT pg_wal_replay_resume()")
    eventually(lambda: replication_outcome(replicated.standby_target, **short), lambda o: o.status == "passed", 15,
               "standby caught up")


def test_replication_fails_when_the_standby_is_down(replicated: ReplicatedPair) -> None:
    replicated.standby.stop(timeout=10)
    try:
        outcome = eventually(lambda: replication_outcome(replicated.primary_target, min_standbys=1),
                             lambda o: o.status == "failed", 15, "primary notices the standby is gone")
        assert_outcome(outcome, "failed", r"^postgres:test: streaming_standbys \(0\) >= 1 — a standby is down")
    finally:
        replicated.standby.start()
    eventually(lambda: replication_outcome(replicated.primary_target, min_standbys=1),
               lambda o: o.status == "passed", 60, "standby streaming again")


def test_replication_fails_on_the_standby_when_the_primary_is_down(replicated: ReplicatedPair) -> None:
    eventually(lambda: replication_outcome(replicated.standby_target), lambda o: o.status == "passed", 60,
               "standby streaming")
    replicated.primary.stop_component("postgres")
    try:
        outcome = eventually(lambda: replication_outcome(replicated.standby_target),
                             lambda o: o.status == "failed", 20, "standby notices the primary is gone")
        assert_outcome(outcome, "failed", r"^postgres:test: wal_receiver_status \((None|\w+)\) == streaming — the "
                                          r"standby does not receive WAL from its primary")
    finally:
        replicated.primary.start_component("postgres")
    eventually(lambda: replication_outcome(replicated.standby_target), lambda o: o.status == "passed", 60,
               "standby streaming again")


# ------------------------------------------------------------------------------------------ statement times


def test_query_time_fails_on_slow_statements(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    admin.execute("SELECT pg_stat_statements_reset()")
    try:
        for _ in range(5):
            admin.execute("SELECT count(*) FROM detections")
        assert_outcome(run(checks.test_query_time, stack), "passed")
        for _ in range(12):
            admin.execute("SELECT pg_sleep(0.25)")
        outcome = run(checks.test_query_time, stack)
        assert_outcome(outcome, "failed",
                       r"^postgres:test: query_p95_ms \(2\d\d(\.\d)? ms\) <= 100 ms — slowest: 2\d\d ms × 12: "
                       r"SELECT pg_sleep\(\$1\)")
    finally:
        admin.execute("SELECT pg_stat_statements_reset()")
    assert_outcome(run(checks.test_query_time, stack), "passed")


def test_query_time_warns_when_pg_stat_statements_is_missing(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    admin.execute("DROP DATABASE IF EXISTS healthgate_no_pgss WITH (FORCE)")
    admin.execute("CREATE DATABASE healthgate_no_pgss")
    try:
        dsn = with_dbname(stack.env()["STACK_POSTGRES_MONITOR_DSN"], "healthgate_no_pgss")
        outcome = run(checks.test_query_time, stack, dsn=dsn)
        assert_outcome(outcome, "passed")
        assert outcome.record.warnings == [
            "pg_stat_statements not installed: CREATE EXTENSION pg_stat_statements (and add it to "
            "shared_preload_libraries) to judge query time"]
    finally:
        admin.execute("DROP DATABASE IF EXISTS healthgate_no_pgss WITH (FORCE)")


# ------------------------------------------------------------------------------------------ maintenance


def test_database_size_fails_when_data_outgrows_the_limit(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    (size,) = admin.execute("SELECT pg_database_size(current_database())").fetchone() or (0,)
    limit = {"max_database_size": int(size) + 4 * 1024**2}
    assert_outcome(run(checks.test_database_size, stack, **limit), "passed")
    try:
        admin.execute("CREATE TABLE healthgate_ballast AS SELECT repeat(md5(i::text), 8) AS pad "
                      "FROM generate_series(1, 40000) i")  # about 11 MiB
        assert_outcome(run(checks.test_database_size, stack, **limit), "failed",
                       r"^postgres:test: database_size_mib \(\d+(\.\d)? MiB\) < \d+(\.\d)? MiB — find the biggest")
    finally:
        admin.execute("DROP TABLE IF EXISTS healthgate_ballast")
    assert_outcome(run(checks.test_database_size, stack, **limit), "passed")


def test_never_vacuumed_table_fails(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    admin.execute("DROP TABLE IF EXISTS healthgate_never_vacuumed")
    # Autovacuum off for this table only, so it stays never vacuumed for as long as the test needs.
    admin.execute("CREATE TABLE healthgate_never_vacuumed (id int, pad text) WITH (autovacuum_enabled = false)")
    try:
        admin.execute("INSERT INTO healthgate_never_vacuumed SELECT i, repeat('x', 200) "
                      "FROM generate_series(1, 20000) i")
        admin.execute("SELECT pg_stat_force_next_flush()")  # else the row counts reach the views within 10 s
        named = {"tables": ["public.healthgate_never_vacuumed"]}

        def check_named() -> Outcome:
            return run(checks.test_vacuum_analyze, stack, **named)

        outcome = eventually(check_named, lambda o: o.status == "failed", 15, "statistics show the new rows")
        assert_outcome(outcome, "failed",
                       r"^postgres:test: tables_not_maintained \(\['public\.healthgate_never_vacuumed \(never "
                       r"vacuumed, never analyzed; 20000 rows\)'\]\) == \[\] — autovacuum")
        # Without `tables`, the largest tables are checked, and the new one is the largest.
        assert_outcome(run(checks.test_vacuum_analyze, stack), "failed", r"public\.healthgate_never_vacuumed")
        admin.execute("VACUUM ANALYZE healthgate_never_vacuumed")
        eventually(check_named, lambda o: o.status == "passed", 15, "statistics show the vacuum")
    finally:
        admin.execute("DROP TABLE IF EXISTS healthgate_never_vacuumed")


def freeze_every_database(admin_dsn: str) -> None:
    with session(admin_dsn) as admin:
        names = [r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datallowconn")]
    for name in names:
        with session(with_dbname(admin_dsn, name)) as conn:
            conn.execute("VACUUM (FREEZE)")


def test_xid_wraparound_headroom_shrinks_with_consumed_transaction_ids(stack: Stack,
                                                                       admin: psycopg.Connection[Any]) -> None:
    """Real transaction IDs are consumed; the limit is set just above today's age since 2^30 of them would take
    hours to burn."""
    (oldest,) = admin.execute("SELECT max(age(datfrozenxid)) FROM pg_database WHERE datallowconn").fetchone() or (0,)
    pct = 100.0 * (int(oldest) + 400) / 2**31
    settings = {"thresholds": {"xid_age_pct": pct}}
    assert_outcome(run(checks.test_xid_wraparound, stack, **settings), "passed")
    try:
        for _ in range(800):
            admin.execute("SELECT txid_current()")  # each autocommit statement is a transaction with its own ID
        assert_outcome(run(checks.test_xid_wraparound, stack, **settings), "failed",
                       r"^postgres:test: xid_age_pct\[\w+\] \([\d.e-]+ %\) < [\d.e-]+ % — \d+ transactions since the "
                       r"oldest unfrozen row: run VACUUM \(FREEZE\)")
    finally:
        freeze_every_database(stack.postgres_admin_dsn())
    assert_outcome(run(checks.test_xid_wraparound, stack, **settings), "passed")


def test_invalid_index_fails(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    admin.execute("DROP TABLE IF EXISTS healthgate_dupes")
    admin.execute("CREATE TABLE healthgate_dupes (v int)")
    try:
        admin.execute("INSERT INTO healthgate_dupes VALUES (1), (1)")
        assert_outcome(run(checks.test_invalid_indexes, stack), "passed")
        with pytest.raises(psycopg.errors.UniqueViolation):
            admin.execute("CREATE UNIQUE INDEX CONCURRENTLY healthgate_dupes_v ON healthgate_dupes (v)")
        assert_outcome(run(checks.test_invalid_indexes, stack), "failed",
                       r"^postgres:test: invalid_indexes \(\['public\.healthgate_dupes_v'\]\) == \[\] — queries do "
                       r"not use them")
    finally:
        admin.execute("DROP TABLE IF EXISTS healthgate_dupes")
    assert_outcome(run(checks.test_invalid_indexes, stack), "passed")


# ------------------------------------------------------------------------------------------ schema version


def test_schema_version_fails_on_another_migration(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    admin.execute("GRANT SELECT ON schema_migrations TO healthgate")
    assert_outcome(run(checks.test_schema_version, stack), "skipped", "no `migrations:` configured")
    assert_outcome(run(checks.test_schema_version, stack, migrations=MIGRATIONS), "passed")
    try:
        admin.execute("INSERT INTO schema_migrations VALUES ('20250801_01')")  # a newer release's migration ran
        assert_outcome(run(checks.test_schema_version, stack, migrations=MIGRATIONS), "failed",
                       r"^postgres:test: schema_version \(20250801_01\) == 20250713_01 — migrations not applied")
    finally:
        admin.execute("DELETE FROM schema_migrations WHERE version = '20250801_01'")
    assert_outcome(run(checks.test_schema_version, stack, migrations=MIGRATIONS), "passed")


# ------------------------------------------------------------------------------------------ access


def test_session_is_read_only_with_timeouts(stack: Stack) -> None:
    target = pg_target(stack, admin=True, timeouts=Timeouts(connect=3, read=4))
    try:
        target.client.server()
        client = target._client
        assert isinstance(client, PostgresClient)
        conn = client._connection()
        settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                     "('default_transaction_read_only', 'statement_timeout', 'lock_timeout')"))
        assert settings == {"default_transaction_read_only": "on", "statement_timeout": "4000",
                            "lock_timeout": "2000"}
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("healthgate",)
        # Even the superuser DSN cannot write through the suite's session.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO detections (species) VALUES ('Plecotus auritus')")
    finally:
        target.close()


def test_missing_privileges_are_reported_with_the_grant(stack: Stack, admin: psycopg.Connection[Any]) -> None:
    admin.execute("DROP ROLE IF EXISTS healthgate_plain")
    admin.execute("CREATE ROLE healthgate_plain LOGIN PASSWORD 'plain-password-1'")
    try:
        dsn = with_user(stack.postgres_admin_dsn(), "healthgate_plain", "plain-password-1")
        outcome = run(checks.test_idle_in_transaction, stack, dsn=dsn)
        assert_outcome(outcome, "broken", r"healthgate_plain cannot see other roles' sessions .* — "
                                          r"GRANT pg_monitor TO healthgate_plain")
        assert isinstance(outcome.exception, PermissionMissing)
        outcome = run(checks.test_schema_version, stack, dsn=dsn, migrations=MIGRATIONS)
        assert_outcome(outcome, "broken", r"permission denied for table schema_migrations — "
                                          r"GRANT SELECT ON schema_migrations TO healthgate_plain$")
        assert isinstance(outcome.exception, PermissionMissing)
    finally:
        admin.execute("DROP ROLE IF EXISTS healthgate_plain")


def test_refused_password_is_auth_failed_and_never_shown(stack: Stack) -> None:
    env = stack.env()
    parts = conninfo_to_dict(env["STACK_POSTGRES_MONITOR_DSN"])
    dsn = make_conninfo(env["STACK_POSTGRES_MONITOR_DSN"], password="wrong-password-123")
    outcome = run(checks.test_reachable, stack, dsn=dsn)
    assert_outcome(outcome, "broken", r"refused the login of healthgate: .*password authentication failed")
    assert isinstance(outcome.exception, AuthFailed)
    assert "wrong-password-123" not in outcome.message
    assert str(parts["password"]) not in outcome.message


def test_stopped_server_is_unreachable_once_then_fails_fast(small_server: Stack) -> None:
    target = pg_target(small_server, timeouts=Timeouts(connect=2, read=3))
    try:
        small_server.stop_component("postgres")
        started = time.monotonic()
        first = run_check(checks.test_reachable, target)
        assert_outcome(first, "broken", r"^connecting to postgresql://127\.0\.0\.1:\d+/app failed: .*"
                                        r"— is the server up")
        assert isinstance(first.exception, Unreachable)
        assert target.connect_attempts == 1
        second = run_check(checks.test_connections, target)
        assert_outcome(second, "broken", r"^postgres:test was found unreachable earlier in this run: connecting to")
        assert isinstance(second.exception, TargetDown)
        assert target.connect_attempts == 1, "the second check must not try to connect again"
        assert time.monotonic() - started < 5
    finally:
        target.close()
        small_server.start_component("postgres")
    assert_outcome(run(checks.test_reachable, small_server), "passed")


def test_frozen_server_times_out_instead_of_hanging(small_server: Stack) -> None:
    target = pg_target(small_server, timeouts=Timeouts(connect=2, read=1))
    try:
        assert_outcome(run_check(checks.test_reachable, target), "passed")
        small_server.pause("postgres")
        started = time.monotonic()
        try:
            outcome = run_check(checks.test_connections, target)
        finally:
            elapsed = time.monotonic() - started
            small_server.unpause("postgres")
        assert_outcome(outcome, "broken", r"did not answer within 1 s read timeout")
        assert elapsed < 6, f"took {elapsed:.1f} s"
    finally:
        target.close()
    assert_outcome(run(checks.test_connections, small_server), "passed")


# ------------------------------------------------------------------------------------------------- data safety
# A baseline reads through the same client as the checks, so it gets the same protections.


def _baseline_run() -> Any:
    from healthgate.data_safety.context import DataSafetyRun
    from healthgate.data_safety.settings import DataSafety

    return DataSafetyRun("stack", DataSafety.model_validate(
        {"baseline": {"postgres": {"test": {"exact_tables": ["schema_migrations"]}}}}))


def test_a_baseline_of_a_frozen_server_is_could_not_check_within_the_watchdog_bound(small_server: Stack) -> None:
    import checks.test_baseline as data_checks

    target = pg_target(small_server, admin=True, timeouts=Timeouts(connect=2, read=1))
    try:
        assert_outcome(run_check(checks.test_reachable, target), "passed")
        small_server.pause("postgres")
        started = time.monotonic()
        try:
            outcome = run_check(data_checks.test_postgres_baseline_recorded, target, data_safety=_baseline_run())
        finally:
            elapsed = time.monotonic() - started
            small_server.unpause("postgres")
        assert_outcome(outcome, "broken", r"did not answer within 1 s read timeout")
        assert elapsed < 6, f"took {elapsed:.1f} s"
    finally:
        target.close()


def test_a_baseline_of_a_target_already_down_opens_no_new_connection(small_server: Stack) -> None:
    import checks.test_baseline as data_checks

    small_server.stop_component("postgres")
    target = pg_target(small_server, admin=True, timeouts=Timeouts(connect=2, read=2))
    try:
        assert_outcome(run_check(checks.test_reachable, target), "broken", r"connecting to .* failed")
        assert target.connect_attempts == 1
        outcome = run_check(data_checks.test_postgres_baseline_recorded, target, data_safety=_baseline_run())
        assert_outcome(outcome, "broken", r"was found unreachable earlier in this run")
        assert target.connect_attempts == 1
    finally:
        target.close()
        small_server.start_component("postgres")
    assert_outcome(run(checks.test_reachable, small_server), "passed")
