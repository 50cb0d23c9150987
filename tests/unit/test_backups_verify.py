"""Integrity proofs of backup artifacts, on real files: gzip streams, tar archives, and RDB files written by the
host's redis-server through ``redis-cli --rdb`` (the runbook's own backup command)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from healthgate.targets.backups.client import crc64, verify_gzip, verify_rdb, verify_tar

# ------------------------------------------------------------------------------------------------- builders


def pg_dump_text(rows: int = 400) -> bytes:
    """SQL shaped like `pg_dump` plain output; rows vary so the gzip stays above the 1 KiB min_size."""
    lines = [
        "--", "-- PostgreSQL database dump", "--", "",
        "SET statement_timeout = 0;", "SET client_encoding = 'UTF8';", "",
        "CREATE TABLE public.detections (", "    id bigint NOT NULL,", "    species text NOT NULL,",
        "    confidence double precision,", "    recorded_at timestamp with time zone", ");", "",
        "COPY public.detections (id, species, confidence, recorded_at) FROM stdin;",
    ]
    species = ("Pipistrellus pipistrellus", "Myotis daubentonii", "Nyctalus noctula", "Eptesicus serotinus")
    for i in range(rows):
        lines.append(f"{i}\t{species[i * 7 % 4]}\t{(i * 7919 % 1000) / 1000:.3f}\t"
                     f"2025-07-{1 + i % 28:02d} {i % 24:02d}:{i * 13 % 60:02d}:{i * 17 % 60:02d}+00")
    lines += ["\\.", "", "--", "-- PostgreSQL database dump complete", "--", ""]
    return "\n".join(lines).encode()


def write_gzip(path: Path, data: bytes) -> Path:
    with gzip.open(path, "wb") as out:
        out.write(data)
    return path


def write_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return path


def make_rdb(directory: Path, *, checksum: bool = True) -> Path:
    """An RDB produced by a real redis-server, fetched with `redis-cli --rdb` as daily_backup.sh does.

    Where redis-server is not installed, a minimal RDB is written by hand instead: magic ``REDIS0009``, the EOF
    opcode and the CRC64 Redis would store (an empty dataset Redis itself loads). The diskless-sync delay is
    zeroed because `redis-cli --rdb` is served like a replica, which Redis otherwise makes wait 5 s.
    """
    out = directory / "redis.rdb"
    server = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if server is None or cli is None:
        body = b"REDIS0009\xff"
        out.write_bytes(body + (crc64(body) if checksum else 0).to_bytes(8, "little"))
        return out
    import redis

    sock = directory / "redis.sock"
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(sock), "--dir", str(directory), "--save", "",
         "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--rdbchecksum", "yes" if checksum else "no",
         "--logfile", str(directory / "r.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start: {(directory / 'r.log').read_text()[-500:]}")
            time.sleep(0.02)
        client = redis.Redis(unix_socket_path=str(sock))
        pipe = client.pipeline()
        for i in range(300):
            pipe.set(f"session:{i}", f"user-{i * 31 % 97}-token-{i:05d}")
            pipe.hset(f"prediction:{i % 40}", f"f{i}", i * 0.5)
        pipe.rpush("queue:ml", *[f"job-{i}" for i in range(50)])
        pipe.execute()
        client.close()
        subprocess.run([cli, "-s", str(sock), "--rdb", str(out)], check=True, capture_output=True, timeout=20)
    finally:
        proc.terminate()
        proc.wait(10)
    return out


@pytest.fixture(scope="module")
def rdb_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rdb")


@pytest.fixture(scope="module")
def real_rdb(rdb_dir) -> bytes:
    return make_rdb(rdb_dir).read_bytes()


# ------------------------------------------------------------------------------------------------- RDB


def test_crc64_matches_the_value_redis_tests_itself_with():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(b"6789", crc64(b"12345")) == crc64(b"123456789")  # chunked == whole


def test_rdb_from_redis_cli_is_valid_with_its_checksum(tmp_path, real_rdb):
    path = tmp_path / "redis.rdb"
    path.write_bytes(real_rdb)
    result = verify_rdb(str(path), 10)
    assert result.ok and result.complete, result.detail
    assert "header, EOF and CRC64" in result.detail


def test_rdb_written_with_rdbchecksum_no_passes_on_header_and_eof(tmp_path_factory):
    path = make_rdb(tmp_path_factory.mktemp("nochecksum"), checksum=False)
    assert path.read_bytes()[-8:] == b"\0" * 8
    result = verify_rdb(str(path), 10)
    assert result.ok and result.complete
    assert "rdbchecksum no" in result.detail


def test_rdb_with_a_corrupt_header_is_not_an_rdb(tmp_path, real_rdb):
    path = tmp_path / "redis.rdb"
    path.write_bytes(b"REDIX" + real_rdb[5:])
    result = verify_rdb(str(path), 10)
    assert not result.ok
    assert "not an RDB file: header b'REDIX" in result.detail


def test_truncated_rdb_has_no_eof_opcode(tmp_path, real_rdb):
    path = tmp_path / "redis.rdb"
    path.write_bytes(real_rdb[: len(real_rdb) * 2 // 3])
    result = verify_rdb(str(path), 10)
    assert not result.ok
    assert "truncated/corrupt RDB" in result.detail and "not the EOF opcode 0xff" in result.detail


def test_a_flipped_byte_inside_the_rdb_fails_the_crc64(tmp_path, real_rdb):
    damaged = bytearray(real_rdb)
    damaged[len(damaged) // 2] ^= 0x01
    path = tmp_path / "redis.rdb"
    path.write_bytes(bytes(damaged))
    result = verify_rdb(str(path), 10)
    assert not result.ok
    assert "CRC64" in result.detail and "does not match" in result.detail


def test_rdb_crc_stops_at_the_budget_and_says_so(tmp_path, real_rdb):
    path = tmp_path / "redis.rdb"
    path.write_bytes(real_rdb)
    result = verify_rdb(str(path), 0)
    assert result.ok and not result.complete
    assert "CRC64 not finished" in result.detail


# ------------------------------------------------------------------------------------------------- gzip / tar


def test_complete_gzip_reads_through(tmp_path):
    data = pg_dump_text()
    result = verify_gzip(str(write_gzip(tmp_path / "database.sql.gz", data)), 10)
    assert result.ok and result.complete and result.bytes_read == len(data)


def test_concatenated_gzip_members_are_read_as_one_stream(tmp_path):
    path = tmp_path / "database.sql.gz"
    path.write_bytes(gzip.compress(b"part one\n") + gzip.compress(b"part two\n"))
    result = verify_gzip(str(path), 10)
    assert result.ok and result.bytes_read == 18


def test_truncated_gzip_is_reported_as_truncated(tmp_path):
    path = write_gzip(tmp_path / "database.sql.gz", pg_dump_text())
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    result = verify_gzip(str(path), 10)
    assert not result.ok
    assert "truncated/corrupt gzip" in result.detail and "end-of-stream marker" in result.detail


def test_gzip_with_a_damaged_crc_trailer_is_corrupt(tmp_path):
    raw = bytearray(gzip.compress(pg_dump_text()))
    raw[-8] ^= 0xFF  # first byte of the CRC32 trailer
    path = tmp_path / "database.sql.gz"
    path.write_bytes(bytes(raw))
    result = verify_gzip(str(path), 10)
    assert not result.ok
    assert "truncated/corrupt gzip: CRC check failed" in result.detail


def test_a_plain_file_named_gz_is_not_gzip(tmp_path):
    path = tmp_path / "database.sql.gz"
    path.write_bytes(pg_dump_text())
    result = verify_gzip(str(path), 10)
    assert not result.ok and "Not a gzipped file" in result.detail


def test_gzip_budget_stops_reading_without_failing(tmp_path):
    path = write_gzip(tmp_path / "big.sql.gz", os.urandom(3 * 1024 * 1024))
    result = verify_gzip(str(path), 0)
    assert result.ok and not result.complete
    assert "no error so far" in result.detail


def test_tar_gz_reads_every_member_and_spots_truncation(tmp_path):
    files = {"uploads/a.wav": os.urandom(200_000), "models/m.bin": os.urandom(300_000)}
    path = write_tar_gz(tmp_path / "app_files.tar.gz", files)
    good = verify_tar(str(path), 10)
    assert good.ok and good.complete and "2 members" in good.detail
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - 100_000)
    bad = verify_tar(str(path), 10)
    assert not bad.ok and "truncated/corrupt tar archive" in bad.detail


def test_the_hand_written_fallback_rdb_is_valid_too(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = make_rdb(tmp_path)
    assert path.read_bytes()[:10] == b"REDIS0009\xff"
    result = verify_rdb(str(path), 10)
    assert result.ok and result.complete and "CRC64" in result.detail
