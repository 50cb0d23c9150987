"""Fingerprints of the data a deploy or a recovery must keep, read through each target's own client.

The client of a kind is the only code that talks to that kind of server, so a fingerprint gets the same
read-only session, timeouts, frozen-server watchdog, command allow-list and down-marking as the checks: a target
found unreachable earlier in the run is not contacted again, and a PostgreSQL DSN's own ``options`` are kept.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Sequence
from typing import Any

SCHEMA_ROWS_LIMIT = 20_000  # columns (and indexes) fingerprinted; beyond that only what fits is kept
MIGRATION_VERSIONS_KEPT = 1000
# Restore points: rows at or before each edge are counted, so that after a recovery a loss can be told apart from
# a restore to an earlier point (which keeps every row up to that point). Timestamp edges split the RPO window
# in RESTORE_STEPS, go on as far again past it, then further back at FAR_EDGES × RPO, so that even a restore
# far beyond the RPO is told with the rows it kept; id edges sit at ID_OFFSETS below the newest id.
RESTORE_STEPS = 24
FAR_EDGES = (3, 4, 6, 8, 16, 32, 64)
ID_OFFSETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000,
              500_000, 1_000_000)


# ------------------------------------------------------------------------------------------------ PostgreSQL

def postgres(target: Any, spec: Any, *, rpo: float, reference: dict[str, Any] | None = None,
             with_restore_points: bool = True) -> dict[str, Any]:
    """Row counts, newest ids and timestamps, restore points, schema and migration version, as JSON-ready values
    (CONNECT, and SELECT on the listed tables and the migrations table). ``reference`` is the baseline's
    fingerprint when comparing after a recovery: rows are then counted at the baseline's restore-point edges.
    After a deploy nothing may be lost at all, and restore points are not read."""
    client = target.client
    result: dict[str, Any] = {"server_version_num": client.server().version_num}
    result["rows"] = postgres_rows(target, spec.exact_tables, spec.estimated_tables)
    result["max_id"] = {f"{table}.{column}": json_value(_max_or_missing(client, table, column))
                        for table, column in spec.max_id.items()}
    result["max_timestamp"] = {f"{table}.{column}": json_value(_max_or_missing(client, table, column))
                               for table, column in spec.max_timestamp.items()}
    if with_restore_points:
        result["restore_points"] = restore_points(target, spec, rpo=rpo,
                                                  reference=(reference or {}).get("restore_points", {}) if reference
                                                  is not None else None)
    if spec.schemas:
        tables = client.schema_definition(spec.schemas, SCHEMA_ROWS_LIMIT)
        digest = hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()
        result["schema"] = {"schemas": list(spec.schemas), "hash": digest, "tables": tables}
    if spec.migrations is not None:
        result["migrations"] = _migrations(client, spec.migrations.table, spec.migrations.column)
    return result


def postgres_rows(target: Any, exact: Sequence[str], estimated: Sequence[str] = ()) -> dict[str, Any]:
    """Per table: its row count and how it was taken (exact, estimate, or missing when the table is gone)."""
    client = target.client
    counts: dict[str, Any] = {}
    for table in (*exact, *estimated):
        if not client.table_exists(table):
            counts[table] = {"count": None, "method": "missing"}
        elif table in exact:
            counts[table] = {"count": client.row_count(table), "method": "exact"}
        else:
            counts[table] = {"count": client.row_estimate(table), "method": "estimate"}
    return counts


def _max_or_missing(client: Any, table: str, column: str) -> Any:
    if not client.table_exists(table):
        return None
    value = client.max_value(table, column)
    if isinstance(value, decimal.Decimal):  # numeric ids
        return int(value) if value == value.to_integral_value() else float(value)
    return value if value is None or isinstance(value, int | float | dt.date) else str(value)


def _migrations(client: Any, table: str, column: str) -> dict[str, Any]:
    if not client.table_exists(table):
        return {"table": table, "max": None, "count": 0, "versions": []}
    count, versions = client.migration_history(table, column, MIGRATION_VERSIONS_KEPT)
    return {"table": table, "max": versions[0] if versions else None, "count": count, "versions": versions}


def restore_points(target: Any, spec: Any, *, rpo: float,
                   reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per max_timestamp and max_id column: its newest value and the rows at or before each edge below it.

    Compared with a reference (the baseline), the edges are the baseline's, and ``restored_to`` is the newest
    value not after the baseline's newest: the point a recovery restored the data to."""
    client = target.client
    columns = [*((t, c, "timestamp") for t, c in spec.max_timestamp.items()),
               *((t, c, "id") for t, c in spec.max_id.items())]
    points: dict[str, Any] = {}
    for table, column, role in columns:
        key = f"{table}.{column}"
        if not client.table_exists(table):
            continue
        if reference is not None:
            if key not in reference or reference[key].get("newest") is None:
                continue
            base = reference[key]
            edges = [from_json(edge, base["type"]) for edge, _ in base["at_or_before"]]
            restored = client.max_at_or_before(table, column, from_json(base["newest"], base["type"]))
            counts = client.counts_at_or_before(table, column, edges) if edges else []
            points[key] = {"type": base["type"], "restored_to": json_value(restored),
                           "at_or_before": [[e, n] for (e, _), n in zip(base["at_or_before"], counts, strict=True)]}
            continue
        newest = client.max_value(table, column)
        kind = value_type(newest)
        if kind is None:  # no rows, or a type (text, date) no restore point can be reckoned in
            points[key] = {"type": None, "newest": json_value(newest), "at_or_before": []}
            continue
        if role == "timestamp":
            steps = [*(k / RESTORE_STEPS for k in range(2 * RESTORE_STEPS + 1)), *FAR_EDGES]
            edges = [newest - (dt.timedelta(seconds=rpo * s) if kind != "number" else rpo * s) for s in steps]
        else:
            edges = sorted({v for v in client.values_from_newest(table, column, ID_OFFSETS) if v is not None},
                           reverse=True)
        counts = client.counts_at_or_before(table, column, edges)
        points[key] = {"type": kind, "newest": json_value(newest),
                       "at_or_before": [[json_value(e), n] for e, n in zip(edges, counts, strict=True)]}
    return points


def value_type(value: Any) -> str | None:
    """How a column's values are written to JSON and read back: aware and naive timestamps stay what they were,
    so the edges sent back to the server compare with the column exactly."""
    if isinstance(value, dt.datetime):
        return "timestamp" if value.tzinfo is not None else "timestamp-naive"
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return "number"
    return None


def from_json(value: Any, kind: str) -> Any:
    if kind == "number":
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=None) if kind == "timestamp-naive" else parsed


def json_value(value: Any) -> str | float | None:
    """JSON form of a max(): ISO 8601 for dates and times (naive ones taken as UTC), numbers as they are."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).isoformat()
    if isinstance(value, decimal.Decimal):  # numeric ids
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, int | float):
        return value
    return str(value)


# ------------------------------------------------------------------------------------------------ Redis

def redis(target: Any, patterns: Sequence[str]) -> dict[str, Any]:
    """DBSIZE and the keys matching each pattern, counted with SCAN within the target's scan bounds (ACL +@read).
    A count cut short by the bounds is recorded as incomplete and never judged: a partial count compared with a
    full one would report a loss that did not happen."""
    client = target.client
    counted = {pattern: client.count_keys(pattern) for pattern in patterns}
    return {"dbsize": client.dbsize(),
            "patterns": {p: {"count": c.matched, "complete": c.complete} for p, c in counted.items()}}


# ------------------------------------------------------------------------------------------------ OpenSearch

def opensearch(target: Any, patterns: Sequence[str]) -> dict[str, Any]:
    """Documents per index pattern (read on those indices); a pattern matching no index counts 0."""
    return {"indices": {pattern: target.client.documents(pattern) for pattern in patterns}}


# ------------------------------------------------------------------------------------------------ backups

def backups(target: Any, patterns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """How many objects each (name, glob) pattern of the backup directory matches (read access to it)."""
    counts: dict[str, Any] = {}
    for name, pattern in patterns:
        count, complete = target.client.count_matches(pattern)
        counts[name] = {"count": count, "complete": complete}
    return {"root": target.settings.dir, "patterns": counts}
