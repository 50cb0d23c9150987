"""Disk: space and inodes left on each filesystem, log directories' size and cleanup (daily_maintenance.sh).

Runs on the host it checks and reads only metadata (statvfs, lstat): it needs read and execute permission on
the configured paths and log directories, nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthgate.check import ALL, DAILY, PRE, check
from healthgate.expect import evidence, expect, fail, note
from healthgate.units import format_duration, format_size

if TYPE_CHECKING:
    from healthgate.targets.disk import DiskTarget


@check(phases=ALL, severity="critical", runbook="disk-usage")
def test_disk_usage(disk: DiskTarget):
    """Every configured path's filesystem is used below the threshold, as df's Use% (seeds: disk usage < 85 %).

    Needs: execute permission on each path's parent directories (statvfs only)."""
    limit = disk.thresholds.used_pct
    problems = []
    lines = []
    for path in disk.settings.paths:
        usage = disk.client.usage(path)
        lines.append(f"{path} (on {usage.mount}): {usage.used_pct:.1f}% used, {format_size(usage.free)} free "
                     f"of {format_size(usage.total)}")
        problems += _collect(disk, f"used_pct[{path}]", round(usage.used_pct, 1), "<", limit, unit="%",
                             detail=f"{format_size(usage.free)} free on {usage.mount}")
    evidence("df", "\n".join(lines))
    _fail_all(disk, problems, "the daily cleanup (old logs, old backups, `docker system prune`) did not keep up")


@check(phases=ALL, severity="critical", runbook="disk-inodes")
def test_disk_inodes(disk: DiskTarget):
    """Every configured path's filesystem keeps free inodes above the threshold (default 10 %), as df -i.

    Needs: execute permission on each path's parent directories (statvfs only)."""
    limit = disk.thresholds.inodes_free_min_pct
    problems = []
    lines = []
    for path in disk.settings.paths:
        usage = disk.client.usage(path)
        free_pct = usage.inodes_free_pct
        if free_pct is None:
            note(f"{path} (on {usage.mount}): the filesystem does not report inodes; not judged")
            continue
        lines.append(f"{path} (on {usage.mount}): {usage.inodes_free} of {usage.inodes_total} inodes free "
                     f"({free_pct:.1f}%)")
        problems += _collect(disk, f"inodes_free_pct[{path}]", round(free_pct, 1), ">=", limit, unit="%",
                             detail=f"{usage.inodes_free} inodes free on {usage.mount}")
    evidence("df -i", "\n".join(lines))
    _fail_all(disk, problems, "millions of small files (logs, cache, sessions): writes fail with space left")


@check(phases=(PRE, DAILY), severity="warning", runbook="log-dir-size")
def test_log_dir_size(disk: DiskTarget):
    """Each log directory's files total less than its max_size (du -sh; bounded by walk.max_files).

    Needs: read and execute permission on the log directory and its subdirectories (lstat only, no file read)."""
    dirs = [(d, d.max_size) for d in disk.settings.log_dirs if d.max_size is not None]
    if not dirs:
        pytest.skip("no log_dirs with max_size in this target")
    problems = []
    for log_dir, max_size in dirs:
        scan = disk.client.scan_logs(log_dir)
        evidence(f"du {log_dir.path}", scan.describe())
        if scan.stopped:
            note(f"{log_dir.path}: {scan.stopped}; its size is at least {format_size(scan.total_bytes)}")
        problems += _collect(disk, f"log_dir_size[{log_dir.path}]", _mib(scan.total_bytes), "<",
                             _mib(max_size), unit="MiB", detail=_size_detail(scan))
    _fail_all(disk, problems, "logs grow faster than rotation removes them: check logrotate/Fluent Bit and the "
                              "noisiest files (`du -sh <dir>/* | sort -hr`)")


@check(phases=(DAILY,), severity="warning", runbook="log-retention")
def test_log_retention(disk: DiskTarget):
    """No log matching the pattern is older than the retention window (the runbook's `find -mtime +30 -delete` ran).

    Needs: read and execute permission on the log directory and its subdirectories (lstat only, no file read)."""
    dirs = [(d, d.retention) for d in disk.settings.log_dirs if d.retention is not None]
    if not dirs:
        pytest.skip("no log_dirs with retention in this target")
    problems = []
    for log_dir, retention in dirs:
        scan = disk.client.scan_logs(log_dir)
        evidence(f"find {log_dir.path}", scan.describe())
        if scan.stopped:
            note(f"{log_dir.path}: {scan.stopped}; older files may exist beyond what was seen")
        if scan.old_count:
            listing = ", ".join(f"{f.path} ({format_duration(f.age_s)})" for f in scan.oldest)
            more = f", … {scan.old_count - len(scan.oldest)} more" if scan.old_count > len(scan.oldest) else ""
            problems.append(f"{scan.old_count} file(s) matching {log_dir.pattern!r} in {log_dir.path} older than "
                            f"{format_duration(retention)}: {listing}{more}")
    if problems:
        fail(disk, "; ".join(problems) + " — the log cleanup (`find <dir> -name \"*.log\" -mtime +N -delete`) "
                                         "did not run: check its cron job")


def _mib(size: int) -> float:
    return round(size / 1024**2, 1)


def _size_detail(scan) -> str:
    return f"{scan.files} files, {format_size(scan.total_bytes)}" + (" (at least: walk stopped)" if scan.stopped
                                                                      else "")


def _collect(target, subject, observed, op, expected, *, unit, detail) -> list[str]:
    """Judge one path without stopping at the first bad one, so a failure lists every full filesystem."""
    try:
        expect(target, subject, observed, op, expected, unit=unit)
    except pytest.fail.Exception as exc:
        return [f"{str(exc.msg).removeprefix(f'{target.id}: ')} ({detail})"]
    return []


def _fail_all(target, problems: list[str], hint: str) -> None:
    __tracebackhide__ = True
    if problems:
        fail(target, "; ".join(problems) + f" — {hint}")
