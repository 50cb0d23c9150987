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


# ------------------------------------------------------------------------------------------------ PostgreSQL

def postgres(target: Any, spec: Any) -> dict[str, Any]:
    """Row counts, newest ids and timestamps, schema and migration version, as JSON-ready values (CONNECT, and
    SELECT on the listed tables and the migrations table)."""
    client = target.client
    result: dict[str, Any] = {"server_version_num": client.server().version_num}
    result["rows"] = postgres_rows(target, spec.exact_tables, spec.estimated_tables)
    result["max_id"] = {f"{table}.{column}": json_value(_max_or_missing(client, table, column))
                        for table, column in spec.max_id.items()}
    result["max_timestamp"] = {f"{table}.{column}": json_value(_max_or_missing(client, table, column))
                               for table, column in spec.max_timestamp.items()}
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
