"""What a backups check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

from dataclasses import dataclass

from healthgate.units import format_duration, format_size


@dataclass(frozen=True)
class Artifact:
    path: str
    relative: str
    mtime: float
    size: int  # bytes of the file, or of the files under a directory
    files: int  # 1 for a file; regular files under a directory
    is_dir: bool = False

    def age(self, now: float) -> float:
        return now - self.mtime

    def describe(self, now: float) -> str:
        what = f"{self.files} files, " if self.is_dir else ""
        return f"{self.relative} ({what}{format_size(self.size)}, {format_duration(self.age(now))} old)"


@dataclass(frozen=True)
class Verification:
    path: str
    ok: bool
    complete: bool  # False when max_verify_seconds ran out before the end: ok then covers only a prefix
    detail: str
    bytes_read: int
    seconds: float
