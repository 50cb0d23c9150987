"""Backups on local disk, as daily_backup.sh leaves them: ``/opt/backups/YYYYMMDD/{database.sql.gz, redis.rdb,
app_files.tar.gz, config/}``. Freshness, size, integrity and retention of each kind of artifact.

Read-only and bounded: integrity is proven by streaming the newest artifact through a decompressor (never
extracting anything), chunk by chunk, for at most ``max_verify_seconds``; globbing stops after ``max_entries``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.backups.client import Client
    from healthgate.targets.backups.settings import Settings
    from healthgate.targets.base import Target

    # What a check's ``backups`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    BackupsTarget: TypeAlias = Target[Settings, Client]
