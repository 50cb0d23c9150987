"""Faults in the middle of a real run against the real stack: the run finishes, every selected check has an
outcome, and the gate is red."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack-faults")]

ROOT = Path(__file__).resolve().parents[2]

# Stops a component once a given number of its target's checks have been observed: a database restarted by someone
# else, or a container killed by the OOM killer, halfway through a deployment gate. Targets are observed
# concurrently, ahead of pytest's reporting, so the count is of observed checks of that target, not reported items.
STOPPER = '''
import subprocess

_done = 0


def pytest_healthgate_check_observed(item, failed):
    global _done
    if item.nodeid.split("[")[-1].startswith("{target}"):
        _done += 1
        if _done == {after}:
            subprocess.run(["docker", "stop", "-t", "1", "{container}"], check=True, capture_output=True)
'''


def _profile(tmp_path: Path, env: dict[str, str]) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(f"""
        name: midrun
        timeouts: {{connect: 2s, read: 3s}}
        targets:
          redis:
            cache: {{url: "{env['STACK_REDIS_MONITOR_URL']}"}}
          postgres:
            main: {{dsn: "{env['STACK_POSTGRES_MONITOR_DSN']}"}}
    """))
    return path


def test_a_database_stopped_mid_run_turns_the_gate_red_and_every_check_has_an_outcome(stack, tmp_path):
    env = stack.env()
    container = stack.docker_container("postgres").name
    (tmp_path / "stopper.py").write_text(STOPPER.format(after=3, target="postgres:main", container=container))
    profile = _profile(tmp_path, env)
    summary = tmp_path / "summary.json"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", f"--profile={profile}", "-m", "daily", "-p", "stopper",
             f"--summary-json={summary}", "-p", "no:randomly", "-q", "checks/test_postgres.py",
             "checks/test_redis.py", f"--rootdir={ROOT}"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
            capture_output=True, text=True, timeout=300,
        )
    finally:
        stack.start_component("postgres")
    report = json.loads(summary.read_text())
    counts = report["counts"]
    assert result.returncode == 1, result.stdout[-3000:]
    assert report["verdict"] == "fail"
    broken = [f for f in report["failed"] if f["target"] == "postgres:main"]
    assert broken and all(f["status"] == "broken" for f in broken), report["failed"]
    assert any("unreachable" in f["message"] or "failed" in f["message"] for f in broken)
    assert not [f for f in report["failed"] if f["target"] == "redis:cache"], "redis was healthy throughout"
    ran = counts["passed"] + counts["failed"] + counts["broken"] + counts["skipped"]
    closing = result.stdout.strip().splitlines()[-1]
    pytest_total = sum(int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", closing))
    assert ran == pytest_total > 10, (ran, closing)
    assert "GATE RED" in result.stdout
