"""Restore drill (``-m restore_drill``, monthly, the runbook's test_backup_restore): the newest backup of each
configured target is restored into a throwaway server started with Docker, timed against the RTO, and its data
compared with the baseline (``--baseline PATH``) or the live server.

Needs a Docker daemon and the server images (``python -m healthgate.stack.images build postgres redis`` where no
registry answers); without Docker the drill is broken, never passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from healthgate.check import RESTORE_DRILL, check
from healthgate.data_safety import compare, fingerprints
from healthgate.data_safety.plugin import RESTORE, role
from healthgate.expect import evidence, expect, fail
from healthgate.units import format_duration, format_size

if TYPE_CHECKING:
    from healthgate.data_safety.context import DataSafetyRun
    from healthgate.targets.postgres import PostgresTarget
    from healthgate.targets.redis import RedisTarget

RESTORE_HEADERS = ("item", "reference", "restored", "change", "allowed", "verdict")


@role(RESTORE)
@check(phases=(RESTORE_DRILL,), severity="critical", runbook="restore-drill.md#postgres-restore-drill")
def test_postgres_restore_drill(postgres: PostgresTarget, data_safety: DataSafetyRun):
    """The newest PostgreSQL dump restores without error into a throwaway server of the same major version,
    within the RTO (seeds: MTTR < 15 min), with every listed table present and its rows within tolerance of the
    baseline or the live database (Docker; SELECT on the tables for a live reference)."""
    # imported here: every run collects this file, a monthly drill is the only one that needs them
    from healthgate.data_safety.restore_drill import postgres as postgres_drill
    from healthgate.data_safety.restore_drill.backup_file import DrillError

    spec = data_safety.drill_spec(postgres)
    rto = data_safety.data_safety.rto
    try:
        result = postgres_drill.run_drill(spec, timeouts=postgres.timeouts)
    except DrillError as exc:
        fail(postgres, exc.message)
    evidence("restore", (
        f"backup      {result.backup} ({result.format}{', gzip' if result.compressed else ''}, "
        f"{format_size(result.size)} restorable)\n"
        f"source      PostgreSQL {result.source_major or 'unknown'}; throwaway {result.image} "
        f"(server {result.server_version_num})\n"
        f"restore     {result.restore_seconds:.2f}s = decompress {result.decompress_seconds:.2f}s + copy "
        f"{result.copy_seconds:.2f}s + load {result.load_seconds:.2f}s (server start {result.start_seconds:.1f}s "
        f"not counted)\nRTO         {format_duration(rto)}"))
    reference, source = _postgres_reference(postgres, data_safety, spec)
    rows = []
    for table in spec.tables:
        restored = result.counts.get(table, {})
        if restored.get("method") == "missing":
            rows.append(compare.Row(f"rows {table}", _ref(reference, table), "table missing after restore",
                                    verdict=compare.FAIL))
            continue
        rows.append(compare.count_row(f"rows {table}", reference.get(table), restored.get("count"),
                                      spec.tolerance))
    evidence(f"restored rows against the {source}", compare.render_table(rows, RESTORE_HEADERS))
    expect(postgres, "restore_s", round(result.restore_seconds, 2), "<=", rto, unit="s",
           hint="the restore alone exceeds the recovery time objective: faster storage, parallel pg_restore -j "
                "(custom format), or a standby")
    if any(row.failed for row in rows):
        fail(postgres, f"restored {result.backup} in {result.restore_seconds:.1f}s, but "
                       + compare.failure_message(rows, f"restored rows against the {source}", RESTORE_HEADERS))


def _postgres_reference(postgres: Any, data_safety: Any, spec: Any) -> tuple[dict[str, Any], str]:
    """Row counts to compare the restore with: the baseline's, or the live database's."""
    if spec.reference != "live" and data_safety.has_baseline:
        baseline, recorded = data_safety.baseline_of(postgres)
        counts = {table: entry.get("count") for table, entry in recorded.get("rows", {}).items()}
        missing = [table for table in spec.tables if table not in counts]
        if not missing:
            return counts, f"baseline {baseline.path} ({baseline.taken_at})"
        if spec.reference == "baseline":
            fail(postgres, f"the baseline {baseline.path} holds no count of {', '.join(missing)}: list them under "
                           f"data_safety.baseline.postgres.{postgres.name} and save it again")
    if spec.reference == "baseline" and not data_safety.has_baseline:
        fail(postgres, "reference: baseline, but no --baseline PATH was given")
    baseline_spec = data_safety.data_safety.baseline.of("postgres", postgres.name)
    estimated = tuple(t for t in spec.tables if baseline_spec is not None and t in baseline_spec.estimated_tables)
    exact = tuple(t for t in spec.tables if t not in estimated)
    counts = {table: entry["count"] for table, entry in fingerprints.postgres_rows(postgres, exact, estimated).items()}
    return counts, f"live database {postgres.settings.address()}"


def _ref(reference: dict[str, Any], table: str) -> str:
    value = reference.get(table)
    return "n/a" if value is None else str(value)


@role(RESTORE)
@check(phases=(RESTORE_DRILL,), severity="critical", runbook="restore-drill.md#redis-restore-drill")
def test_redis_restore_drill(redis: RedisTarget, data_safety: DataSafetyRun):
    """The newest Redis RDB loads into a throwaway redis-server within the RTO, with its key count within
    tolerance of the baseline's DBSIZE or the live server's (Docker; ACL +@read for a live reference)."""
    from healthgate.data_safety.restore_drill import redis as redis_drill
    from healthgate.data_safety.restore_drill.backup_file import DrillError

    spec = data_safety.drill_spec(redis)
    rto = data_safety.data_safety.rto
    try:
        result = redis_drill.run_drill(spec, timeouts=redis.timeouts)
    except DrillError as exc:
        fail(redis, exc.message)
    db = _redis_db(redis.settings.url)
    evidence("load", f"backup {result.backup} ({format_size(result.size)}) loaded by {result.image} in "
                     f"{result.load_seconds:.2f}s (server start included); keys per db: {result.keys_by_db}")
    if spec.reference != "live" and data_safety.has_baseline:
        baseline, recorded = data_safety.baseline_of(redis)
        reference, source = recorded.get("dbsize"), f"baseline {baseline.path} ({baseline.taken_at})"
    else:
        reference = redis.client.dbsize()
        source = f"live server {redis.settings.address()}"
    row = compare.count_row(f"keys db{db}", reference, result.keys(db), spec.tolerance)
    evidence(f"loaded keys against the {source}", compare.render_table([row], RESTORE_HEADERS))
    expect(redis, "restore_s", round(result.restore_seconds, 2), "<=", rto, unit="s",
           hint="loading the RDB alone exceeds the recovery time objective")
    if row.failed:
        fail(redis, compare.failure_message([row], f"loaded keys against the {source}", RESTORE_HEADERS))


def _redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0
