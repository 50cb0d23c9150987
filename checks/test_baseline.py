"""No data lost across a deploy or a recovery: a fingerprint recorded before (``-m pre_deploy --baseline-save
PATH``) and compared after (``-m post_deploy --baseline PATH`` or ``-m post_recovery --baseline PATH``).

Only targets configured under ``data_safety.baseline`` get these checks; the others are deselected. Every compared
item is attached as a table; a failure lists the items that differ beyond what the profile allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from healthgate.check import POST, PRE, RECOVERY, check
from healthgate.data_safety import compare, fingerprints
from healthgate.data_safety.plugin import COMPARE, RECORD, role
from healthgate.data_safety.store import now_iso
from healthgate.expect import evidence, fail, note

if TYPE_CHECKING:
    from healthgate.data_safety.context import DataSafetyRun
    from healthgate.targets.backups import BackupsTarget
    from healthgate.targets.opensearch import OpenSearchTarget
    from healthgate.targets.postgres import PostgresTarget
    from healthgate.targets.redis import RedisTarget

# ------------------------------------------------------------------------------------------------ PostgreSQL


@role(RECORD)
@check(phases=(PRE,), severity="critical", runbook="baseline.md#baseline-recorded")
def test_postgres_baseline_recorded(postgres: PostgresTarget, data_safety: DataSafetyRun):
    """Row counts, newest ids and timestamps, schema and migration version are recorded (CONNECT, SELECT on the
    listed tables and the migrations table)."""
    spec = data_safety.baseline_spec(postgres)
    fingerprint = fingerprints.postgres(postgres, spec, rpo=data_safety.data_safety.rpo)
    missing = [table for table, entry in fingerprint["rows"].items() if entry["method"] == "missing"]
    unanalysed = [table for table, entry in fingerprint["rows"].items()
                  if entry["method"] == "estimate" and entry["count"] is None]
    _record(postgres, data_safety, fingerprint, _postgres_summary(fingerprint))
    if unanalysed:
        note(f"no row estimate for {', '.join(unanalysed)} (never analysed): their counts will not be judged")
    if missing:
        fail(postgres, f"listed table(s) missing, a baseline would be meaningless: {', '.join(missing)} — fix "
                       "data_safety.baseline or the database")


@role(COMPARE)
@check(phases=(POST,), severity="critical", runbook="baseline.md#data-kept")
def test_postgres_data_kept(postgres: PostgresTarget, data_safety: DataSafetyRun):
    """No listed table lost rows beyond its tolerance, newest ids and timestamps did not go backwards, and the
    schema changed only through expected migrations (same privileges as the baseline)."""
    _compare_postgres(postgres, data_safety, mode="deploy")


@role(COMPARE)
@check(phases=(RECOVERY,), severity="critical", runbook="baseline.md#recovery-point")
def test_postgres_recovery_point(postgres: PostgresTarget, data_safety: DataSafetyRun):
    """After a recovery, rows are missing only where a restore to an earlier point explains it: that point at most
    the RPO before the baseline's newest data (seeds: daily backups, RPO 24 h) and every older row kept; tables
    without a timestamp keep their rows within tolerance (same privileges as the baseline)."""
    _compare_postgres(postgres, data_safety, mode="recovery")


def _compare_postgres(postgres: Any, data_safety: Any, *, mode: compare.Mode) -> None:
    spec = data_safety.baseline_spec(postgres)
    baseline, recorded = data_safety.baseline_of(postgres)
    current = fingerprints.postgres(postgres, spec, rpo=data_safety.data_safety.rpo, reference=recorded,
                                    with_restore_points=mode == "recovery")
    rows = compare.postgres(recorded, current, spec, mode=mode, rpo=data_safety.data_safety.rpo,
                            expected_migrations=data_safety.data_safety.expected_migrations)
    _judge(postgres, rows, baseline)


# ------------------------------------------------------------------------------------------------ Redis


@role(RECORD)
@check(phases=(PRE,), severity="critical", runbook="baseline.md#baseline-recorded")
def test_redis_baseline_recorded(redis: RedisTarget, data_safety: DataSafetyRun):
    """DBSIZE and key counts per configured pattern (bounded SCAN) are recorded (ACL +@read)."""
    spec = data_safety.baseline_spec(redis)
    fingerprint = fingerprints.redis(redis, spec.patterns)
    _record(redis, data_safety, fingerprint, [
        ("dbsize", str(fingerprint["dbsize"])),
        *((f"keys {p}", _shown(entry)) for p, entry in fingerprint["patterns"].items()),
    ])


@role(COMPARE)
@check(phases=(POST, RECOVERY), severity="critical", runbook="baseline.md#keys-kept")
def test_redis_keys_kept(redis: RedisTarget, data_safety: DataSafetyRun):
    """No configured key pattern lost keys beyond its tolerance (DBSIZE judged only with dbsize_tolerance)."""
    spec = data_safety.baseline_spec(redis)
    baseline, recorded = data_safety.baseline_of(redis)
    current = fingerprints.redis(redis, spec.patterns)
    rows = compare.counts(spec.patterns, recorded.get("patterns", {}), current["patterns"],
                          lambda pattern: spec.tolerance.get(pattern, 0), "keys")
    rows.append(compare.count_row("dbsize", recorded.get("dbsize"), current["dbsize"], spec.dbsize_tolerance))
    _judge(redis, rows, baseline)


# ------------------------------------------------------------------------------------------------ OpenSearch


@role(RECORD)
@check(phases=(PRE,), severity="critical", runbook="baseline.md#baseline-recorded")
def test_opensearch_baseline_recorded(opensearch: OpenSearchTarget, data_safety: DataSafetyRun):
    """Document counts per configured index pattern are recorded (read on those indices)."""
    spec = data_safety.baseline_spec(opensearch)
    fingerprint = fingerprints.opensearch(opensearch, spec.index_patterns)
    _record(opensearch, data_safety, fingerprint,
            [(f"documents {p}", str(n)) for p, n in fingerprint["indices"].items()])


@role(COMPARE)
@check(phases=(POST, RECOVERY), severity="critical", runbook="baseline.md#documents-kept")
def test_opensearch_documents_kept(opensearch: OpenSearchTarget, data_safety: DataSafetyRun):
    """No configured index pattern lost documents beyond its tolerance."""
    spec = data_safety.baseline_spec(opensearch)
    baseline, recorded = data_safety.baseline_of(opensearch)
    current = fingerprints.opensearch(opensearch, spec.index_patterns)
    as_entries = {name: {"count": count} for name, count in recorded.get("indices", {}).items()}
    now_entries = {name: {"count": count} for name, count in current["indices"].items()}
    rows = compare.counts(spec.index_patterns, as_entries, now_entries,
                          lambda pattern: spec.tolerance.get(pattern, 0), "documents")
    _judge(opensearch, rows, baseline)


# ------------------------------------------------------------------------------------------------ backups


@role(RECORD)
@check(phases=(PRE,), severity="critical", runbook="baseline.md#baseline-recorded")
def test_backups_baseline_recorded(backups: BackupsTarget, data_safety: DataSafetyRun):
    """How many backups each pattern of the backup directory holds is recorded (read access to the directory)."""
    spec = data_safety.baseline_spec(backups)
    fingerprint = _backups_fingerprint(backups, spec)
    _record(backups, data_safety, fingerprint,
            [(f"objects {name}", _shown(entry)) for name, entry in fingerprint["patterns"].items()])


@role(COMPARE)
@check(phases=(POST, RECOVERY), severity="critical", runbook="baseline.md#objects-kept")
def test_backups_objects_kept(backups: BackupsTarget, data_safety: DataSafetyRun):
    """No backup pattern lost objects beyond the tolerance (a deploy or a cleanup that deleted backups)."""
    spec = data_safety.baseline_spec(backups)
    baseline, recorded = data_safety.baseline_of(backups)
    current = _backups_fingerprint(backups, spec)
    rows = compare.counts(current["patterns"], recorded.get("patterns", {}), current["patterns"],
                          lambda _name: spec.tolerance, "objects")
    _judge(backups, rows, baseline)


def _backups_fingerprint(backups: Any, spec: Any) -> dict[str, Any]:
    settings = backups.settings
    known = {pattern.name: pattern.glob for pattern in settings.patterns}
    unknown = [name for name in spec.patterns if name not in known]
    if unknown:
        fail(backups, f"data_safety.baseline.backups.{backups.name}.patterns names unknown pattern(s) "
                      f"{', '.join(unknown)}; the target's patterns: {', '.join(known)}")
    chosen = [(name, known[name]) for name in (spec.patterns or known)]
    return fingerprints.backups(backups, chosen)


# ------------------------------------------------------------------------------------------------ shared


def _record(target: Any, data_safety: Any, fingerprint: dict[str, Any], summary: list[tuple[str, str]]) -> None:
    fingerprint = {"taken_at": now_iso(), **fingerprint}
    data_safety.record(target, fingerprint)
    width = max((len(item) for item, _ in summary), default=4)
    evidence("fingerprint", "\n".join(f"{item.ljust(width)}  {value}" for item, value in summary) or "(empty)")


def _judge(target: Any, rows: list[compare.Row], baseline: Any) -> None:
    __tracebackhide__ = True
    source = f"baseline {baseline.path} taken {baseline.taken_at}"
    evidence("comparison with the baseline", f"{source}\n{compare.render_table(rows)}")
    accepted = [row for row in rows if row.verdict == "accepted"]
    if accepted:
        note(f"{len(accepted)} change(s) accepted: " + "; ".join(f"{r.item} ({r.allowed})" for r in accepted))
    if any(row.failed for row in rows):
        fail(target, compare.failure_message(rows, source))
    if not rows:
        pytest.skip("nothing configured to compare")


def _shown(entry: dict[str, Any]) -> str:
    return str(entry["count"]) if entry.get("complete", True) else f">={entry['count']} (SCAN bounds reached)"


def _postgres_summary(fingerprint: dict[str, Any]) -> list[tuple[str, str]]:
    lines = [(f"rows {t} ({e['method']})", str(e["count"])) for t, e in fingerprint["rows"].items()]
    lines += [(f"max id {k}", str(v)) for k, v in fingerprint["max_id"].items()]
    lines += [(f"newest {k}", str(v)) for k, v in fingerprint["max_timestamp"].items()]
    if "schema" in fingerprint:
        lines.append(("schema", f"{len(fingerprint['schema']['tables'])} tables, sha256 "
                                f"{fingerprint['schema']['hash'][:12]}"))
    lines += [(f"restore points {k}", f"{len(v['at_or_before'])} edges") for k, v in
              fingerprint.get("restore_points", {}).items() if v.get("at_or_before")]
    if "migrations" in fingerprint:
        lines.append(("migration version", str(fingerprint["migrations"]["max"])))
    return lines
