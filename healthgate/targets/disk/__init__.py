"""Local filesystems: space and inodes left (``df``), size and age of log directories (``du``, ``find -mtime``).

Reads only metadata of the host the suite runs on: ``statvfs`` of each path and ``lstat`` of the files under each
log directory, so any user that can list those directories can run it. Walks are bounded by a file count and by
the read timeout, because a log directory that was never cleaned can hold millions of files; a ``statvfs`` that
hangs (a stale network mount) is abandoned after the read timeout instead of hanging the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.disk.client import Client
    from healthgate.targets.disk.settings import Settings

    # What a check's ``disk`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    DiskTarget: TypeAlias = Target[Settings, Client]
