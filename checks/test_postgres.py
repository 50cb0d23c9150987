"""PostgreSQL: reachability, connections, sessions, locks, replication, statement times, maintenance, schema.

Every check but the schema-version one needs only a monitoring login: ``GRANT pg_monitor TO healthgate`` and
CONNECT on the database. Sessions are read-only (default_transaction_read_only=on) with statement and lock timeouts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthgate.check import ALL, DAILY, POST, PRE, check
from healthgate.errors import PoolExhausted, TargetDown, Unreachable
from healthgate.expect import evidence, expect, fail, note
from healthgate.targets.postgres.facts import stale_tables
from healthgate.units import format_duration, format_size

if TYPE_CHECKING:
    from healthgate.targets.postgres import PostgresTarget


@check(phases=ALL, severity="critical", runbook="reachable")
def test_reachable(postgres: PostgresTarget):
    """The server accepts a connection and answers a query; its major version is the expected one, if set
    (needs CONNECT)."""
    server = postgres.client.server()
    evidence("query", "SELECT 1, server_version, pg_is_in_recovery()")
    evidence("server", f"PostgreSQL {server.version} ({'standby' if server.in_recovery else 'primary'}), "
                       f"database {server.database} as {server.user}")
    expected = postgres.settings.expected_major_version
    if expected is not None:
        expect(postgres, "major_version", server.major, "==", expected,
               hint=f"the server runs {server.version}: an upgrade or a failover to an older node happened, "
                    "or the profile points at the wrong server")


@check(phases=ALL, severity="critical", runbook="connections")
def test_connections(postgres: PostgresTarget):
    """Client sessions stay below the threshold share of the slots ordinary roles can use (seeds: active
    connections < 90 % of the pool): max_connections minus superuser_reserved_connections (and, from PostgreSQL 16,
    reserved_connections), since the application and the monitoring login cannot use the reserved ones. A login
    turned away for lack of a slot fails this check; the target's other checks then could not check
    (needs CONNECT; pg_monitor to see states)."""
    try:
        conns = postgres.client.connections()
    except Unreachable as exc:
        refused = _pool_exhausted(exc)
        if refused is None:
            raise
        evidence("login", str(refused))
        expect(postgres, "login", f"refused: {refused.refusal}", "==", "accepted",
               hint="every connection slot ordinary roles can use is taken: the pool is exhausted and the "
                    "application's new sessions are refused too; as an administrator (reserved slots) find who "
                    "holds them: SELECT usename, application_name, state, count(*) FROM pg_stat_activity "
                    "GROUP BY 1, 2, 3 ORDER BY 4 DESC")
        return
    states = ", ".join(f"{state}: {count}" for state, count in conns.by_state.items())
    slots = conns.describe_slots()
    evidence("pg_stat_activity", f"{conns.used} client sessions of {slots}\n{states}")
    expect(postgres, "connections_used_pct", round(conns.used_pct, 1), "<", postgres.thresholds.connections_used_pct,
           unit="%", hint=f"{conns.used} client sessions ({states}) of {slots}: look for a connection leak or an "
                          "undersized pool; once they are all taken, new logins get 'remaining connection slots "
                          "are reserved'")


def _pool_exhausted(exc: Unreachable) -> PoolExhausted | None:
    """The refused login behind ``exc``: raised now, or earlier in the run by another check of the target."""
    cause = exc.cause if isinstance(exc, TargetDown) else exc
    return cause if isinstance(cause, PoolExhausted) else None


@check(phases=ALL, severity="critical", runbook="idle-in-transaction")
def test_idle_in_transaction(postgres: PostgresTarget):
    """No session stays idle inside an open transaction longer than the threshold (seeds: 10 minutes); such
    sessions hold locks and stop vacuum (needs pg_monitor)."""
    limit = postgres.thresholds.idle_in_transaction
    sessions = postgres.client.idle_in_transaction(limit)
    evidence("sessions idle in transaction", "\n".join(s.describe() for s in sessions) or "none")
    expect(postgres, "idle_in_transaction_sessions", len(sessions), "<=",
           postgres.thresholds.max_idle_in_transaction_sessions,
           hint=f"sessions idle in a transaction for more than {format_duration(limit)}; oldest: "
                + (sessions[0].describe() if sessions else "-")
                + "; fix the application's transaction handling, pg_terminate_backend(pid) if it blocks others")


@check(phases=ALL, severity="warning", runbook="long-running-queries")
def test_long_running_queries(postgres: PostgresTarget):
    """The longest running statement has run for less than the threshold (default 5 min) (needs pg_monitor)."""
    queries = postgres.client.active_queries()
    evidence("active statements", "\n".join(s.describe() for s in queries) or "none")
    longest = queries[0].seconds if queries else 0.0
    expect(postgres, "longest_query_s", round(longest, 1), "<=", postgres.thresholds.longest_query, unit="s",
           hint=(queries[0].describe() if queries else "")
                + " — check its plan (EXPLAIN), then pg_cancel_backend(pid) if it harms others")


@check(phases=ALL, severity="critical", runbook="replication")
def test_replication(postgres: PostgresTarget):
    """On a primary, at least min_standbys standbys stream and their replay lag stays below the threshold; on a
    standby, the WAL receiver streams and replay lag stays below the threshold (seeds: replication lag < 5 s)
    (needs pg_monitor)."""
    settings = postgres.settings
    limit = postgres.thresholds.replication_lag
    server = postgres.client.server()
    actual = "standby" if server.in_recovery else "primary"
    if settings.role != "auto":
        expect(postgres, "role", actual, "==", settings.role,
               hint="a failover or promotion happened, or the profile points at the wrong server")
    if server.in_recovery:
        receiver = postgres.client.wal_receiver()
        lag = "unknown" if receiver.lag_s is None else f"{receiver.lag_s:.1f}s"
        evidence("pg_stat_wal_receiver", f"status: {receiver.status or 'no WAL receiver'}, sender "
                                         f"{receiver.sender or '-'}, replay lag {lag}, replay paused: "
                                         f"{receiver.replay_paused}")
        expect(postgres, "wal_receiver_status", receiver.status, "==", "streaming",
               hint="the standby does not receive WAL from its primary: check primary_conninfo, the network and "
                    "the primary's log; the standby's data is getting stale")
        if receiver.lag_s is None:
            note("WAL is received but no transaction was replayed since the standby started: replay lag unknown")
        else:
            expect(postgres, "replay_lag_s", round(receiver.lag_s, 1), "<=", limit, unit="s",
                   hint="replay is paused: SELECT pg_wal_replay_resume()" if receiver.replay_paused else
                        "the standby replays slower than it receives (I/O, queries on the standby in conflict "
                        "with replay)")
        return
    standbys = postgres.client.standbys()
    evidence("pg_stat_replication", "\n".join(f"{s.name or '-'} {s.client} {s.state} replay_lag="
                                              f"{'-' if s.replay_lag_s is None else f'{s.replay_lag_s:.1f}s'}"
                                              for s in standbys) or "no standby connected")
    if not standbys and settings.min_standbys == 0:
        pytest.skip("primary without standbys and none expected (min_standbys: 0)")
    streaming = [s for s in standbys if s.state == "streaming"]
    expect(postgres, "streaming_standbys", len(streaming), ">=", settings.min_standbys,
           hint="a standby is down, cannot connect or is still catching up: a failover now would lose data")
    worst = max((s.replay_lag_s or 0.0 for s in standbys), default=0.0)
    expect(postgres, "replay_lag_s", round(worst, 1), "<=", limit, unit="s",
           hint="a standby is falling behind: check its I/O, its network and long queries on it")


@check(phases=ALL, severity="warning", runbook="query-time")
def test_query_time(postgres: PostgresTarget):
    """Statement times of this database stay below the thresholds (seeds: query time < 100 ms P95), from
    pg_stat_statements since its last reset, maintenance and DDL statements (VACUUM, CREATE INDEX, COPY...) left
    out (needs pg_monitor to read every role's statements).

    The mean is weighted by calls (total_exec_time / calls). The P95 is approximate: pg_stat_statements keeps one
    mean per statement, not per-call times, so every call is taken to last its statement's mean and the P95 is the
    mean of the statement holding the 95th-percentile call.
    """
    times = postgres.client.statement_times(95.0)
    if times is None:
        evidence("pg_extension", "pg_stat_statements is not installed in this database")
        note("pg_stat_statements not installed: CREATE EXTENSION pg_stat_statements (and add it to "
             "shared_preload_libraries) to judge query time")
        return
    slowest = sorted(times.statements, key=lambda s: s.mean_ms, reverse=True)[:10]
    evidence("pg_stat_statements", f"{len(times.statements)} statements, {times.calls} calls\nslowest means:\n"
             + "\n".join(f"{s.mean_ms:.1f} ms × {s.calls}: {s.query}" for s in slowest))
    if times.mean_ms is None or times.p95_ms is None:
        note("pg_stat_statements has recorded no statement of this database since its last reset")
        return
    hint = ("slowest: " + (f"{slowest[0].mean_ms:.0f} ms × {slowest[0].calls}: {slowest[0].query[:120]}"
                           if slowest else "-") + " — EXPLAIN ANALYZE it; look for missing indexes, bloat, locks")
    expect(postgres, "query_p95_ms", round(times.p95_ms, 1), "<=", postgres.thresholds.query_p95 * 1000, unit="ms",
           hint=hint)
    expect(postgres, "query_mean_ms", round(times.mean_ms, 1), "<=", postgres.thresholds.query_mean * 1000,
           unit="ms", hint=hint)


@check(phases=(DAILY,), severity="warning", runbook="database-size")
def test_database_size(postgres: PostgresTarget):
    """The database stays below max_database_size when set (needs CONNECT). Disk use of the data directory is not
    visible over SQL without superuser: declare a `disk` target for it (seeds: disk usage < 85 %)."""
    size = postgres.client.database_size()
    evidence("pg_database_size", f"{size} bytes ({format_size(size)})")
    limit = postgres.settings.max_database_size
    if limit is None:
        note(f"database is {format_size(size)}; no max_database_size set, so its size is not judged")
        return
    expect(postgres, "database_size_mib", round(size / 2**20, 1), "<", round(limit / 2**20, 1), unit="MiB",
           hint="find the biggest relations (pg_total_relation_size), purge or archive old rows, check bloat")


@check(phases=(DAILY,), severity="warning", runbook="vacuum-analyze")
def test_vacuum_analyze(postgres: PostgresTarget):
    """The checked tables (the `tables` setting, else the largest ones) were vacuumed and analyzed within the
    thresholds (default 7 days); a table with rows never vacuumed or analyzed fails (needs CONNECT)."""
    settings = postgres.settings
    tables = postgres.client.table_maintenance(settings.tables, settings.largest_tables)
    evidence("pg_stat_user_tables", "\n".join(
        f"{t.name} {format_size(t.size)} {t.rows} rows: vacuum "
        f"{'never' if t.vacuum_age_s is None else format_duration(t.vacuum_age_s) + ' ago'}, analyze "
        f"{'never' if t.analyze_age_s is None else format_duration(t.analyze_age_s) + ' ago'}" for t in tables)
        or "no user tables")
    stale = stale_tables(tables, vacuum_age=postgres.thresholds.vacuum_age, analyze_age=postgres.thresholds.analyze_age)
    expect(postgres, "tables_not_maintained", stale, "==", [],
           hint="autovacuum does not keep up or is disabled for them (reloptions): VACUUM (ANALYZE) them, then tune "
                "autovacuum")


@check(phases=(DAILY,), severity="critical", runbook="xid-wraparound")
def test_xid_wraparound(postgres: PostgresTarget):
    """Every database's age(datfrozenxid) stays below the threshold share of 2^31 transaction IDs (default 50 %);
    at 100 % PostgreSQL stops accepting writes (needs CONNECT)."""
    ages = postgres.client.xid_ages()
    evidence("pg_database", "\n".join(f"{a.database}: age(datfrozenxid) {a.age} ({a.pct:.4f} % of 2^31)"
                                      for a in ages))
    if not ages:
        fail(postgres, "pg_database lists no database accepting connections")
    oldest = ages[0]
    expect(postgres, f"xid_age_pct[{oldest.database}]", round(oldest.pct, 6), "<", postgres.thresholds.xid_age_pct,
           unit="%", hint=f"{oldest.age} transactions since the oldest unfrozen row: run VACUUM (FREEZE) on "
                          f"{oldest.database}'s oldest tables and find what blocks autovacuum (long transactions, "
                          "abandoned replication slots, prepared transactions)")


@check(phases=(DAILY,), severity="warning", runbook="invalid-indexes")
def test_invalid_indexes(postgres: PostgresTarget):
    """No index of this database is left invalid by a failed CREATE/REINDEX CONCURRENTLY (needs CONNECT)."""
    invalid = postgres.client.invalid_indexes()
    evidence("pg_index WHERE NOT indisvalid", "\n".join(f"{i.name} on {i.table}" for i in invalid) or "none")
    expect(postgres, "invalid_indexes", [i.name for i in invalid], "==", [],
           hint="queries do not use them but writes maintain them: DROP INDEX CONCURRENTLY and create again, "
                "or REINDEX INDEX CONCURRENTLY")


@check(phases=ALL, severity="critical", runbook="blocked-locks")
def test_blocked_locks(postgres: PostgresTarget):
    """No session has waited for a lock longer than the threshold (default 30 s) (needs CONNECT; pg_monitor to
    see the waiting statements)."""
    waits = postgres.client.lock_waits()
    evidence("pg_locks WHERE NOT granted", "\n".join(w.describe() for w in waits) or "none")
    longest = waits[0].seconds if waits else 0.0
    expect(postgres, "longest_lock_wait_s", round(longest, 1), "<=", postgres.thresholds.lock_wait, unit="s",
           hint=(waits[0].describe() if waits else "")
                + " — find the blocker's transaction (pg_stat_activity), end it or pg_terminate_backend(pid)")


@check(phases=(PRE, POST), severity="critical", runbook="schema-version", applies=lambda s: s.migrations is not None)
def test_schema_version(postgres: PostgresTarget):
    """The schema is at the migration version this release expects (needs SELECT on the migrations table)."""
    migrations = postgres.settings.migrations
    if migrations is None:
        pytest.skip("no `migrations:` configured for this target")
    version = postgres.client.schema_version(migrations)
    evidence("query", f"SELECT max({migrations.column}) FROM {migrations.table} → {version}")
    expect(postgres, "schema_version", version, "==", migrations.expected,
           hint="migrations not applied (or a newer release's applied): run or roll back the migrations before "
                "going on")
