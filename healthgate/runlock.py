"""One run at a time per output location: two overlapping cron runs must not interleave their reports.

The lock is advisory (``fcntl.flock``) on a file beside each output, held for the whole session by the process
that writes the outputs (the xdist controller). The kernel releases it if that process dies, so a crashed run never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path


class RunLocked(Exception):
    pass


class RunLock:
    def __init__(self, outputs: list[Path]) -> None:
        self.paths = sorted({self._lock_path(p) for p in outputs})
        self._handles: list[int] = []

    @staticmethod
    def _lock_path(output: Path) -> Path:
        output = output.resolve()
        return output.parent / f".{output.name}.healthgate.lock"

    def acquire(self) -> None:
        for path in self.paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
                os.close(fd)
                self.release()
                raise RunLocked(
                    f"another healthgate run is writing to {path.parent} ({holder}); wait for it to finish, "
                    "or give this run its own output paths (e.g. --alluredir=out/$(date +%Y%m%d-%H%M%S))"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}".encode(), 0)
            self._handles.append(fd)

    def release(self) -> None:
        for fd in self._handles:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        self._handles.clear()
