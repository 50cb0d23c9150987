"""The only code that talks to a disk target: read-only, with timeouts on every call."""

from __future__ import annotations

import errno
import fnmatch
import heapq
import os
import stat
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from healthgate.errors import CheckError, MissingPath, PermissionMissing, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.disk.facts import LogScan, OldFile, Usage
from healthgate.targets.disk.settings import LogDir, Settings
from healthgate.units import format_duration

T = TypeVar("T")
OLDEST_SHOWN = 10


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
