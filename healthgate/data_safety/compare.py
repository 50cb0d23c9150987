"""Judging a fingerprint against its baseline: pure functions from two JSON documents to a table of rows.

Kept apart from the collectors so every rule is tested from tables, without servers. Each row is one compared
item; ``verdict`` is ``ok``, ``accepted`` (a change the profile allows: a declared migration, a loss inside the
recovery point objective), ``info`` (shown, not judged) or ``FAIL``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from healthgate.data_safety.fingerprints import MIGRATION_VERSIONS_KEPT
from healthgate.data_safety.settings import PostgresBaseline, allowed_drop
from healthgate.units import format_duration

Mode = Literal["deploy", "recovery"]
FAIL = "FAIL"
HEADERS = ("item", "baseline", "now", "change", "allowed", "verdict")


@dataclass(frozen=True)
class Row:
    item: str
    baseline: str
    now: str
    change: str = ""
    allowed: str = ""
    verdict: str = "ok"

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL

    def cells(self) -> tuple[str, ...]:
        return (self.item, self.baseline, self.now, self.change, self.allowed, self.verdict)


def render_table(rows: Iterable[Row], headers: tuple[str, ...] = HEADERS) -> str:
    """A Markdown table, aligned so it also reads in a terminal."""
    lines = [headers, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def failure_message(rows: list[Row], source: str, headers: tuple[str, ...] = HEADERS) -> str:
    failed = [row for row in rows if row.failed]
    return (f"{len(failed)} of {len(rows)} compared item(s) differ beyond what the profile allows ({source}):\n"
            f"{render_table(failed, headers)}")


# ------------------------------------------------------------------------------------------------ counts


def count_row(item: str, base: Any, now: Any, tolerance: int | str | None, *, base_complete: bool = True,
              now_complete: bool = True) -> Row:
    """A count that may not drop by more than ``tolerance`` (None: shown, not judged)."""
    if base is None and now is None:
        return Row(item, "n/a", "n/a", verdict="info")
    if base is None:
        return Row(item, "n/a", str(now), verdict="info")
    if now is None:
        return Row(item, str(base), "missing", allowed=_allowed(tolerance, base), verdict=FAIL)
    change = _signed(now - base)
    if not (base_complete and now_complete):
        partial = "baseline" if not base_complete else "now"
        return Row(item, _count(base, base_complete), _count(now, now_complete), change,
                   f"not judged: {partial} count cut by SCAN bounds", "info")
    if tolerance is None:
        return Row(item, str(base), str(now), change, "not judged", "info")
    allowed = allowed_drop(tolerance, base)
    verdict = FAIL if base - now > allowed else "ok"
    return Row(item, str(base), str(now), change, f"-{allowed}", verdict)


def _allowed(tolerance: int | str | None, base: int) -> str:
    return "not judged" if tolerance is None else f"-{allowed_drop(tolerance, base)}"


def _count(value: int, complete: bool) -> str:
    return str(value) if complete else f">={value}"


def _signed(value: float) -> str:
    return f"+{value}" if value > 0 else str(value)


def counts(items: Mapping[str, Any], base: Mapping[str, Any], now: Mapping[str, Any],
           tolerance_of: Any, prefix: str) -> list[Row]:
    """Rows for ``{name: {"count", "complete"?}}`` maps; items absent from the baseline fail (re-save it)."""
    rows = []
    for name in items:
        if name not in base:
            rows.append(Row(f"{prefix} {name}", "not recorded", _count_of(now.get(name)),
                            allowed="listed after the baseline was saved: save a new one", verdict=FAIL))
            continue
        b, n = base[name], now.get(name) or {"count": None}
        rows.append(count_row(f"{prefix} {name}", b.get("count"), n.get("count"), tolerance_of(name),
                              base_complete=b.get("complete", True), now_complete=n.get("complete", True)))
    return rows


def _count_of(entry: Any) -> str:
    return "n/a" if not entry or entry.get("count") is None else str(entry["count"])


# ------------------------------------------------------------------------------------------------ postgres


def parse_instant(value: Any) -> float | None:
    """Seconds since the epoch of a recorded max(): ISO strings, or numbers taken as they are."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def postgres(base: Mapping[str, Any], now: Mapping[str, Any], spec: PostgresBaseline, *, mode: Mode,
             rpo: float, expected_migrations: Iterable[str] = ()) -> list[Row]:
    point_rows: list[Row] = []
    restored: set[str] = set()
    if mode == "recovery":
        # After a recovery, rows may be missing only where a restore to an earlier point explains it: rows newer
        # than the point the data was restored to, that point within the RPO, every older row still there.
        point_rows, restored = restore_point_rows(base.get("restore_points"), now.get("restore_points", {}), spec,
                                                  rpo=rpo)
    rows = _table_counts(base.get("rows", {}), now.get("rows", {}), spec, restored)
    rows += _max_ids(base.get("max_id", {}), now.get("max_id", {}), spec, restored=restored)
    if mode == "deploy":
        rows += _timestamps(base.get("max_timestamp", {}), now.get("max_timestamp", {}), spec)
    rows += point_rows
    rows += schema_rows(base, now, spec, tuple(expected_migrations))
    return rows


def _table_counts(base: Mapping[str, Any], now: Mapping[str, Any], spec: PostgresBaseline,
                  restored: set[str]) -> list[Row]:
    rows = []
    for table in (*spec.exact_tables, *spec.estimated_tables):
        item = f"rows {table}"
        if table not in base:
            rows.append(Row(item, "not recorded", _count_of(now.get(table)),
                            allowed="listed after the baseline was saved: save a new one", verdict=FAIL))
            continue
        b, n = base[table], now.get(table) or {"count": None, "method": "missing"}
        if n.get("method") == "missing" and b.get("method") != "missing":
            rows.append(Row(item, str(b.get("count")), "table missing", verdict=FAIL))
            continue
        if b.get("count") is None or n.get("count") is None:
            rows.append(Row(item, _count_of(b), _count_of(n), allowed="no estimate yet (never analysed)",
                            verdict="info"))
            continue
        label = f"{item} (estimate)" if n.get("method") == "estimate" else item
        row = count_row(label, b["count"], n["count"], spec.tolerance_of(table))
        if row.failed and table in restored:
            row = Row(row.item, row.baseline, row.now, row.change, "newer than the restore point, within RPO",
                      "accepted")
        rows.append(row)
    return rows


def _max_ids(base: Mapping[str, Any], now: Mapping[str, Any], spec: PostgresBaseline, *,
             restored: set[str]) -> list[Row]:
    rows = []
    for table, column in spec.max_id.items():
        key, item = f"{table}.{column}", f"max id {table}.{column}"
        if key not in base:
            rows.append(Row(item, "not recorded", str(now.get(key)), allowed="save a new baseline", verdict=FAIL))
            continue
        b, n = base[key], now.get(key)
        if b is None:
            rows.append(Row(item, "none", str(n), verdict="info"))
        elif n is None:
            rows.append(Row(item, str(b), "none", allowed="never backwards", verdict=FAIL))
        elif _less(n, b):
            accepted = table in restored
            rows.append(Row(item, str(b), str(n), "backwards",
                            "restored to an earlier point within RPO" if accepted else "never backwards",
                            "accepted" if accepted else FAIL))
        else:
            rows.append(Row(item, str(b), str(n), "" if n == b else "forward", "never backwards"))
    return rows


def _less(a: Any, b: Any) -> bool:
    try:
        return bool(a < b)
    except TypeError:
        return str(a) < str(b)


def _timestamps(base: Mapping[str, Any], now: Mapping[str, Any], spec: PostgresBaseline) -> list[Row]:
    """After a deploy, the newest data never goes backwards."""
    rows: list[Row] = []
    for table, column in spec.max_timestamp.items():
        key, item = f"{table}.{column}", f"newest {table}.{column}"
        if key not in base:
            rows.append(Row(item, "not recorded", str(now.get(key)), allowed="save a new baseline", verdict=FAIL))
            continue
        b, n = parse_instant(base[key]), parse_instant(now.get(key))
        shown_b, shown_n = str(base[key]), str(now.get(key))
        if b is None:
            rows.append(Row(item, "none", shown_n, verdict="info"))
        elif n is None:
            rows.append(Row(item, shown_b, "none", allowed="never backwards", verdict=FAIL))
        else:
            rows.append(Row(item, shown_b, shown_n, _lag(b - n), "never backwards", FAIL if b > n else "ok"))
    return rows


def restore_point_rows(base: Mapping[str, Any] | None, now: Mapping[str, Any], spec: PostgresBaseline, *,
                       rpo: float) -> tuple[list[Row], set[str]]:
    """Rows judging, per recorded column, the point a recovery restored the data to; and the tables whose losses
    that point explains (every row at or before it kept, and, on a timestamp, the point within the RPO)."""
    if base is None:
        return [Row("restore points", "not recorded", "", allowed="save a new baseline with this version",
                    verdict=FAIL)], set()
    rows: list[Row] = []
    judged: dict[str, bool] = {}  # table -> every column's restore point holds (and one judged the RPO)
    within_rpo: set[str] = set()
    columns = [*((t, c, "timestamp") for t, c in spec.max_timestamp.items()),
               *((t, c, "id") for t, c in spec.max_id.items())]
    for table, column, role in columns:
        key = f"{table}.{column}"
        point_rows, holds = _restore_point(key, base.get(key), now.get(key), role, rpo=rpo,
                                           tolerance=spec.tolerance_of(table))
        rows += point_rows
        judged[table] = judged.get(table, True) and holds
        if holds and role == "timestamp":
            within_rpo.add(table)
    return rows, {table for table, holds in judged.items() if holds and table in within_rpo}


def _restore_point(key: str, base: Mapping[str, Any] | None, now: Mapping[str, Any] | None, role: str, *,
                   rpo: float, tolerance: int | str) -> tuple[list[Row], bool]:
    item = f"newest {key}" if role == "timestamp" else f"restore point {key}"
    if base is None:
        return [Row(item, "not recorded", "", allowed="save a new baseline", verdict=FAIL)], False
    if base.get("type") is None or now is None:
        why = "no rows at the baseline" if base.get("newest") is None else "not a timestamp or number column"
        return [Row(item, str(base.get("newest")), "", allowed=f"no restore point: {why}", verdict="info")], False
    newest, restored_to = base["newest"], now.get("restored_to")
    if restored_to is None:
        return [Row(item, str(newest), "no row at or before it", "all gone", "rows at or before the restore point "
                    "kept", FAIL)], False
    b, n = _position(newest, base["type"]), _position(restored_to, base["type"])
    rows = []
    holds = True
    if role == "timestamp":
        lag = b - n
        verdict = FAIL if lag > rpo else ("accepted" if lag > 0 else "ok")
        holds = verdict != FAIL
        rows.append(Row(item, str(newest), f"restored to {restored_to}", _lag(lag),
                        f"back <= RPO {format_duration(rpo)}", verdict))
    elif n < b:
        rows.append(Row(item, str(newest), f"restored to {restored_to}", "backwards",
                        "the RPO is judged on a max_timestamp column of this table", "info"))
    kept = [(edge, count, now_count) for (edge, count), (_, now_count)
            in zip(base["at_or_before"], now.get("at_or_before", []), strict=False)
            if _position(edge, base["type"]) <= n]
    if not kept:
        rows.append(Row(f"rows {key} <= {restored_to}", "not recorded", "", allowed="restored below the oldest "
                        "recorded edge", verdict=FAIL))
        return rows, False
    edge, expected, present = kept[0]  # the newest edge at or before the restore point
    allowed = allowed_drop(tolerance, expected)
    missing = expected - present > allowed
    rows.append(Row(f"rows {key} <= {edge}", str(expected), str(present), _signed(present - expected),
                    f"restored to {restored_to}: rows at or before it all kept (-{allowed})",
                    FAIL if missing else "ok"))
    return rows, holds and not missing


def _position(value: Any, kind: str) -> float:
    """Where a recorded value sits on its column's axis: seconds for timestamps, the number for ids."""
    if kind == "number":
        return float(value)
    instant = parse_instant(value)
    if instant is None:
        raise ValueError(f"not a recorded timestamp: {value!r}")
    return instant


def _lag(lag: float) -> str:
    if lag > 0:
        return f"back {format_duration(lag)}"
    if lag < 0:
        return f"forward {format_duration(-lag)}"
    return ""


# ------------------------------------------------------------------------------------------------ schema


def schema_diff(base: Mapping[str, Any], now: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(item, baseline, now) for every table, column and index added, removed or changed."""
    changes: list[tuple[str, str, str]] = []
    for table in sorted(set(base) | set(now)):
        if table not in now:
            changes.append((f"table {table}", "present", "dropped"))
            continue
        if table not in base:
            changes.append((f"table {table}", "absent", "created"))
            continue
        b_cols = _columns(base[table].get("columns", []))
        n_cols = _columns(now[table].get("columns", []))
        for name in sorted(set(b_cols) | set(n_cols)):
            if b_cols.get(name) != n_cols.get(name):
                changes.append((f"column {table}.{name}", b_cols.get(name, "absent"), n_cols.get(name, "absent")))
        b_idx, n_idx = base[table].get("indexes", {}), now[table].get("indexes", {})
        for name in sorted(set(b_idx) | set(n_idx)):
            if b_idx.get(name) != n_idx.get(name):
                changes.append((f"index {table}.{name}", _short(b_idx.get(name)), _short(n_idx.get(name))))
    return changes


def _columns(entries: list[str]) -> dict[str, str]:
    return {entry.split(" ", 1)[0]: entry.split(" ", 1)[1] if " " in entry else "" for entry in entries}


def _short(definition: str | None) -> str:
    if definition is None:
        return "absent"
    return definition.split(" USING ", 1)[-1] if " USING " in definition else definition


def _new_versions(base: list[str], now: list[str], kept: int = MIGRATION_VERSIONS_KEPT) -> tuple[list[str], list[str]]:
    """(applied since the baseline, no longer applied). A fingerprint keeps only the newest ``kept`` versions, so
    an old version absent from a full list because it was cut off is not taken for a change."""
    b_set, n_set = set(base), set(now)
    b_floor = min(base) if len(base) >= kept else None
    n_floor = min(now) if len(now) >= kept else None
    applied = sorted(v for v in n_set - b_set if b_floor is None or v > b_floor)
    removed = sorted(v for v in b_set - n_set if n_floor is None or v > n_floor)
    return applied, removed


def schema_rows(base: Mapping[str, Any], now: Mapping[str, Any], spec: PostgresBaseline,
                expected: tuple[str, ...]) -> list[Row]:
    rows: list[Row] = []
    b_mig, n_mig = base.get("migrations"), now.get("migrations")
    applied: list[str] = []
    unexpected: list[str] = []
    if spec.migrations is not None:
        if b_mig is None:
            rows.append(Row("migrations", "not recorded", str((n_mig or {}).get("max")),
                            allowed="save a new baseline", verdict=FAIL))
        else:
            applied, removed = _new_versions(b_mig.get("versions", []), (n_mig or {}).get("versions", []))
            unexpected = [v for v in applied if v not in expected]
            for version in applied:
                allowed = version in expected
                rows.append(Row(f"migration {version}", "not applied", "applied", "new",
                                "expected_migrations" if allowed else "not in expected_migrations",
                                "accepted" if allowed else FAIL))
            for version in removed:
                rows.append(Row(f"migration {version}", "applied", "not applied", "gone", "never removed", FAIL))
            if not applied and not removed:
                rows.append(Row("migration version", str(b_mig.get("max")), str((n_mig or {}).get("max"))))
    if spec.schemas and "schema" in base and "schema" in now:
        changes = schema_diff(base["schema"].get("tables", {}), now["schema"].get("tables", {}))
        if spec.migrations is not None:
            allowed = bool(applied) and not unexpected
            why = "by the expected migrations" if allowed else (
                "schema changed without a migration" if not applied else "by a migration that is not expected")
        else:
            allowed = bool(expected)
            why = ("expected_migrations declared (no migrations table to verify)" if allowed
                   else "no migration declared in expected_migrations")
        for item, was, is_now in changes:
            rows.append(Row(f"schema {item}", was, is_now, "changed", why, "accepted" if allowed else FAIL))
        if not changes:
            rows.append(Row("schema", base["schema"].get("hash", "")[:12], now["schema"].get("hash", "")[:12]))
    elif spec.schemas and "schema" not in base:
        rows.append(Row("schema", "not recorded", "", allowed="save a new baseline", verdict=FAIL))
    return rows
