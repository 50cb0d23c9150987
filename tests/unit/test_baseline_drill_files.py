"""Backup files before any server is involved: the newest match, format detection, decompression failures named
with the file and the step, and the roles a plain dump needs."""

from __future__ import annotations

import gzip
import os
import time

import pytest

from healthgate.data_safety.restore_drill.backup_file import DrillError, newest, prepare_dump, referenced_roles

PLAIN = b"""--
-- PostgreSQL database dump
--

-- Dumped from database version 15.13 (Debian 15.13-0+deb12u1)
-- Dumped by pg_dump version 15.13

SET statement_timeout = 0;
CREATE TABLE public.detections (id bigint NOT NULL);
ALTER TABLE public.detections OWNER TO app_owner;
ALTER TABLE public.sites OWNER TO "Odd Role";
GRANT SELECT ON TABLE public.detections TO healthgate, reporting WITH GRANT OPTION;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT ALL ON SCHEMA public TO pg_database_owner;
"""


def test_the_newest_file_by_mtime_is_chosen(tmp_path):
    old, new = tmp_path / "20250712" / "database.sql.gz", tmp_path / "20250713" / "database.sql.gz"
    for path, age in ((old, 0), (new, 86400)):
        path.parent.mkdir()
        path.write_bytes(b"x")
        stamp = time.time() - 2 * 86400 + age
        os.utime(path, (stamp, stamp))
    assert newest(str(tmp_path / "*" / "database.sql.gz")) == new
    with pytest.raises(DrillError, match="find backup failed: no file matches"):
        newest(str(tmp_path / "*" / "nothing"))


def test_plain_gzip_and_custom_formats_are_told_apart(tmp_path):
    plain = tmp_path / "a.sql"
    plain.write_bytes(PLAIN)
    prepared = prepare_dump(plain, tmp_path)
    assert (prepared.format, prepared.compressed, prepared.source_major) == ("sql", False, 15)
    zipped = tmp_path / "b.sql.gz"
    zipped.write_bytes(gzip.compress(PLAIN))
    work = tmp_path / "work"
    work.mkdir()
    prepared = prepare_dump(zipped, work)
    assert (prepared.format, prepared.compressed, prepared.restorable.read_bytes()) == ("sql", True, PLAIN)
    custom = tmp_path / "c.dump"
    custom.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
    assert prepare_dump(custom, tmp_path).format == "custom"


def test_a_truncated_gzip_fails_at_decompression_naming_the_file(tmp_path):
    whole = gzip.compress(PLAIN * 200)
    broken = tmp_path / "database.sql.gz"
    broken.write_bytes(whole[: len(whole) // 2])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DrillError) as caught:
        prepare_dump(broken, work)
    assert caught.value.step == "decompression"
    assert f"restore drill of {broken}: decompression failed" in caught.value.message
    assert "truncated or corrupt" in caught.value.message


def test_garbage_is_neither_sql_nor_custom(tmp_path):
    garbage = tmp_path / "database.sql"
    garbage.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(DrillError, match="detect format failed"):
        prepare_dump(garbage, tmp_path)


def test_roles_a_plain_dump_refers_to(tmp_path):
    dump = tmp_path / "a.sql"
    dump.write_bytes(PLAIN)
    assert referenced_roles(dump) == ["Odd Role", "app_owner", "healthgate", "reporting"]
