"""The comparison rules, from tables: counts and tolerances, ids and timestamps, the RPO after a recovery, schema
changes against expected migrations."""

from __future__ import annotations

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


def test_recovery_accepts_a_loss_within_the_rpo_and_fails_beyond_it():
    restored = fingerprint(rows=90, max_id=90, newest="2025-07-13T02:00:00+00:00")  # 10 h older
    rows = compare.postgres(fingerprint(), restored, spec(), mode="recovery", rpo=DAY)
    assert verdicts(rows)["newest detections.created_at"] == "accepted"
    assert verdicts(rows)["rows detections"] == "accepted"
    assert verdicts(rows)["max id detections.id"] == "accepted"
    old = fingerprint(rows=60, max_id=60, newest="2025-07-10T12:00:00+00:00")  # 3 days older
    rows = compare.postgres(fingerprint(), old, spec(), mode="recovery", rpo=DAY)
    freshness = next(r for r in rows if r.item == "newest detections.created_at")
    assert (freshness.change, freshness.verdict) == ("back 3d", "FAIL")
    assert "RPO 24h" in freshness.allowed
    assert verdicts(rows)["rows detections"] == "FAIL"


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
