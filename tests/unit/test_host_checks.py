"""Host-side checks (disk, backups, gpu) on real files and filesystems: each check passes on a healthy host and
fails, with its message, on a broken one. No Docker: these targets read the machine the suite runs on.

Full-filesystem and inode-exhaustion faults use a small tmpfs mounted for the test (needs root, skipped
otherwise); the GPU checks run a real executable named nvidia-smi placed first on PATH.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import test_backups as backups_checks
from checks import test_disk as disk_checks
from checks import test_gpu as gpu_checks
from healthgate.targets.base import Timeouts
from healthgate.targets.gpu.client import parse_query
from healthgate.testing import make_target, run_check
from tests.unit.test_backups_verify import make_rdb, pg_dump_text, write_gzip, write_tar_gz

DAY = 86400.0
MiB = 1024 * 1024


def age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


# ================================================================================================= disk


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Path]:
    """A real 4 MiB tmpfs with 200 inodes, so it can be filled for real."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,nr_inodes=200", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def disk_target(**settings):
    return make_target("disk", settings)


def test_disk_usage_passes_on_an_empty_filesystem(small_fs):
    outcome = run_check(disk_checks.test_disk_usage, disk_target(paths=[str(small_fs)]))
    assert outcome.status == "passed", outcome
    assert f"{small_fs} (on {small_fs}): 0.0% used" in outcome.record.evidence[0][1]


def test_disk_usage_fails_on_a_filesystem_filled_past_85_percent(small_fs):
    (small_fs / "dump.sql").write_bytes(b"x" * int(3.6 * MiB))
    outcome = run_check(disk_checks.test_disk_usage, disk_target(paths=["/", str(small_fs)]))
    assert outcome.status == "failed"
    assert outcome.message.startswith(f"disk:test: used_pct[{small_fs}] (9")
    assert "%) < 85 % (" in outcome.message and f"KiB free on {small_fs})" in outcome.message
    assert "used_pct[/]" not in outcome.message  # only the full filesystem is named


def test_disk_usage_judges_the_real_root_filesystem_against_a_threshold_below_its_use(tmp_path):
    """Runs without root: the real statvfs of tmp_path, with a threshold just under what it shows."""
    used = os.statvfs(tmp_path)
    pct = 100.0 * (used.f_blocks - used.f_bfree) / ((used.f_blocks - used.f_bfree) + used.f_bavail)
    if pct < 1:
        pytest.skip("tmp filesystem almost empty")
    target = disk_target(paths=[str(tmp_path)], thresholds={"used_pct": pct / 2})
    outcome = run_check(disk_checks.test_disk_usage, target)
    assert outcome.status == "failed"
    assert f"used_pct[{tmp_path}] (" in outcome.message and f"%) < {pct / 2:.4g} %" in outcome.message


def test_disk_inodes_pass_then_fail_when_small_files_exhaust_them(small_fs):
    target = disk_target(paths=[str(small_fs)])
    assert run_check(disk_checks.test_disk_inodes, target).status == "passed"
    for i in range(185):
        (small_fs / f"session-{i}").touch()
    outcome = run_check(disk_checks.test_disk_inodes, target)
    assert outcome.status == "failed"
    assert f"disk:test: inodes_free_pct[{small_fs}] (" in outcome.message
    assert "%) >= 10 %" in outcome.message and "inodes free on" in outcome.message


def test_a_missing_path_is_broken_not_failed(tmp_path):
    outcome = run_check(disk_checks.test_disk_usage, disk_target(paths=[str(tmp_path / "var/lib/postgresql")]))
    assert outcome.status == "broken"
    assert f"disk path {tmp_path}/var/lib/postgresql does not exist on this host" in outcome.message


def test_a_statvfs_that_hangs_is_abandoned_after_the_read_timeout():
    """Stands in for a dead NFS server, which cannot be produced here: the bounded call gives up on it."""
    from healthgate.errors import Unreachable
    from healthgate.targets.disk.client import _bounded

    started = time.monotonic()
    with pytest.raises(Unreachable, match=r"statvfs\(/mnt/nfs\) did not return within 200ms — a hung network"):
        _bounded(lambda: time.sleep(3), 0.2, "statvfs(/mnt/nfs)")
    assert time.monotonic() - started < 1


def make_logs(directory: Path, count: int, *, size: int = 100, old: float = 0, suffix: str = ".log") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = directory / f"app-{i:03d}{suffix}"
        path.write_bytes(b"2025-07-13 INFO ok\n" * (size // 19 + 1))
        if old:
            age(path, old + i * 3600)


def test_log_checks_pass_on_a_small_recent_log_directory(tmp_path):
    make_logs(tmp_path / "logs", 5)
    target = disk_target(log_dirs=[{"path": str(tmp_path / "logs"), "max_size": "1MiB"}])
    assert run_check(disk_checks.test_log_dir_size, target).status == "passed"
    assert run_check(disk_checks.test_log_retention, target).status == "passed"


def test_log_dir_size_fails_above_max_size(tmp_path):
    make_logs(tmp_path / "logs" / "nested", 3, size=MiB)
    target = disk_target(log_dirs=[{"path": str(tmp_path / "logs"), "max_size": "2MiB"}])
    outcome = run_check(disk_checks.test_log_dir_size, target)
    assert outcome.status == "failed"
    assert outcome.message.startswith(f"disk:test: log_dir_size[{tmp_path}/logs] (3 MiB) < 2 MiB (3 files, 3.0MiB)")


def test_log_walk_stops_at_max_files_and_says_so(tmp_path):
    make_logs(tmp_path / "logs", 60)
    target = disk_target(log_dirs=[{"path": str(tmp_path / "logs"), "max_size": "1MiB"}], walk={"max_files": 25})
    outcome = run_check(disk_checks.test_log_dir_size, target)
    assert outcome.status == "passed"
    assert outcome.record.warnings == [f"{tmp_path}/logs: visited 25 entries (walk.max_files); its size is at "
                                       "least 2.8KiB"]  # 25 files of 114 bytes


def test_log_retention_lists_the_oldest_ten_files_the_cleanup_left(tmp_path):
    logs = tmp_path / "logs"
    make_logs(logs, 12, old=40 * DAY)
    make_logs(logs, 3, old=40 * DAY, suffix=".gz")  # not matching *.log: not the cleanup's business
    make_logs(logs / "today", 4)
    target = disk_target(log_dirs=[{"path": str(logs), "retention": "30d"}])
    outcome = run_check(disk_checks.test_log_retention, target)
    assert outcome.status == "failed"
    assert outcome.message.startswith(f"disk:test: 12 file(s) matching '*.log' in {logs} older than 30d: "
                                      f"{logs}/app-011.log (40.5d), {logs}/app-010.log (40.4d)")
    assert outcome.message.count(".log (") == 10 and ", … 2 more" in outcome.message
    assert ".gz" not in outcome.message and "today" not in outcome.message
    assert "-mtime +N -delete" in outcome.message


def test_log_checks_skip_without_log_dirs():
    outcome = run_check(disk_checks.test_log_retention, disk_target())
    assert outcome.status == "skipped" and "no log_dirs" in outcome.message


# ================================================================================================= backups


@pytest.fixture(scope="module")
def rdb_bytes(tmp_path_factory) -> bytes:
    return make_rdb(tmp_path_factory.mktemp("rdb")).read_bytes()


def build_backups(root: Path, rdb: bytes, days: int = 8, *, first: int = 0) -> list[Path]:
    """daily_backup.sh's layout for the last ``days`` days, each set aged as if written at 02:00 that day."""
    sets = []
    for day in range(first, first + days):
        stamp = time.strftime("%Y%m%d", time.localtime(time.time() - day * DAY))
        folder = root / stamp
        (folder / "config").mkdir(parents=True)
        write_gzip(folder / "database.sql.gz", pg_dump_text())
        (folder / "redis.rdb").write_bytes(rdb)
        write_tar_gz(folder / "app_files.tar.gz", {"opt/nightscan/uploads/a.wav": os.urandom(4096)})
        (folder / "config" / "nightscan.env").write_text("LOG_LEVEL=info\n")
        for path in [*folder.rglob("*"), folder]:
            age(path, day * DAY + 3600)
        sets.append(folder)
    return sets


def backups_target(root: Path, **settings):
    return make_target("backups", {"dir": str(root), **settings})


ALL_BACKUP_CHECKS = (backups_checks.test_backup_fresh, backups_checks.test_backup_size,
                     backups_checks.test_backup_dir_copy, backups_checks.test_backup_integrity,
                     backups_checks.test_backup_retention)


def test_every_backup_check_passes_on_a_week_of_good_backups(tmp_path, rdb_bytes):
    build_backups(tmp_path, rdb_bytes)
    target = backups_target(tmp_path)
    for check in ALL_BACKUP_CHECKS:
        outcome = run_check(check, target)
        assert outcome.status == "passed", (check.__name__, outcome)
        assert outcome.record.warnings == []


def test_backup_fresh_fails_when_the_nightly_job_did_not_run(tmp_path, rdb_bytes):
    build_backups(tmp_path, rdb_bytes, days=7, first=2)  # nothing from last night or the night before
    outcome = run_check(backups_checks.test_backup_fresh, backups_target(tmp_path))
    assert outcome.status == "failed"
    assert "backups:test: database: newest " in outcome.message
    assert "/database.sql.gz is 2.04d old (max_age 26h)" in outcome.message
    assert "redis: newest" in outcome.message and "config: newest" in outcome.message
    assert "daily_backup.sh" in outcome.message


def test_backup_fresh_names_a_pattern_with_no_backup_at_all(tmp_path, rdb_bytes):
    for folder in build_backups(tmp_path, rdb_bytes, days=2):
        (folder / "redis.rdb").unlink()
    outcome = run_check(backups_checks.test_backup_fresh, backups_target(tmp_path))
    assert outcome.status == "failed"
    assert outcome.message.startswith(f"backups:test: redis: nothing matches '*/redis.rdb' under {tmp_path} — ")


def test_backup_size_fails_on_the_gzip_of_an_empty_dump(tmp_path, rdb_bytes):
    newest = build_backups(tmp_path, rdb_bytes, days=2)[0]
    # `pg_dump ... | gzip > database.sql.gz` when pg_dump fails: gzip still writes a valid, empty stream
    dump = subprocess.run(["gzip", "-c"], input=b"", capture_output=True, check=True).stdout
    (newest / "database.sql.gz").write_bytes(dump)
    outcome = run_check(backups_checks.test_backup_size, backups_target(tmp_path))
    assert outcome.status == "failed"
    assert outcome.message.startswith(f"backups:test: database: {newest.name}/database.sql.gz is {len(dump)} bytes "
                                      "(min_size 1.0KiB) — an empty or tiny dump")


def test_backup_dir_copy_fails_on_an_empty_config_copy(tmp_path, rdb_bytes):
    newest = build_backups(tmp_path, rdb_bytes, days=2)[0]
    (newest / "config" / "nightscan.env").unlink()
    outcome = run_check(backups_checks.test_backup_dir_copy, backups_target(tmp_path))
    assert outcome.status == "failed"
    assert outcome.message.startswith(f"backups:test: config: {newest.name}/config is empty — `cp -r <config>")


def test_backup_integrity_fails_on_a_truncated_dump_and_a_corrupt_rdb(tmp_path, rdb_bytes):
    newest = build_backups(tmp_path, rdb_bytes, days=2)[0]
    dump = newest / "database.sql.gz"
    with open(dump, "r+b") as handle:
        handle.truncate(dump.stat().st_size - 200)
    (newest / "redis.rdb").write_bytes(b"RED1S" + rdb_bytes[5:])
    outcome = run_check(backups_checks.test_backup_integrity, backups_target(tmp_path))
    assert outcome.status == "failed"
    assert outcome.message.startswith(
        f"backups:test: database: {newest.name}/database.sql.gz: truncated/corrupt gzip: Compressed file ended "
        "before the end-of-stream marker was reached; redis: ")
    assert f"redis: {newest.name}/redis.rdb: not an RDB file: header b'RED1S" in outcome.message
    assert "app_files" not in outcome.message
    assert outcome.message.endswith("cannot be restored: rerun the backup job now and restore-test the previous one")


def test_backup_integrity_notes_a_partial_read_when_the_budget_runs_out(tmp_path, rdb_bytes):
    newest = build_backups(tmp_path, rdb_bytes, days=1)[0]
    write_gzip(newest / "database.sql.gz", pg_dump_text() * 2000)  # ~50 MiB of SQL: more than 1 ms of reading
    outcome = run_check(backups_checks.test_backup_integrity, backups_target(tmp_path, max_verify_seconds="1ms"))
    assert outcome.status == "passed"
    assert any("only partly verified" in w and "raise max_verify_seconds" in w for w in outcome.record.warnings)


def test_backup_retention_fails_when_the_cleanup_did_not_run(tmp_path, rdb_bytes):
    build_backups(tmp_path, rdb_bytes, days=10)
    build_backups(tmp_path, rdb_bytes, days=2, first=34)  # 34 and 35 days old
    outcome = run_check(backups_checks.test_backup_retention, backups_target(tmp_path))
    assert outcome.status == "failed"
    old = [time.strftime("%Y%m%d", time.localtime(time.time() - d * DAY)) for d in (35, 34)]
    assert outcome.message.startswith(
        f"backups:test: database: 2 backup(s) older than 30d still kept: {old[0]}/database.sql.gz (35d), "
        f"{old[1]}/database.sql.gz (34d)")
    assert outcome.message.endswith(f"the cleanup (`find {tmp_path} -mtime +30 -delete`) did not run: check its "
                                    "cron job")


def test_backup_retention_fails_with_fewer_than_seven_kept(tmp_path, rdb_bytes):
    build_backups(tmp_path, rdb_bytes, days=3)
    outcome = run_check(backups_checks.test_backup_retention, backups_target(tmp_path))
    assert outcome.status == "failed"
    assert outcome.message.startswith("backups:test: database: 3 backup(s) kept, fewer than min_count 7; ")
    assert outcome.message.endswith("too few kept: the backup job skipped days or the cleanup removed too much")


def test_a_missing_backup_directory_is_broken(tmp_path):
    outcome = run_check(backups_checks.test_backup_fresh, backups_target(tmp_path / "opt/backups"))
    assert outcome.status == "broken"
    assert f"backup directory {tmp_path}/opt/backups does not exist on this host" in outcome.message


def test_backup_settings_refuse_verifying_a_directory():
    with pytest.raises(ValueError, match="verify=gzip applies to files, not kind=dir"):
        backups_target(Path("/opt/backups"), patterns=[{"name": "c", "glob": "*/config", "kind": "dir",
                                                        "verify": "gzip"}])


# ================================================================================================= gpu

# nvidia-smi's answer to the query the client sends, in the documented csv,noheader,nounits form. No GPU exists
# on the machine these tests were written on, so this sample stands in for a recording; the real executable path
# is covered by the fake nvidia-smi below and by the skip on hosts without one.
RECORDED = """\
0, NVIDIA A100-SXM4-40GB, 35, 12288, 40960
1, NVIDIA A100-SXM4-40GB, 99, 39936, 40960
2, NVIDIA GeForce RTX 3090, [N/A], [N/A], 24576
"""


def test_parser_reads_index_name_utilisation_and_memory():
    gpus = parse_query(RECORDED)
    assert [(g.index, g.name, g.utilization_pct, g.memory_used_mib, g.memory_total_mib) for g in gpus] == [
        (0, "NVIDIA A100-SXM4-40GB", 35.0, 12288.0, 40960.0),
        (1, "NVIDIA A100-SXM4-40GB", 99.0, 39936.0, 40960.0),
        (2, "NVIDIA GeForce RTX 3090", None, None, 24576.0),
    ]
    assert gpus[1].memory_pct == pytest.approx(97.5)
    assert gpus[2].memory_pct is None


def test_parser_keeps_a_name_with_a_comma():
    assert parse_query("3, Tesla T4, rev 2, 0, 15, 15360\n")[0].name == "Tesla T4, rev 2"


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
    """Write an executable nvidia-smi first on PATH that checks it got the client's exact query."""
    bindir = tmp_path / "bin"
    bindir.mkdir()

    def install(body: str) -> Path:
        script = bindir / "nvidia-smi"
        expected = "--query-gpu=index,name,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits"
        script.write_text(f'#!/bin/sh\n[ "$*" = "{expected}" ] || {{ echo "unexpected args: $*" >&2; exit 2; }}\n'
                          f"{body}\n")
        script.chmod(0o755)
        return script

    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return install


def test_gpu_memory_passes_below_90_percent(fake_nvidia_smi):
    fake_nvidia_smi("echo '0, NVIDIA A100-SXM4-40GB, 35, 12288, 40960'")
    outcome = run_check(gpu_checks.test_gpu_memory, make_target("gpu", {}))
    assert outcome.status == "passed", outcome


def test_gpu_memory_fails_above_90_percent_naming_the_card(fake_nvidia_smi, tmp_path):
    answer = tmp_path / "answer.csv"
    answer.write_text("".join(RECORDED.splitlines(keepends=True)[:2]))  # GPU 0 at 30 %, GPU 1 at 97.5 %
    fake_nvidia_smi(f"cat '{answer}'")
    outcome = run_check(gpu_checks.test_gpu_memory, make_target("gpu", {}))
    assert outcome.status == "failed"
    assert outcome.message.startswith("gpu:test: memory_pct[gpu 1] (97.5 %) < 90 % (NVIDIA A100-SXM4-40GB: "
                                      "39936 of 40960 MiB) — model inference will hit CUDA out-of-memory")
    assert "gpu 0" not in outcome.message


def test_gpu_utilisation_is_reported_and_judged_only_when_asked(fake_nvidia_smi):
    fake_nvidia_smi("echo '0, NVIDIA A100-SXM4-40GB, 99, 12288, 40960'")
    reported = run_check(gpu_checks.test_gpu_utilization, make_target("gpu", {}))
    assert reported.status == "passed"
    assert reported.record.warnings == ["GPU 0 (NVIDIA A100-SXM4-40GB): 99% busy"]
    judged = run_check(gpu_checks.test_gpu_utilization, make_target("gpu", {"thresholds": {"utilization_pct": 95}}))
    assert judged.status == "failed"
    assert judged.message.startswith("gpu:test: utilization_pct[gpu 0] (99 %) < 95 %")


def test_a_configured_gpu_index_that_is_gone_fails(fake_nvidia_smi):
    fake_nvidia_smi("echo '0, NVIDIA A100-SXM4-40GB, 35, 12288, 40960'")
    outcome = run_check(gpu_checks.test_gpu_memory, make_target("gpu", {"index": [0, 1]}))
    assert outcome.status == "failed"
    assert outcome.message.startswith("gpu:test: GPU index 1 not present (present: 0)")


def test_no_devices_found_skips(fake_nvidia_smi):
    fake_nvidia_smi("echo 'No devices were found'; exit 6")
    outcome = run_check(gpu_checks.test_gpu_memory, make_target("gpu", {}))
    assert outcome.status == "skipped"
    assert "no GPU on this host (No devices were found)" in outcome.message


def test_a_driver_that_does_not_answer_is_broken(fake_nvidia_smi):
    fake_nvidia_smi("echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9")
    target = make_target("gpu", {})
    outcome = run_check(gpu_checks.test_gpu_memory, target)
    assert outcome.status == "broken"
    assert "exited with 9: NVIDIA-SMI has failed" in outcome.message and "lsmod | grep nvidia" in outcome.message
    assert target.is_down  # the utilisation check then fails at once without running it again


def test_a_hung_nvidia_smi_is_abandoned_after_the_read_timeout(fake_nvidia_smi):
    fake_nvidia_smi("sleep 30; echo never")  # the sleep child holds the output pipe: the whole group must die
    target = make_target("gpu", {}, timeouts=Timeouts(connect=1, read=0.5))
    started = time.monotonic()
    outcome = run_check(gpu_checks.test_gpu_memory, target)
    assert time.monotonic() - started < 5
    assert outcome.status == "broken" and "did not answer within 500ms" in outcome.message


def test_gpu_checks_skip_for_real_on_a_host_without_nvidia_smi():
    if shutil.which("nvidia-smi"):
        pytest.skip("this host has nvidia-smi: the skip path cannot be observed here")
    for check in (gpu_checks.test_gpu_memory, gpu_checks.test_gpu_utilization):
        outcome = run_check(check, make_target("gpu", {}))
        assert outcome.status == "skipped"
        assert outcome.message == "nvidia-smi not found on PATH: no NVIDIA driver on this host"


def test_gzip_helper_writes_what_gunzip_reads(tmp_path):
    """The backup builders produce files the real gzip tool accepts, like the runbook's restore does."""
    path = write_gzip(tmp_path / "database.sql.gz", pg_dump_text(10))
    assert subprocess.run(["gunzip", "-t", str(path)], check=False).returncode == 0
    assert gzip.decompress(path.read_bytes()).startswith(b"--\n-- PostgreSQL database dump")
