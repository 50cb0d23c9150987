"""What a disk check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

from dataclasses import dataclass, field


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
