"""Backups on local disk, as daily_backup.sh leaves them: ``/opt/backups/YYYYMMDD/{database.sql.gz, redis.rdb,
app_files.tar.gz, config/}``. Freshness, size, integrity and retention of each kind of artifact.

Read-only and bounded: integrity is proven by streaming the newest artifact through a decompressor (never
extracting anything), chunk by chunk, for at most ``max_verify_seconds``; globbing stops after ``max_entries``.
"""
