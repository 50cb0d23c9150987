"""Finding the newest backup and making it restorable: format detection and decompression, each step failing
with the file and the step named."""

from __future__ import annotations

import glob
import gzip
import os
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CHUNK = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
CUSTOM_MAGIC = b"PGDMP"
RDB_MAGIC = b"REDIS"
_DUMPED_FROM = re.compile(rb"^-- Dumped from database version (\d+)(?:\.(\d+))?")
HEADER_LINES = 40

Format = Literal["sql", "custom"]


class DrillError(Exception):
    """A backup did not survive a step of the drill: a finding about the backup, so the check fails (rather
    than breaks, which is kept for "could not run the drill", e.g. no Docker). Names the file and the step."""

    def __init__(self, path: str | Path, step: str, problem: str, *, hint: str = "") -> None:
        from healthgate.redact import redact

        self.path = str(path)
        self.step = step
        self.message = redact(f"restore drill of {self.path}: {step} failed: {problem}"
                              + (f" — {hint}" if hint else ""))
        super().__init__(self.message)


def newest(pattern: str, *, max_entries: int = 10_000) -> Path:
    """The most recently modified file matching ``pattern``."""
    candidates = []
    for count, name in enumerate(glob.iglob(os.path.expanduser(pattern))):
        if count >= max_entries:
            break
        path = Path(name)
        if path.is_file():
            candidates.append((path.stat().st_mtime, name, path))
    if not candidates:
        raise DrillError(pattern, "find backup", "no file matches",
                         hint="check data_safety.restore_drill ...backups_glob/rdb_glob and that backups ran")
    return max(candidates)[2]


@dataclass(frozen=True)
class Prepared:
    """A backup ready to restore: where its restorable bytes are, their format and the source version."""

    source: Path
    restorable: Path
    format: Format
    compressed: bool
    source_major: int | None
    decompress_seconds: float
    size: int


def sniff(path: Path, size: int = 8) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise DrillError(path, "read", exc.strerror or str(exc)) from None


def decompress(source: Path, into: Path) -> float:
    """gunzip ``source`` into ``into``, reading it to the end so a truncated or corrupt archive is caught."""
    started = time.monotonic()
    written = 0
    try:
        with gzip.open(source, "rb") as reader, into.open("wb") as writer:
            while chunk := reader.read(CHUNK):
                writer.write(chunk)
                written += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DrillError(source, "decompression", f"{type(exc).__name__}: {exc} (after {written} bytes out)",
                         hint="the archive is truncated or corrupt: the backup job may have been killed or the "
                              "disk filled; restore an older backup and fix the job") from None
    except OSError as exc:
        raise DrillError(source, "decompression", f"{exc.strerror or exc}") from None
    return time.monotonic() - started


def prepare_dump(source: Path, workdir: Path) -> Prepared:
    """Decompress when gzip'ed, then tell plain SQL from pg_dump's custom format."""
    head = sniff(source)
    compressed = head.startswith(GZIP_MAGIC)
    seconds = 0.0
    restorable = source
    if compressed:
        restorable = workdir / (source.name.removesuffix(".gz") or "dump")
        seconds = decompress(source, restorable)
        head = sniff(restorable)
    if head.startswith(CUSTOM_MAGIC):
        return Prepared(source, restorable, "custom", compressed, None, seconds, restorable.stat().st_size)
    if not _looks_like_sql(restorable):
        raise DrillError(source, "detect format", "neither plain SQL (no '--' header of pg_dump) nor pg_dump's "
                                                  "custom format (no PGDMP magic)",
                         hint="supported: pg_dump plain (.sql), gzip'ed plain (.sql.gz) and custom (-Fc)")
    return Prepared(source, restorable, "sql", compressed, _plain_major(restorable), seconds,
                    restorable.stat().st_size)


def _looks_like_sql(path: Path) -> bool:
    head = sniff(path, 4096)
    if b"\x00" in head:
        return False
    text = head.lstrip()
    return text.startswith((b"--", b"SET ", b"CREATE ", b"BEGIN", b"\\")) or not text


def _plain_major(path: Path) -> int | None:
    with path.open("rb") as handle:
        for _ in range(HEADER_LINES):
            line = handle.readline()
            if not line:
                break
            if match := _DUMPED_FROM.match(line):
                major = int(match.group(1))
                return major if major >= 10 else major * 10 + int(match.group(2) or 0)
    return None


_ROLE_REFERENCES = re.compile(r"\bOWNER TO (\"[^\"]+\"|[A-Za-z_][\w$]*)|^(?:GRANT|REVOKE) .*? (?:TO|FROM) ([^;]+);",
                              re.MULTILINE)
_BUILTIN_ROLES = {"public", "current_user", "session_user", "current_role"}


def referenced_roles(path: Path, *, limit: int = 1000) -> list[str]:
    """Roles a plain dump assigns ownership or privileges to: they must exist for the restore to succeed, and a
    throwaway server has none of them."""
    roles: set[str] = set()
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if "OWNER TO" not in line and not line.startswith(("GRANT ", "REVOKE ")):
                continue
            for match in _ROLE_REFERENCES.finditer(line):
                names = [match.group(1)] if match.group(1) else match.group(2).split(",")
                for name in names:
                    name = name.strip().removeprefix("GROUP ").strip()
                    if name.upper().endswith(" WITH GRANT OPTION"):
                        name = name[: -len(" WITH GRANT OPTION")].strip()
                    name = name.strip('"')
                    if name and name.lower() not in _BUILTIN_ROLES and not name.startswith("pg_"):
                        roles.add(name)
            if len(roles) >= limit:
                break
    return sorted(roles)
