"""Local filesystems: space and inodes left (``df``), size and age of log directories (``du``, ``find -mtime``).

Reads only metadata of the host the suite runs on: ``statvfs`` of each path and ``lstat`` of the files under each
log directory, so any user that can list those directories can run it. Walks are bounded by a file count and by
the read timeout, because a log directory that was never cleaned can hold millions of files; a ``statvfs`` that
hangs (a stale network mount) is abandoned after the read timeout instead of hanging the run.
"""

from __future__ import annotations

import errno
import fnmatch
import heapq
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import Field

from healthgate.errors import CheckError, PermissionMissing, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings
from healthgate.units import Duration, Size, format_duration

T = TypeVar("T")

OLDEST_SHOWN = 10


class MissingPath(CheckError):
    """A configured path is not there: the profile is wrong for this host, or a volume is not mounted."""

    category = "missing path"


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


# ------------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Usage:
    path: str
    mount: str
    total: int
    free: int  # available to unprivileged users, as df's Avail
    used: int
    inodes_total: int  # 0 when the filesystem does not count inodes (btrfs, some network filesystems)
    inodes_free: int

    @property
    def used_pct(self) -> float:
        """df's Use%: used / (used + available), so the root-reserved blocks count as unusable."""
        usable = self.used + self.free
        return 0.0 if usable <= 0 else 100.0 * self.used / usable

    @property
    def inodes_free_pct(self) -> float | None:
        return None if self.inodes_total <= 0 else 100.0 * self.inodes_free / self.inodes_total


@dataclass(frozen=True)
class OldFile:
    path: str
    age_s: float
    size: int


@dataclass
class LogScan:
    path: str
    pattern: str
    total_bytes: int = 0
    files: int = 0
    matching: int = 0
    matching_bytes: int = 0
    old_count: int = 0
    oldest: list[OldFile] = field(default_factory=list)  # up to OLDEST_SHOWN, oldest first
    visited: int = 0
    stopped: str = ""  # why the walk ended early; empty when it saw everything
    unreadable: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (f"{self.path}: {self.files} files, {self.total_bytes} bytes; {self.matching} match "
                f"{self.pattern!r} ({self.matching_bytes} bytes)")
        if self.stopped:
            text += f"; walk stopped early: {self.stopped}"
        if self.unreadable:
            text += f"; unreadable: {', '.join(self.unreadable[:5])}"
        return text


# ------------------------------------------------------------------------------------------------- client


class Client(BaseClient):
    """Host-local and stateless: nothing to connect, so ``connect_attempts`` stays 0."""

    settings: Settings

    def usage(self, path: str) -> Usage:
        """Space and inodes of the filesystem holding ``path`` (what ``df -h`` and ``df -i`` show)."""
        def look() -> os.statvfs_result:
            _require_exists(path, "disk path")
            return os.statvfs(path)

        st = _bounded(look, self.timeouts.read, f"statvfs({path})")
        return Usage(
            path=path,
            mount=_mount_point(path),
            total=st.f_blocks * st.f_frsize,
            free=st.f_bavail * st.f_frsize,
            used=(st.f_blocks - st.f_bfree) * st.f_frsize,
            inodes_total=st.f_files,
            inodes_free=st.f_favail,
        )

    def scan_logs(self, log_dir: LogDir, *, now: float | None = None) -> LogScan:
        """Walk ``log_dir`` without following symlinks: total size, and the matching files older than retention.

        Bounded by ``walk.max_files`` entries and the read timeout; ``LogScan.stopped`` says when either was hit.
        """
        root = log_dir.path
        _require_exists(root, "log directory")
        if not os.path.isdir(root):
            raise MissingPath(f"log directory {root} is not a directory", hint="fix log_dirs in the profile")
        now = time.time() if now is None else now
        deadline = time.monotonic() + self.timeouts.read
        scan = LogScan(path=root, pattern=log_dir.pattern)
        oldest_heap: list[tuple[float, str, int]] = []  # (-age...) kept as a min-heap of the N oldest
        seen_inodes: set[tuple[int, int]] = set()
        pending = [root]
        while pending:
            directory = pending.pop()
            try:
                entries = os.scandir(directory)
            except PermissionError:
                if directory == root:
                    raise PermissionMissing(f"cannot list {root}",
                                            hint="the health check user needs read+execute on the log directory") \
                        from None
                scan.unreadable.append(directory)
                continue
            except FileNotFoundError:
                continue  # removed while we walked: a cleanup running now
            with entries:
                for entry in entries:
                    scan.visited += 1
                    if scan.visited > self.settings.walk.max_files:
                        scan.stopped = f"visited {self.settings.walk.max_files} entries (walk.max_files)"
                        break
                    if scan.visited % 1000 == 0 and time.monotonic() > deadline:
                        scan.stopped = f"walk took longer than the {format_duration(self.timeouts.read)} read timeout"
                        break
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        pending.append(entry.path)
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    if st.st_nlink > 1:
                        key = (st.st_dev, st.st_ino)
                        if key in seen_inodes:
                            continue
                        seen_inodes.add(key)
                    scan.files += 1
                    scan.total_bytes += st.st_size
                    if not fnmatch.fnmatchcase(entry.name, log_dir.pattern):
                        continue
                    scan.matching += 1
                    scan.matching_bytes += st.st_size
                    age = now - st.st_mtime
                    if log_dir.retention is not None and age > log_dir.retention:
                        scan.old_count += 1
                        item = (age, entry.path, st.st_size)
                        if len(oldest_heap) < OLDEST_SHOWN:
                            heapq.heappush(oldest_heap, item)
                        else:
                            heapq.heappushpop(oldest_heap, item)
            if scan.stopped:
                break
        scan.oldest = [OldFile(path, age, size) for age, path, size in sorted(oldest_heap, reverse=True)]
        return scan


# ------------------------------------------------------------------------------------------------- internals


def _require_exists(path: str, what: str) -> None:
    try:
        os.stat(path)
    except FileNotFoundError:
        raise MissingPath(f"{what} {path} does not exist on this host",
                          hint="is the volume mounted, and is this profile meant for this host?") from None
    except PermissionError:
        raise PermissionMissing(f"cannot stat {what} {path}",
                                hint="the health check user needs execute permission on every parent directory") \
            from None


def _mount_point(path: str) -> str:
    current = os.path.realpath(path)
    while not os.path.ismount(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _bounded(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run a syscall that can block forever (statvfs on a dead NFS server) in a daemon thread, and give up on it."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    worker = threading.Thread(target=run, name=f"healthgate {what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise Unreachable(f"{what} did not return within {format_duration(timeout)}",
                          hint="a hung network filesystem? check `mount` and the NFS/CIFS server")
    if error:
        exc = error[0]
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            raise PermissionMissing(f"{what}: {exc.strerror}", hint="the health check user needs access to the path")
        if isinstance(exc, OSError):
            raise CheckError(f"{what} failed: {exc}", hint="is the path on a healthy filesystem?")
        raise exc
    return result[0]
