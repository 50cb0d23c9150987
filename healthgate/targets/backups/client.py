"""The only code that talks to a backups target: read-only, with timeouts on every call."""

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

from healthgate.errors import MissingPath, PermissionMissing
from healthgate.targets.backups.facts import Artifact, Verification
from healthgate.targets.backups.settings import BackupPattern, Settings
from healthgate.targets.base import Client as BaseClient
from healthgate.units import format_duration, format_size

CHUNK = 1024 * 1024
RDB_MAGIC = re.compile(rb"^REDIS(\d{4})$")
RDB_EOF = 0xFF
RDB_FIRST_CHECKSUMMED_VERSION = 5  # older RDB files end with the EOF opcode alone


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

    def count_matches(self, pattern: str) -> tuple[int, bool]:
        """How many entries of the backup directory match ``pattern`` (a glob relative to it), and whether the
        count is complete: globbing stops at the target's ``max_entries``."""
        root = self.settings.dir
        _readable_dir(root)
        matches = list(itertools.islice(glob.iglob(os.path.join(root, pattern)), self.settings.max_entries + 1))
        return min(len(matches), self.settings.max_entries), len(matches) <= self.settings.max_entries

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








