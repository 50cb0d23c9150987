"""The comparison rules, from tables: counts and tolerances, ids and timestamps, the RPO after a recovery, schema
changes against expected migrations."""

from __future__ import annotations

import datetime as dt

import pytest

from healthgate.data_safety import compare
from healthgate.data_safety.settings import PostgresBaseline, allowed_drop

DAY = 86400.0


def spec(**overrides: object) -> PostgresBaseline:
    data: dict[str, object] = {
        "exact_tables": ["detections"], "estimated_tables": ["events"],
        "max_id": {"detections": "id"}, "max_timestamp": {"detections": "created_at"},
        "migrations": {"table": "schema_migrations"},
    }
    data.update(overrides)
    return PostgresBaseline.model_validate(data)


SCHEMA = {"public.detections": {"columns": ["id bigint not null", "species text"],
                                "indexes": {"detections_pkey": "CREATE UNIQUE INDEX detections_pkey ON "
                                                               "public.detections USING btree (id)"}}}


def fingerprint(rows: int = 100, events: int = 10_000, max_id: int = 100, newest: str = "2025-07-13T12:00:00+00:00",
                versions: tuple[str, ...] = ("20250713_01",), schema: dict | None = None) -> dict:
    return {
        "rows": {"detections": {"count": rows, "method": "exact"}, "events": {"count": events, "method": "estimate"}},
        "max_id": {"detections.id": max_id},
        "max_timestamp": {"detections.created_at": newest},
        "schema": {"hash": "x", "tables": schema if schema is not None else SCHEMA},
        "migrations": {"max": versions[0] if versions else None, "count": len(versions),
                       "versions": sorted(versions, reverse=True)},
    }


def verdicts(rows: list[compare.Row]) -> dict[str, str]:
    return {row.item: row.verdict for row in rows}


@pytest.mark.parametrize(("tolerance", "baseline", "expected"), [
    (0, 100, 0), (5, 100, 5), ("2%", 1000, 20), ("2%", 49, 0), ("0.5%", 1000, 5), ("100%", 7, 7),
])
def test_allowed_drop(tolerance, baseline, expected):
    assert allowed_drop(tolerance, baseline) == expected


def test_unchanged_data_passes_every_item():
    rows = compare.postgres(fingerprint(), fingerprint(), spec(), mode="deploy", rpo=DAY)
    assert not [row for row in rows if row.failed]
    assert verdicts(rows) == {
        "rows detections": "ok", "rows events (estimate)": "ok", "max id detections.id": "ok",
        "newest detections.created_at": "ok", "migration version": "ok", "schema": "ok",
    }


def test_growth_is_fine_and_a_drop_fails_with_both_counts():
    grown = compare.postgres(fingerprint(), fingerprint(rows=150, max_id=150, newest="2025-07-13T13:00:00+00:00"),
                             spec(), mode="deploy", rpo=DAY)
    assert not [row for row in grown if row.failed]
    dropped = compare.postgres(fingerprint(), fingerprint(rows=97), spec(), mode="deploy", rpo=DAY)
    row = next(r for r in dropped if r.item == "rows detections")
    assert (row.baseline, row.now, row.change, row.allowed, row.verdict) == ("100", "97", "-3", "-0", "FAIL")
    message = compare.failure_message(dropped, "baseline b.json")
    assert "rows detections" in message and "| 100 " in message and "| 97 " in message
    assert "1 of 6" in message


def test_estimates_get_five_percent_unless_told_otherwise():
    rows = compare.postgres(fingerprint(), fingerprint(events=9_600), spec(), mode="deploy", rpo=DAY)
    assert verdicts(rows)["rows events (estimate)"] == "ok"
    rows = compare.postgres(fingerprint(), fingerprint(events=9_400), spec(), mode="deploy", rpo=DAY)
    assert verdicts(rows)["rows events (estimate)"] == "FAIL"
    strict = spec(tolerance={"events": 0, "detections": 3})
    rows = compare.postgres(fingerprint(), fingerprint(rows=97, events=9_999), strict, mode="deploy", rpo=DAY)
    assert verdicts(rows)["rows events (estimate)"] == "FAIL"
    assert verdicts(rows)["rows detections"] == "ok"


def test_a_dropped_table_and_a_table_listed_after_the_baseline_fail():
    now = fingerprint()
    now["rows"]["detections"] = {"count": None, "method": "missing"}
    rows = compare.postgres(fingerprint(), now, spec(), mode="deploy", rpo=DAY)
    assert next(r for r in rows if r.item == "rows detections").now == "table missing"
    base = fingerprint()
    del base["rows"]["events"]
    rows = compare.postgres(base, fingerprint(), spec(), mode="deploy", rpo=DAY)
    assert verdicts(rows)["rows events"] == "FAIL"


def test_ids_and_timestamps_never_go_backwards_after_a_deploy():
    rows = compare.postgres(fingerprint(), fingerprint(max_id=99, newest="2025-07-13T11:59:59+00:00"), spec(),
                            mode="deploy", rpo=DAY)
    assert verdicts(rows)["max id detections.id"] == "FAIL"
    assert verdicts(rows)["newest detections.created_at"] == "FAIL"


# A table of 100 detections, one an hour, the newest at 12:00 on 13 July; ids follow time.
HOUR = 3600.0
NEWEST = dt.datetime(2025, 7, 13, 12, tzinfo=dt.UTC)
TABLE = [(i, NEWEST - dt.timedelta(hours=100 - i)) for i in range(1, 101)]


def recorded(table: list[tuple[int, dt.datetime]], rpo: float = DAY) -> dict:
    """What the baseline records of a table (as the fingerprint's SQL counts it): rows at or before each edge."""
    newest_ts, newest_id = max(ts for _, ts in table), max(i for i, _ in table)
    ts_edges = [newest_ts - dt.timedelta(seconds=rpo / 24 * k) for k in range(49)]
    id_edges = sorted({newest_id - k for k in (0, 1, 2, 5, 10, 20, 50) if newest_id - k > 0}, reverse=True)
    return {
        **fingerprint(rows=len(table), max_id=newest_id, newest=newest_ts.isoformat()),
        "restore_points": {
            "detections.created_at": {"type": "timestamp", "newest": newest_ts.isoformat(), "at_or_before": [
                [e.isoformat(), sum(ts <= e for _, ts in table)] for e in ts_edges]},
            "detections.id": {"type": "number", "newest": newest_id, "at_or_before": [
                [e, sum(i <= e for i, _ in table)] for e in id_edges]},
        },
    }


def now_against(base: dict, table: list[tuple[int, dt.datetime]]) -> dict:
    """What the compare reads now: the newest value not after the baseline's, and rows at its edges."""
    points = base["restore_points"]
    ts_base, id_base = points["detections.created_at"], points["detections.id"]
    newest_ts = dt.datetime.fromisoformat(ts_base["newest"])
    kept_ts = [ts for _, ts in table if ts <= newest_ts]
    kept_id = [i for i, _ in table if i <= id_base["newest"]]
    return {
        **fingerprint(rows=len(table), max_id=max(i for i, _ in table), newest=max(ts for _, ts in table).isoformat()),
        "restore_points": {
            "detections.created_at": {"restored_to": max(kept_ts).isoformat() if kept_ts else None, "at_or_before": [
                [e, sum(ts <= dt.datetime.fromisoformat(e) for _, ts in table)] for e, _ in ts_base["at_or_before"]]},
            "detections.id": {"restored_to": max(kept_id) if kept_id else None, "at_or_before": [
                [e, sum(i <= e for i, _ in table)] for e, _ in id_base["at_or_before"]]},
        },
    }


def recovery(table_after: list[tuple[int, dt.datetime]], rpo: float = DAY) -> dict[str, compare.Row]:
    base = recorded(TABLE)
    rows = compare.postgres(base, now_against(base, table_after), spec(), mode="recovery", rpo=rpo)
    return {row.item: row for row in rows}


def test_a_restore_within_the_rpo_explains_the_rows_it_lost():
    rows = recovery(TABLE[:90])  # restored to 02:00: the ten newest hours are gone
    assert rows["newest detections.created_at"].verdict == "accepted"
    assert rows["newest detections.created_at"].change == "back 10h"
    assert rows["rows detections"].verdict == "accepted"
    assert rows["max id detections.id"].verdict == "accepted"
    kept = rows["rows detections.created_at <= 2025-07-13T02:00:00+00:00"]
    assert (kept.baseline, kept.now, kept.verdict) == ("90", "90", "ok")


def test_old_rows_deleted_are_not_explained_by_any_restore():
    """The false green: the newest row is still there, so the restore point is the baseline's newest, and the
    ten oldest rows are missing before it."""
    rows = recovery(TABLE[10:])
    kept = rows["rows detections.created_at <= 2025-07-13T12:00:00+00:00"]
    assert (kept.baseline, kept.now, kept.verdict) == ("100", "90", "FAIL")
    assert "restored to 2025-07-13T12:00:00+00:00" in kept.allowed
    assert rows["rows detections"].verdict == "FAIL"


def test_old_rows_deleted_after_a_restore_fail_too():
    rows = recovery(TABLE[10:90])  # restored to 02:00, and the ten oldest rows gone as well
    assert rows["rows detections.created_at <= 2025-07-13T02:00:00+00:00"].verdict == "FAIL"
    assert rows["rows detections"].verdict == "FAIL"
    assert rows["max id detections.id"].verdict == "FAIL"


def test_rows_written_after_the_recovery_do_not_hide_the_restore_point():
    later = [(1000 + n, NEWEST + dt.timedelta(hours=5 + n)) for n in range(30)]
    rows = recovery(TABLE[:90] + later)
    assert rows["newest detections.created_at"].now == "restored to 2025-07-13T02:00:00+00:00"
    assert rows["rows detections"].verdict == "ok"  # 120 now: more rows, but the restore point is still judged
    old = recovery(TABLE[:20] + later)  # restored to 3 days back, hidden by new writes
    assert old["newest detections.created_at"].verdict == "FAIL"
    assert old["newest detections.created_at"].change == "back 3.33d"


def test_a_restore_older_than_the_rpo_fails():
    rows = recovery(TABLE[:28])  # restored to 72 h back
    freshness = rows["newest detections.created_at"]
    assert (freshness.change, freshness.verdict) == ("back 3d", "FAIL")
    assert "RPO 24h" in freshness.allowed
    assert rows["rows detections"].verdict == "FAIL"


def test_a_baseline_without_restore_points_cannot_judge_a_recovery():
    rows = compare.postgres(fingerprint(), fingerprint(rows=90), spec(), mode="recovery", rpo=DAY)
    assert verdicts(rows)["restore points"] == "FAIL"
    assert verdicts(rows)["rows detections"] == "FAIL"


def test_a_table_without_a_timestamp_cannot_explain_a_loss_by_a_restore():
    only_ids = spec(max_timestamp={})
    base = recorded(TABLE)
    base["restore_points"].pop("detections.created_at")
    now = now_against(recorded(TABLE), TABLE[:90])
    now["restore_points"].pop("detections.created_at")
    rows = {row.item: row for row in compare.postgres(base, now, only_ids, mode="recovery", rpo=DAY)}
    assert rows["rows detections.id <= 90"].verdict == "ok"
    assert rows["rows detections"].verdict == "FAIL"


def test_naive_timestamps_and_epoch_numbers_compare():
    assert compare.parse_instant("2025-07-13T12:00:00") == compare.parse_instant("2025-07-13T12:00:00+00:00")
    assert compare.parse_instant(1_700_000_000) == 1_700_000_000.0
    assert compare.parse_instant(None) is None


def test_schema_change_needs_an_expected_migration():
    changed = {"public.detections": {"columns": ["id bigint not null", "species text", "site text"],
                                     "indexes": SCHEMA["public.detections"]["indexes"]},
               "public.sites": {"columns": ["id int"], "indexes": {}}}
    after = fingerprint(schema=changed, versions=("20250713_01", "20250801_01"))
    rows = compare.postgres(fingerprint(), after, spec(), mode="deploy", rpo=DAY, expected_migrations=[])
    assert verdicts(rows) | {} == verdicts(rows)
    assert verdicts(rows)["migration 20250801_01"] == "FAIL"
    assert verdicts(rows)["schema column public.detections.site"] == "FAIL"
    assert verdicts(rows)["schema table public.sites"] == "FAIL"
    rows = compare.postgres(fingerprint(), after, spec(), mode="deploy", rpo=DAY,
                            expected_migrations=["20250801_01"])
    assert not [row for row in rows if row.failed]
    assert verdicts(rows)["schema column public.detections.site"] == "accepted"


def test_schema_change_without_any_migration_fails():
    changed = {"public.detections": {"columns": ["id bigint not null"], "indexes": {}}}
    rows = compare.postgres(fingerprint(), fingerprint(schema=changed), spec(), mode="deploy", rpo=DAY,
                            expected_migrations=["20250801_01"])
    failed = {row.item: row.allowed for row in rows if row.failed}
    assert failed == {"schema column public.detections.species": "schema changed without a migration",
                      "schema index public.detections.detections_pkey": "schema changed without a migration"}


def test_a_migration_that_disappeared_fails():
    rows = compare.postgres(fingerprint(versions=("1", "2")), fingerprint(versions=("1",)), spec(),
                            mode="recovery", rpo=DAY)
    assert verdicts(rows)["migration 2"] == "FAIL"


def test_truncated_version_lists_are_not_taken_for_changes():
    applied, removed = compare._new_versions(["5", "4", "3"], ["6", "5", "4"], kept=3)
    assert (applied, removed) == (["6"], [])


def test_counts_for_patterns_and_scan_bounds():
    base = {"a:*": {"count": 10, "complete": True}, "b:*": {"count": 500, "complete": False}}
    now = {"a:*": {"count": 8, "complete": True}, "b:*": {"count": 10, "complete": True}}
    rows = compare.counts(["a:*", "b:*"], base, now, lambda _p: 1, "keys")
    assert verdicts(rows) == {"keys a:*": "FAIL", "keys b:*": "info"}
    assert compare.count_row("dbsize", 100, 1, None).verdict == "info"


def test_table_renders_aligned_markdown():
    table = compare.render_table([compare.Row("rows t", "10", "7", "-3", "-0", "FAIL")])
    lines = table.splitlines()
    assert lines[0].startswith("| item ") and lines[1].startswith("|---")
    assert len({len(line) for line in lines}) == 1
