"""PostgreSQL fingerprint: row counts, newest ids and timestamps, schema and migration version.

Its own short session, read-only with statement and lock timeouts, so fingerprinting never writes and never
waits behind a migration's lock for long. Needs CONNECT and SELECT on the listed tables (row counts and max()
read the rows); the schema fingerprint reads only catalogs (``pg_class``, ``pg_attribute``, ``pg_index``), which
every login may read, unlike ``information_schema`` that hides columns the login has no privilege on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any

from healthgate.baseline.settings import PostgresBaseline
from healthgate.errors import AuthFailed, BadResponse, CheckError, PermissionMissing, Unreachable
from healthgate.targets.base import Timeouts

APPLICATION_NAME = "healthgate-baseline"
SCHEMA_ROWS_LIMIT = 20_000  # columns + indexes fingerprinted; beyond that only what fits is kept
MIGRATION_VERSIONS_KEPT = 1000

_COLUMNS = """
SELECT n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, a.attnum
LIMIT %s
"""
_INDEXES = """
SELECT n.nspname || '.' || t.relname, i.relname, pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%s)
ORDER BY 1, 2
LIMIT %s
"""


def session_options(read_timeout_s: float) -> str:
    statement_ms = max(1, round(read_timeout_s * 1000))
    lock_ms = max(1, statement_ms // 2)
    return f"-c default_transaction_read_only=on -c statement_timeout={statement_ms} -c lock_timeout={lock_ms}"


def address(dsn: str) -> str:
    """host:port/db of a DSN, without credentials."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable dsn>"
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


class Session:
    """One read-only connection; every error becomes a CheckError that says what was attempted."""

    def __init__(self, dsn: str, timeouts: Timeouts, *, read_only: bool = True) -> None:
        self.dsn = dsn
        self.timeouts = timeouts
        self.read_only = read_only
        self.where = address(dsn)
        self._conn: Any = None

    def __enter__(self) -> Session:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        from healthgate.redact import register_secret

        with contextlib.suppress(Exception):
            password = conninfo_to_dict(self.dsn).get("password")
            register_secret(str(password) if password else None)
        options = session_options(self.timeouts.read) if self.read_only else ""
        try:
            self._conn = psycopg.connect(self.dsn, connect_timeout=max(2, math.ceil(self.timeouts.connect)),
                                         autocommit=True, application_name=APPLICATION_NAME, options=options)
        except psycopg.OperationalError as exc:
            text = " ".join(str(exc).split())
            if "authentication failed" in text or "no pg_hba.conf entry" in text:
                raise AuthFailed(f"{self.where} refused the login: {text}",
                                 hint="check the DSN's credentials") from None
            raise Unreachable(f"connecting to {self.where} failed: {text}",
                              hint="is the server up and the DSN right?") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def rows(self, query: Any, params: Any = None, *, table: str = "") -> list[tuple[Any, ...]]:
        import psycopg
        from psycopg import errors as pgerr

        shown = query.as_string(self._conn) if hasattr(query, "as_string") else " ".join(str(query).split())
        try:
            cursor = self._conn.execute(query, params)
            return list(cursor.fetchall()) if cursor.description is not None else []
        except pgerr.InsufficientPrivilege as exc:
            raise PermissionMissing(f"{self.where}: {shown[:120]} refused: {exc.diag.message_primary}",
                                    hint=f"GRANT SELECT ON {table} TO <monitoring user>" if table else
                                    "the fingerprint needs SELECT on the listed tables") from None
        except pgerr.QueryCanceled:
            raise CheckError(f"{self.where}: {shown[:120]} cancelled by statement_timeout ({self.timeouts.read:g} s)",
                             hint="list the table under estimated_tables, or raise the target's read timeout") from None
        except pgerr.LockNotAvailable:
            raise CheckError(f"{self.where}: {shown[:120]} waited too long for a lock",
                             hint="a migration or maintenance holds an exclusive lock; retry after it") from None
        except pgerr.UndefinedColumn as exc:
            raise BadResponse(f"{self.where}: {exc.diag.message_primary}",
                              hint="fix the column named in data_safety.baseline") from None
        except psycopg.OperationalError as exc:
            raise Unreachable(f"{self.where}: {shown[:120]} failed: {' '.join(str(exc).split())}") from None
        except psycopg.Error as exc:
            raise BadResponse(f"{self.where}: {shown[:120]} failed: {type(exc).__name__}: {exc}") from None

    def one(self, query: Any, params: Any = None, *, table: str = "") -> Any:
        rows = self.rows(query, params, table=table)
        return rows[0][0] if rows else None

    # -- facts

    def server_version_num(self) -> int:
        return int(self.one("SHOW server_version_num"))

    def exists(self, table: str) -> bool:
        return self.one("SELECT to_regclass(%s) IS NOT NULL", (table,)) is True

    def exact_count(self, table: str) -> int:
        return int(self.one(_sql("SELECT count(*) FROM {}", table), table=table))

    def estimated_count(self, table: str) -> int | None:
        value = self.one("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", (table,))
        return None if value is None or value < 0 else int(value)  # -1: never analysed

    def max_of(self, table: str, column: str) -> Any:
        from psycopg import sql

        query = sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), sql.Identifier(*table.split(".")))
        return self.one(query, table=table)

    def schema(self, schemas: tuple[str, ...]) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {}
        for table, column, type_, not_null in self.rows(_COLUMNS, (list(schemas), SCHEMA_ROWS_LIMIT)):
            entry = tables.setdefault(table, {"columns": [], "indexes": {}})
            entry["columns"].append(f"{column} {type_}{' not null' if not_null else ''}")
        for table, index, definition in self.rows(_INDEXES, (list(schemas), SCHEMA_ROWS_LIMIT)):
            tables.setdefault(table, {"columns": [], "indexes": {}})["indexes"][index] = definition
        digest = hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()
        return {"schemas": list(schemas), "hash": digest, "tables": tables}


def _sql(template: str, table: str) -> Any:
    from psycopg import sql

    return sql.SQL(template).format(sql.Identifier(*table.split(".")))


def timestamp_value(value: Any) -> str | float | None:
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


def count_tables(session: Session, exact: tuple[str, ...], estimated: tuple[str, ...] = ()) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    for table in (*exact, *estimated):
        if not session.exists(table):
            counts[table] = {"count": None, "method": "missing"}
        elif table in exact:
            counts[table] = {"count": session.exact_count(table), "method": "exact"}
        else:
            counts[table] = {"count": session.estimated_count(table), "method": "estimate"}
    return counts


def fingerprint(dsn: str, spec: PostgresBaseline, timeouts: Timeouts) -> dict[str, Any]:
    """Everything the comparison needs, as JSON-ready values."""
    with Session(dsn, timeouts) as session:
        result: dict[str, Any] = {"server_version_num": session.server_version_num()}
        result["rows"] = count_tables(session, spec.exact_tables, spec.estimated_tables)
        result["max_id"] = {
            f"{table}.{column}": timestamp_value(_max_or_missing(session, table, column))
            for table, column in spec.max_id.items()
        }
        result["max_timestamp"] = {
            f"{table}.{column}": timestamp_value(_max_or_missing(session, table, column))
            for table, column in spec.max_timestamp.items()
        }
        if spec.schemas:
            result["schema"] = session.schema(spec.schemas)
        if spec.migrations is not None:
            result["migrations"] = _migrations(session, spec.migrations.table, spec.migrations.column)
        return result


def _max_or_missing(session: Session, table: str, column: str) -> Any:
    if not session.exists(table):
        return None
    value = session.max_of(table, column)
    if isinstance(value, decimal.Decimal):  # numeric ids
        return int(value) if value == value.to_integral_value() else float(value)
    return value if value is None or isinstance(value, int | float | dt.date) else str(value)


def _migrations(session: Session, table: str, column: str) -> dict[str, Any]:
    from psycopg import sql

    if not session.exists(table):
        return {"table": table, "max": None, "count": 0, "versions": []}
    ident = sql.Identifier(*table.split("."))
    col = sql.Identifier(column)
    count = session.one(sql.SQL("SELECT count(*) FROM {}").format(ident), table=table)
    newest_first = sql.SQL("SELECT {}::text FROM {} ORDER BY {} DESC LIMIT %s").format(col, ident, col)
    versions = [row[0] for row in session.rows(newest_first, (MIGRATION_VERSIONS_KEPT,), table=table)]
    return {"table": table, "max": versions[0] if versions else None, "count": int(count), "versions": versions}


@contextlib.contextmanager
def session(dsn: str, timeouts: Timeouts, *, read_only: bool = True) -> Iterator[Session]:
    with Session(dsn, timeouts, read_only=read_only) as opened:
        yield opened
