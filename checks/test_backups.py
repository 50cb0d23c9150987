"""Backups (daily_backup.sh): a fresh, non-trivial, readable copy of each artifact, and a retention that holds.

Runs on the host holding the backups and only reads: it needs read and execute permission on the backup
directory and read permission on its files (e.g. membership of the group the backup job writes with).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from healthgate.check import ALL, DAILY, PRE, RESTORE_DRILL, check
from healthgate.expect import evidence, fail, note
from healthgate.units import format_duration, format_size

if TYPE_CHECKING:
    from healthgate.targets.backups import BackupsTarget


@check(phases=ALL, severity="critical", runbook="backup-fresh")
def test_backup_fresh(backups: BackupsTarget):
    """The newest backup of each pattern is younger than its max_age (default 26 h: one daily run plus slack).

    Needs: read and execute permission on the backup directory (metadata only)."""
    now = time.time()
    problems = []
    lines = []
    for pattern in backups.settings.patterns:
        found = backups.client.artifacts(pattern)
        if not found:
            problems.append(f"{pattern.name}: nothing matches {pattern.glob!r} under {backups.settings.dir}")
            lines.append(f"{pattern.name}: no match")
            continue
        newest = found[0]
        lines.append(f"{pattern.name}: newest {newest.describe(now)} of {len(found)}")
        if pattern.max_age is not None and newest.age(now) > pattern.max_age:
            problems.append(f"{pattern.name}: newest {newest.relative} is {format_duration(newest.age(now))} old "
                            f"(max_age {format_duration(pattern.max_age)})")
    evidence("newest backups", "\n".join(lines))
    if problems:
        fail(backups, "; ".join(problems) + " — the backup job did not run or failed: check its cron entry "
                                            "(0 2 * * * daily_backup.sh) and its log")


@check(phases=ALL, severity="critical", runbook="backup-size")
def test_backup_size(backups: BackupsTarget):
    """The newest file of each file pattern is not empty and at least its min_size (database dump: 1 KiB).

    Needs: read and execute permission on the backup directory (metadata only)."""
    now = time.time()
    problems = []
    lines = []
    for pattern in backups.settings.patterns:
        if pattern.kind != "file":
            continue
        found = backups.client.artifacts(pattern)
        if not found:
            problems.append(f"{pattern.name}: no backup matches {pattern.glob!r}")
            continue
        newest = found[0]
        lines.append(f"{pattern.name}: {newest.describe(now)}, min_size {format_size(pattern.min_size)}")
        if newest.size < pattern.min_size:
            problems.append(f"{pattern.name}: {newest.relative} is {newest.size} bytes "
                            f"(min_size {format_size(pattern.min_size)})")
    evidence("sizes", "\n".join(lines))
    if problems:
        fail(backups, "; ".join(problems) + " — an empty or tiny dump means the dump command failed while the "
                                            "pipe to gzip still succeeded: run it by hand and read its errors")


@check(phases=(PRE, DAILY), severity="critical", runbook="backup-dir-copy")
def test_backup_dir_copy(backups: BackupsTarget):
    """The newest copy of each directory pattern (the config copy) exists and holds at least one file.

    Needs: read and execute permission on the backup directory and the copies (metadata only)."""
    dirs = [p for p in backups.settings.patterns if p.kind == "dir"]
    if not dirs:
        pytest.skip("no kind=dir pattern in this target")
    now = time.time()
    problems = []
    lines = []
    for pattern in dirs:
        found = backups.client.artifacts(pattern)
        if not found:
            problems.append(f"{pattern.name}: no directory matches {pattern.glob!r}")
            continue
        newest = found[0]
        lines.append(f"{pattern.name}: {newest.describe(now)}")
        if newest.files == 0:
            problems.append(f"{pattern.name}: {newest.relative} is empty")
    evidence("directory copies", "\n".join(lines))
    if problems:
        fail(backups, "; ".join(problems) + " — `cp -r <config> $BACKUP_DIR/` copied nothing: check the "
                                            "source path and the job's permissions")


@check(phases=(DAILY, RESTORE_DRILL), severity="critical", runbook="backup-integrity")
def test_backup_integrity(backups: BackupsTarget):
    """The newest artifact of each verified pattern reads through: complete gzip stream, tar members, or RDB
    magic + EOF opcode + CRC64 (bounded by max_verify_seconds).

    Needs: read permission on the newest backup files (they are read, never extracted or written)."""
    checked = [p for p in backups.settings.patterns if p.verify != "none"]
    if not checked:
        pytest.skip("no pattern with verify in this target")
    problems = []
    missing = []
    lines = []
    for pattern in checked:
        found = backups.client.artifacts(pattern)
        if not found:
            missing.append(f"{pattern.name}: no backup matches {pattern.glob!r}, nothing to verify")
            continue
        result = backups.client.verify(found[0], pattern.verify)
        lines.append(f"{pattern.name}: {found[0].relative}: {result.detail} ({format_duration(result.seconds)})")
        if not result.ok:
            problems.append(f"{pattern.name}: {found[0].relative}: {result.detail}")
        elif not result.complete:
            note(f"{pattern.name}: {found[0].relative} only partly verified: {result.detail}; "
                 "raise max_verify_seconds to read it all")
    evidence("verification", "\n".join(lines))
    hints = []
    if problems:
        hints.append("a backup that does not read through cannot be restored: rerun the backup job now and "
                     "restore-test the previous one")
    if missing:
        hints.append("no backup at all: see backup-fresh")
    if problems or missing:
        fail(backups, "; ".join(problems + missing) + " — " + "; ".join(hints))


@check(phases=(DAILY,), severity="warning", runbook="backup-retention")
def test_backup_retention(backups: BackupsTarget):
    """Each pattern keeps at least retention.min_count backups (default 7) and none older than retention.max_age
    (default 30 d: the runbook's `find /opt/backups -mtime +30 -delete` ran).

    Needs: read and execute permission on the backup directory (metadata only)."""
    retention = backups.settings.retention
    now = time.time()
    problems = []
    lines = []
    for pattern in backups.settings.patterns:
        found = backups.client.artifacts(pattern)
        old = [a for a in found if a.age(now) > retention.max_age]
        lines.append(f"{pattern.name}: {len(found)} kept, {len(old)} older than {format_duration(retention.max_age)}"
                     + (f", oldest {found[-1].describe(now)}" if found else ""))
        if len(found) < retention.min_count:
            problems.append(f"{pattern.name}: {len(found)} backup(s) kept, fewer than min_count "
                            f"{retention.min_count}")
        if old:
            listing = ", ".join(f"{a.relative} ({format_duration(a.age(now))})" for a in old[::-1][:10])
            more = f", … {len(old) - 10} more" if len(old) > 10 else ""
            problems.append(f"{pattern.name}: {len(old)} backup(s) older than "
                            f"{format_duration(retention.max_age)} still kept: {listing}{more}")
    evidence("retention", "\n".join(lines))
    hints = []
    if any("older than" in p for p in problems):
        hints.append(f"the cleanup (`find {backups.settings.dir} -mtime +{retention.max_age / 86400:.0f} -delete`) "
                     "did not run: check its cron job")
    if any("fewer than" in p for p in problems):
        hints.append("too few kept: the backup job skipped days or the cleanup removed too much")
    if problems:
        fail(backups, "; ".join(problems) + " — " + "; ".join(hints))
