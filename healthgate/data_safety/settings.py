"""The ``data_safety:`` profile key: what to fingerprint per target, the allowances when comparing, the recovery
objectives, and what the monthly restore drill restores.

Every section is keyed by the name of a target of the same kind in the profile, so a fingerprint is always taken
through that target's own address and credentials. :meth:`DataSafety.reference_errors` rejects names the profile
does not declare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from healthgate.errors import ProfileError
from healthgate.targets.base import Model
from healthgate.units import Duration

_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"
_TABLE = re.compile(rf"^{_IDENT}(\.{_IDENT})?$")
_TOLERANCE = re.compile(r"^(\d+(?:\.\d+)?)%$")
TOLERANCE_FORM = "a number of rows/keys/documents (e.g. 10) or a percentage of the baseline (e.g. 2%)"


def _table_name(value: str) -> str:
    if not _TABLE.match(value):
        raise ValueError(f"{value!r} is not a table name; use table or schema.table (unquoted identifiers)")
    return value


def _column_name(value: str) -> str:
    if not re.fullmatch(_IDENT, value):
        raise ValueError(f"{value!r} is not a column name (an unquoted identifier)")
    return value


def _tolerance(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a tolerance; use {TOLERANCE_FORM}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and (match := _TOLERANCE.match(value.strip())):
        if float(match.group(1)) > 100:
            raise ValueError(f"{value!r}: a percentage tolerance is at most 100%")
        return value.strip()
    raise ValueError(f"{value!r} is not a tolerance; use {TOLERANCE_FORM}")


TableName = Annotated[str, AfterValidator(_table_name)]
ColumnName = Annotated[str, AfterValidator(_column_name)]
Tolerance = Annotated[int | str, BeforeValidator(_tolerance)]


def allowed_drop(tolerance: int | str, baseline: int) -> int:
    """How many of ``baseline`` items may disappear: the absolute figure, or the percentage rounded down."""
    if isinstance(tolerance, int):
        return tolerance
    match = _TOLERANCE.match(tolerance)
    if match is None:  # pragma: no cover - validated on load
        raise ValueError(tolerance)
    return int(baseline * float(match.group(1)) / 100.0)


# ------------------------------------------------------------------------------------------------ baseline


class MigrationsTable(Model):
    table: TableName = Field(description="table recording applied migrations, e.g. schema_migrations")
    column: ColumnName = Field("version", description="column holding the version")


class PostgresBaseline(Model):
    exact_tables: tuple[TableName, ...] = Field((), description="tables counted with count(*) (small ones)")
    estimated_tables: tuple[TableName, ...] = Field(
        (), description="big tables: pg_class.reltuples estimate instead of a full count")
    max_id: dict[TableName, ColumnName] = Field(default_factory=dict, description="table: id column whose max() "
                                                                                  "must not go backwards")
    max_timestamp: dict[TableName, ColumnName] = Field(
        default_factory=dict, description="table: timestamp column whose max() must not go backwards (and, after "
                                          "a recovery, must be within the RPO of the baseline)")
    tolerance: dict[TableName, Tolerance] = Field(
        default_factory=dict, description="rows a table may lose; default 0 for exact tables, 5% for estimated "
                                          "ones (estimates move after ANALYZE)")
    schemas: tuple[str, ...] = Field(("public",), description="schemas whose tables, columns and indexes are "
                                                              "fingerprinted; empty: no schema fingerprint")
    migrations: MigrationsTable | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PostgresBaseline:
        both = sorted(set(self.exact_tables) & set(self.estimated_tables))
        if both:
            raise ValueError(f"listed as both exact and estimated: {', '.join(both)}")
        listed = set(self.exact_tables) | set(self.estimated_tables)
        stray = sorted(set(self.tolerance) - listed)
        if stray:
            raise ValueError(f"tolerance for tables that are not listed in exact_tables/estimated_tables: "
                             f"{', '.join(stray)}")
        return self

    def tolerance_of(self, table: str) -> int | str:
        if table in self.tolerance:
            return self.tolerance[table]
        return "5%" if table in self.estimated_tables else 0


class RedisBaseline(Model):
    patterns: tuple[str, ...] = Field((), description="SCAN MATCH globs whose key counts are recorded")
    tolerance: dict[str, Tolerance] = Field(default_factory=dict, description="keys a pattern may lose (default 0)")
    dbsize_tolerance: Tolerance | None = Field(
        None, description="keys DBSIZE may lose; unset: recorded and shown, not judged (caches expire keys)")

    @model_validator(mode="after")
    def _known_patterns(self) -> RedisBaseline:
        stray = sorted(set(self.tolerance) - set(self.patterns))
        if stray:
            raise ValueError(f"tolerance for patterns that are not listed: {', '.join(stray)}")
        return self


class OpenSearchBaseline(Model):
    index_patterns: tuple[str, ...] = Field(min_length=1, description="index patterns counted (a _search of size 0)")
    tolerance: dict[str, Tolerance] = Field(default_factory=dict, description="documents a pattern may lose "
                                                                              "(default 0)")

    @model_validator(mode="after")
    def _known_patterns(self) -> OpenSearchBaseline:
        stray = sorted(set(self.tolerance) - set(self.index_patterns))
        if stray:
            raise ValueError(f"tolerance for index patterns that are not listed: {', '.join(stray)}")
        return self


class BackupsBaseline(Model):
    patterns: tuple[str, ...] = Field((), description="names of the target's backup patterns; empty: all")
    tolerance: Tolerance = Field(0, description="objects a pattern may lose (set 1 if the retention job may run "
                                                "between save and compare)")


class Baseline(Model):
    postgres: dict[str, PostgresBaseline] = Field(default_factory=dict)
    redis: dict[str, RedisBaseline] = Field(default_factory=dict)
    opensearch: dict[str, OpenSearchBaseline] = Field(default_factory=dict)
    backups: dict[str, BackupsBaseline] = Field(default_factory=dict)

    def of(self, kind: str, name: str) -> Any:
        section: dict[str, Any] = getattr(self, kind, {})
        return section.get(name)


# ------------------------------------------------------------------------------------------------ restore drill


class PostgresDrill(Model):
    backups_glob: str = Field(description="glob of the dumps, e.g. /opt/backups/*/database.sql.gz; the newest "
                                          "match (mtime) is restored. Plain SQL, gzip'ed SQL or pg_dump -Fc")
    image: str | None = Field(None, description="PostgreSQL image of the throwaway server (default: the stack's "
                                                "postgres image); must have the dump's major version")
    tables: tuple[TableName, ...] = Field(min_length=1, description="tables that must exist after the restore")
    tolerance: Tolerance = Field("5%", description="rows a restored table may have fewer than the reference "
                                                   "(the backup is older than the live data)")
    reference: Literal["auto", "baseline", "live"] = Field(
        "auto", description="compare counts with the --baseline file (auto: when given) or the live database")
    start_timeout: Duration = Field(120.0, description="wait at most this long for the throwaway server")
    restore_timeout: Duration = Field(3600.0, description="abandon a restore still running after this long")


class RedisDrill(Model):
    rdb_glob: str = Field(description="glob of RDB files, e.g. /opt/backups/*/redis.rdb; the newest is loaded")
    image: str | None = Field(None, description="Redis image of the throwaway server (default: the stack's)")
    tolerance: Tolerance = Field("5%", description="keys the loaded RDB may have fewer than the reference")
    reference: Literal["auto", "baseline", "live"] = "auto"
    start_timeout: Duration = 60.0


class RestoreDrill(Model):
    postgres: dict[str, PostgresDrill] = Field(default_factory=dict)
    redis: dict[str, RedisDrill] = Field(default_factory=dict)

    def of(self, kind: str, name: str) -> Any:
        section: dict[str, Any] = getattr(self, kind, {})
        return section.get(name)


class DataSafety(Model):
    """Baselines across deploys and recoveries, recovery objectives, restore drill."""

    baseline: Baseline = Baseline()
    expected_migrations: tuple[str, ...] = Field(
        (), description="migration versions this deploy may apply; any other schema change fails the comparison")
    rpo: Duration = Field(24 * 3600.0, description="recovery point objective: after a recovery, newest data at "
                                                   "most this much older than at the baseline (daily backups: 24h)")
    rto: Duration = Field(15 * 60.0, description="recovery time objective: a restore drill must finish within "
                                                 "this (seeds: MTTR < 15 min)")
    restore_drill: RestoreDrill = RestoreDrill()

    def reference_errors(self, targets: Mapping[str, Mapping[str, Any]]) -> list[ProfileError]:
        """Sections naming targets the profile does not declare (a typo would silently check nothing)."""
        errors = []
        for section_name, section in (("baseline", self.baseline), ("restore_drill", self.restore_drill)):
            for kind in type(section).model_fields:
                declared = targets.get(kind, {})
                for name in getattr(section, kind):
                    if name not in declared:
                        known = ", ".join(sorted(declared)) or "none"
                        errors.append(ProfileError(
                            f"no {kind} target named {name!r} in this profile",
                            path=("data_safety", section_name, kind, name),
                            hint=f"declared {kind} targets: {known}",
                        ))
        return errors
