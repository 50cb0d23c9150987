"""Backups on local disk, as daily_backup.sh leaves them: ``/opt/backups/YYYYMMDD/{database.sql.gz, redis.rdb,
app_files.tar.gz, config/}``. Freshness, size, integrity and retention of each kind of artifact.

Read-only and bounded: integrity is proven by streaming the newest artifact through a decompressor (never
extracting anything), chunk by chunk, for at most ``max_verify_seconds``; globbing stops after ``max_entries``.
"""

from __future__ import annotations

import glob
import gzip
import itertools
import os
import re
import stat
import tarfile
import time
import zlib
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from healthgate.errors import PermissionMissing
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings
from healthgate.targets.disk import MissingPath
from healthgate.units import Duration, Size, format_duration, format_size

CHUNK = 1024 * 1024
RDB_MAGIC = re.compile(rb"^REDIS(\d{4})$")
RDB_EOF = 0xFF
RDB_FIRST_CHECKSUMMED_VERSION = 5  # older RDB files end with the EOF opcode alone


class BackupPattern(Model):
    name: str = Field(description="what this artifact is, shown in messages: database, redis, config, ...")
    glob: str = Field(description="glob relative to dir, e.g. */database.sql.gz (one match per backup run)")
    kind: Literal["file", "dir"] = "file"
    max_age: Duration | None = Field(26 * 3600.0, description="newest match younger than this (daily + slack); "
                                                              "null: freshness not judged")
    min_size: Size = Field(1, description="newest file at least this big (default: not empty)")
    verify: Literal["none", "gzip", "tar", "rdb"] = Field(
        "none", description="integrity proof: gzip stream, tar (gzip + every member), or RDB header/EOF/CRC64")

    @model_validator(mode="after")
    def _verify_needs_file(self) -> BackupPattern:
        if self.kind == "dir" and self.verify != "none":
            raise ValueError(f"pattern {self.name!r}: verify={self.verify} applies to files, not kind=dir")
        return self


class Retention(Model):
    max_age: Duration = Field(30 * 86400.0, description="nothing older is kept (seeds: find -mtime +30 -delete)")
    min_count: int = Field(7, ge=0, description="at least this many backups of each pattern are kept")


DAILY_BACKUP_SH = (
    BackupPattern(name="database", glob="*/database.sql.gz", min_size=1024, verify="gzip"),
    BackupPattern(name="redis", glob="*/redis.rdb", verify="rdb"),
    BackupPattern(name="app_files", glob="*/app_files.tar.gz", verify="gzip"),
    BackupPattern(name="config", glob="*/config", kind="dir"),
)


class Settings(TargetSettings):
    dir: str = Field("/opt/backups", description="backup root (daily_backup.sh: /opt/backups/YYYYMMDD)")
    patterns: tuple[BackupPattern, ...] = Field(DAILY_BACKUP_SH, min_length=1)
    retention: Retention = Retention()
    max_verify_seconds: Duration = Field(60.0, gt=0, description="stop reading an artifact after this long")
    max_entries: int = Field(10_000, ge=1, description="stop globbing a pattern after this many matches")

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        names = [p.name for p in self.patterns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"pattern names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def address(self) -> str:
        return f"local {self.dir}"


# ------------------------------------------------------------------------------------------------- facts


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


# ------------------------------------------------------------------------------------------------- client


class Client(BaseClient):
    """Host-local and stateless: nothing to connect, so ``connect_attempts`` stays 0."""

    settings: Settings

    def artifacts(self, pattern: BackupPattern) -> list[Artifact]:
        """Matches of ``pattern`` under the backup root, newest first."""
        root = self.settings.dir
        _readable_dir(root)
        found = []
        matches = glob.iglob(pattern.glob, root_dir=root)
        for relative in itertools.islice(matches, self.settings.max_entries):
            path = os.path.join(root, relative)
            try:
                st = os.stat(path)
            except OSError:
                continue  # removed by a cleanup running now, or a dangling link
            if pattern.kind == "dir":
                if not stat.S_ISDIR(st.st_mode):
                    continue
                files, size = _dir_content(path, self.settings.max_entries)
                found.append(Artifact(path, relative, st.st_mtime, size, files, is_dir=True))
            elif stat.S_ISREG(st.st_mode):
                found.append(Artifact(path, relative, st.st_mtime, st.st_size, 1))
        found.sort(key=lambda a: a.mtime, reverse=True)
        return found

    def verify(self, artifact: Artifact, how: str) -> Verification:
        """Read ``artifact`` through; a corrupt one yields ``ok=False`` with what was wrong, never an exception."""
        budget = self.settings.max_verify_seconds
        try:
            if how == "gzip":
                return verify_gzip(artifact.path, budget)
            if how == "tar":
                return verify_tar(artifact.path, budget)
            if how == "rdb":
                return verify_rdb(artifact.path, budget)
        except PermissionError:
            raise PermissionMissing(f"cannot read {artifact.path}",
                                    hint="the health check user needs read access to the backup files") from None
        raise ValueError(f"unknown verification {how!r}")


# ------------------------------------------------------------------------------------------------- verification


def verify_gzip(path: str, budget: float) -> Verification:
    """Decompress the whole stream (every member), checking each member's CRC32 and length trailer."""
    started = time.monotonic()
    read = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(CHUNK):
                read += len(chunk)
                if time.monotonic() - started > budget:
                    return Verification(path, True, False, f"stopped after {format_duration(budget)} with "
                                        f"{format_size(read)} decompressed, no error so far", read, budget)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        where = f" after {format_size(read)} decompressed" if read else ""
        return _bad(path, f"truncated/corrupt gzip: {exc}{where}", read, started)
    elapsed = time.monotonic() - started
    return Verification(path, True, True, f"gzip stream complete: {format_size(read)} decompressed", read, elapsed)


def verify_tar(path: str, budget: float) -> Verification:
    """Stream a .tar.gz: the gzip checks plus every tar header and member body, extracting nothing."""
    started = time.monotonic()
    read = 0
    members = 0
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                members += 1
                body = archive.extractfile(member) if member.isfile() else None
                while body is not None and (chunk := body.read(CHUNK)):
                    read += len(chunk)
                    if time.monotonic() - started > budget:
                        return Verification(path, True, False, f"stopped after {format_duration(budget)} at member "
                                            f"{members} ({format_size(read)} read), no error so far", read, budget)
    except (EOFError, tarfile.TarError, gzip.BadGzipFile, zlib.error) as exc:
        return _bad(path, f"truncated/corrupt tar archive: {exc} at member {members + 1}", read, started)
    elapsed = time.monotonic() - started
    return Verification(path, True, True, f"tar archive complete: {members} members, {format_size(read)}", read,
                        elapsed)


def verify_rdb(path: str, budget: float) -> Verification:
    """``REDIS00NN`` magic, then the EOF opcode followed by the CRC64 of everything before the checksum.

    The CRC is computed in pure Python (a few MB/s); past ``budget`` the file is judged on magic and EOF alone.
    """
    started = time.monotonic()
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        header = stream.read(9)
        match = RDB_MAGIC.match(header)
        if not match:
            return _bad(path, f"not an RDB file: header {header[:9]!r}, expected b'REDIS' and 4 version digits",
                        len(header), started)
        version = int(match.group(1))
        trailer_size = 9 if version >= RDB_FIRST_CHECKSUMMED_VERSION else 1
        if size < 9 + trailer_size:
            return _bad(path, f"truncated RDB: {size} bytes, no room for the EOF opcode", size, started)
        stream.seek(size - trailer_size)
        trailer = stream.read(trailer_size)
        if trailer[0] != RDB_EOF:
            return _bad(path, f"truncated/corrupt RDB v{version}: byte {size - trailer_size} is {trailer[0]:#04x}, "
                        "not the EOF opcode 0xff", size, started)
        if trailer_size == 1:
            return Verification(path, True, True, f"RDB v{version}: header and EOF present (no checksum before v5)",
                                size, time.monotonic() - started)
        stored = int.from_bytes(trailer[1:], "little")
        if stored == 0:
            return Verification(path, True, True, f"RDB v{version}: header and EOF present; written with "
                                "rdbchecksum no, CRC not verifiable", size, time.monotonic() - started)
        stream.seek(0)
        crc = 0
        remaining = size - 8
        while remaining > 0:
            chunk = stream.read(min(CHUNK, remaining))
            if not chunk:
                break
            crc = crc64(chunk, crc)
            remaining -= len(chunk)
            if time.monotonic() - started > budget:
                return Verification(path, True, False, f"RDB v{version}: header and EOF present; CRC64 not finished "
                                    f"within {format_duration(budget)}", size - remaining, budget)
    if crc != stored:
        return _bad(path, f"corrupt RDB v{version}: CRC64 {crc:#018x} does not match the stored {stored:#018x}",
                    size, started)
    return Verification(path, True, True, f"RDB v{version}: header, EOF and CRC64 {crc:#018x} valid", size,
                        time.monotonic() - started)


def _crc64_table() -> tuple[int, ...]:
    # Redis's CRC-64/Jones: reflected, polynomial 0xad93d23594c935a9 (0x95ac9329ac4bc9b5 reversed), init 0.
    poly = 0x95AC9329AC4BC9B5
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC64 = _crc64_table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Redis's RDB checksum; ``crc64(b"123456789") == 0xe9c6d914c4b8d9ca`` (the value Redis's own test uses)."""
    table = _CRC64
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _bad(path: str, detail: str, read: int, started: float) -> Verification:
    return Verification(path, False, True, detail, read, time.monotonic() - started)


# ------------------------------------------------------------------------------------------------- internals


def _readable_dir(root: str) -> None:
    if not os.path.exists(root):
        raise MissingPath(f"backup directory {root} does not exist on this host",
                          hint="is the backup volume mounted, and does the backup job write here?")
    if not os.path.isdir(root):
        raise MissingPath(f"backup directory {root} is not a directory", hint="fix dir in the profile")
    if not os.access(root, os.R_OK | os.X_OK):
        raise PermissionMissing(f"cannot list {root}",
                                hint="the health check user needs read+execute on the backup directory")


def _dir_content(path: str, limit: int) -> tuple[int, int]:
    """Regular files under ``path`` and their total size, counting at most ``limit`` files."""
    files = 0
    size = 0
    for current, _dirs, names in os.walk(path):
        for name in names:
            try:
                st = os.lstat(os.path.join(current, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
                if files >= limit:
                    return files, size
    return files, size
