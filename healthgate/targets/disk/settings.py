"""What a profile may say about a disk target: its address, credentials and thresholds."""

from __future__ import annotations

from pydantic import Field

from healthgate.targets.base import Model, TargetSettings
from healthgate.units import Duration, Size


class LogDir(Model):
    path: str = Field(description="directory holding logs, e.g. /opt/nightscan/logs")
    pattern: str = Field("*.log", description="file-name glob of the logs the cleanup deletes (find -name)")
    retention: Duration | None = Field(30 * 86400.0,
                                       description="files older than this should be gone (seeds: -mtime +30)")
    max_size: Size | None = Field(10 * 1024**3, description="total size of all files under the directory (du -sh)")


class DiskThresholds(Model):
    used_pct: float = Field(85.0, gt=0, le=100, description="space used, as df's Use% (seeds: disk usage < 85 %)")
    inodes_free_min_pct: float = Field(10.0, ge=0, lt=100, description="free inodes at least this % of all")


class WalkLimits(Model):
    max_files: int = Field(100_000, ge=1, description="stop a log-directory walk after visiting this many entries")


class Settings(TargetSettings):
    paths: tuple[str, ...] = Field(("/",), min_length=1,
                                   description="paths whose filesystem is judged, e.g. [/, /var/lib/postgresql]")
    log_dirs: tuple[LogDir, ...] = Field((), description="log directories whose size and cleanup are judged")
    walk: WalkLimits = WalkLimits()
    thresholds: DiskThresholds = DiskThresholds()

    def address(self) -> str:
        return "local " + ",".join(self.paths)
