"""What a profile may say about a backups target: its address, credentials and thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from healthgate.targets.base import Model, TargetSettings
from healthgate.units import Duration, Size


class BackupPattern(Model):
    name: str = Field(description="what this artifact is, shown in messages: database, redis, config, ...")
    glob: str = Field(description="glob relative to dir, e.g. */database.sql.gz (one match per backup run)")
    kind: Literal["file", "dir"] = "file"
    max_age: Duration | None = Field(26 * 3600.0, description="newest match younger than this (daily + slack); "
                                                              "null: freshness not judged")
    min_size: Size = Field(1, description="newest file at least this big (default: not empty)")
    verify: Literal["none", "gzip", "tar", "rdb"] = Field(
        "none", description="integrity proof: gzip stream, tar (gzip + every member), or RDB header/EOF/CRC64")

    @model_validator(mode="after")
    def _verify_needs_file(self) -> BackupPattern:
        if self.kind == "dir" and self.verify != "none":
            raise ValueError(f"pattern {self.name!r}: verify={self.verify} applies to files, not kind=dir")
        return self


DAILY_BACKUP_SH = (
    BackupPattern(name="database", glob="*/database.sql.gz", min_size=1024, verify="gzip"),
    BackupPattern(name="redis", glob="*/redis.rdb", verify="rdb"),
    BackupPattern(name="app_files", glob="*/app_files.tar.gz", verify="gzip"),
    BackupPattern(name="config", glob="*/config", kind="dir"),
)


class Retention(Model):
    max_age: Duration = Field(30 * 86400.0, description="nothing older is kept (seeds: find -mtime +30 -delete)")
    min_count: int = Field(7, ge=0, description="at least this many backups of each pattern are kept")


class Settings(TargetSettings):
    dir: str = Field("/opt/backups", description="backup root (daily_backup.sh: /opt/backups/YYYYMMDD)")
    patterns: tuple[BackupPattern, ...] = Field(DAILY_BACKUP_SH, min_length=1)
    retention: Retention = Retention()
    max_verify_seconds: Duration = Field(60.0, gt=0, description="stop reading an artifact after this long")
    max_entries: int = Field(10_000, ge=1, description="stop globbing a pattern after this many matches")

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        names = [p.name for p in self.patterns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"pattern names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def address(self) -> str:
        return f"local {self.dir}"


