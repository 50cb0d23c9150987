"""What a profile may say about a postgres target: its address, credentials and thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from healthgate.targets.base import Model, TargetSettings
from healthgate.units import Duration, Size


class Migrations(Model):
    """Where the applied schema version is recorded, and the version this release expects."""

    table: str = Field(description="e.g. schema_migrations, or public.alembic_version")
    column: str = Field("version", description="column holding the version; the check reads its max()")
    expected: str = Field(description="version the database must be at, e.g. 20250713_01")


class PostgresThresholds(Model):
    connections_used_pct: float = Field(90.0, gt=0, le=100,
                                        description="client sessions below this % of the slots ordinary roles "
                                                    "can use: max_connections minus the reserved ones "
                                                    "(seeds: active connections < 90 % pool)")
    idle_in_transaction: Duration = Field(600.0, description="a session idle in a transaction longer than this "
                                                             "counts (seeds: terminated after 10 minutes)")
    max_idle_in_transaction_sessions: int = Field(0, ge=0, description="sessions allowed over that age")
    longest_query: Duration = Field(300.0, description="longest running active statement")
    replication_lag: Duration = Field(5.0, description="standby replay lag (seeds: replication lag < 5 s)")
    query_mean: Duration = Field(0.100, description="mean statement time, weighted by calls")
    query_p95: Duration = Field(0.100, description="approximate P95 statement time (seeds: query time < "
                                                   "100 ms P95)")
    vacuum_age: Duration = Field(7 * 86400.0, description="time since the last (auto)vacuum of a checked table")
    analyze_age: Duration = Field(7 * 86400.0, description="time since the last (auto)analyze of a checked table")
    xid_age_pct: float = Field(50.0, gt=0, le=100, description="age(datfrozenxid) below this % of 2^31")
    lock_wait: Duration = Field(30.0, description="longest wait of a session for a lock")


class Settings(TargetSettings):
    dsn: str = Field(description="libpq URL or key=value string, e.g. "
                                 "postgresql://healthgate:${PG_PASSWORD}@db.internal:5432/app")
    role: Literal["primary", "standby", "auto"] = Field(
        "auto", description="what the server must be; auto judges whatever it is")
    expected_major_version: int | None = Field(None, ge=9, description="server major version, e.g. 15")
    min_standbys: int = Field(0, ge=0, description="standbys a primary must have streaming")
    tables: tuple[str, ...] = Field((), description="tables whose vacuum/analyze age is checked "
                                                    "(default: the largest ones)")
    largest_tables: int = Field(5, ge=1, le=100, description="how many of the largest tables when `tables` is "
                                                             "empty")
    max_database_size: Size | None = Field(None, description="size the database must stay below")
    migrations: Migrations | None = None
    thresholds: PostgresThresholds = PostgresThresholds()

    def address(self) -> str:
        return dsn_address(self.dsn)


def dsn_parts(dsn: str) -> dict[str, str]:
    """libpq connection parameters of a URL or key=value string (``ValueError`` when malformed)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except Exception as exc:  # psycopg.ProgrammingError; its text never contains the password
        raise ValueError(f"not a libpq connection string: {exc}") from None


def dsn_address(dsn: str) -> str:
    """``postgresql://host:port/dbname`` of a DSN, without user or password."""
    try:
        parts = dsn_parts(dsn)
    except ValueError:
        return "postgresql://<unparsable dsn>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    if ":" in host and "," not in host and not host.startswith("/"):
        host = f"[{host}]"
    port = parts.get("port") or "5432"
    dbname = parts.get("dbname") or parts.get("user") or ""
    return f"postgresql://{host}:{port}/{dbname}"
