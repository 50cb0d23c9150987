"""--baseline-save / --baseline as a user runs them, on a host-local ``backups`` target (no server needed):
the file is written once per run (also under xdist), compared after, and refused when unusable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROFILE = """
name: {name}
targets:
  backups:
    local:
      dir: {root}
      patterns: [{{name: database, glob: "*/database.sql.gz", max_age: null}}]
{data_safety}
"""
DATA_SAFETY = """
data_safety:
  baseline:
    backups:
      local: {}
"""


def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "checks/test_baseline.py", "-p", "no:randomly", "-rs",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    root = tmp_path / "backups"
    for day in ("20250711", "20250712", "20250713"):
        (root / day).mkdir(parents=True)
        (root / day / "database.sql.gz").write_bytes(b"\x1f\x8b not really")
    return root


def profile(tmp_path: Path, backups: Path, *, name: str = "unit", data_safety: str = DATA_SAFETY) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(PROFILE.format(name=name, root=backups, data_safety=data_safety)))
    return str(path)


def test_save_then_compare_passes_and_a_deleted_backup_fails(tmp_path, backups):
    baseline = tmp_path / "baseline.json"
    saved = pytest_run("--profile", profile(tmp_path, backups), "-m", "pre_deploy", "--baseline-save", str(baseline))
    assert saved.returncode == 0, saved.stdout
    assert f"baseline written to {baseline}: 1 target(s)" in saved.stdout
    document = json.loads(baseline.read_text())
    assert (document["profile"], list(document["targets"])) == ("unit", ["backups:local"])
    assert document["targets"]["backups:local"]["patterns"]["database"] == {"count": 3, "complete": True}

    same = pytest_run("--profile", profile(tmp_path, backups), "-m", "post_deploy", "--baseline", str(baseline))
    assert same.returncode == 0, same.stdout

    (backups / "20250712" / "database.sql.gz").unlink()
    lost = pytest_run("--profile", profile(tmp_path, backups), "-m", "post_deploy or post_recovery",
                      "--baseline", str(baseline))
    assert lost.returncode == 1
    assert "backups:local: 1 of 1 compared item(s) differ" in lost.stdout
    assert "| objects database | 3        | 2   | -1     | -0      | FAIL    |" in lost.stdout
    assert "runbook: docs/runbooks/baseline.md#objects-kept" in lost.stdout


def test_xdist_workers_hand_their_fingerprints_to_the_controller(tmp_path, backups):
    baseline = tmp_path / "baseline.json"
    saved = pytest_run("--profile", profile(tmp_path, backups), "-m", "pre_deploy", "--baseline-save", str(baseline),
                       "-n", "2")
    assert saved.returncode == 0, saved.stdout
    assert json.loads(baseline.read_text())["targets"]["backups:local"]["patterns"]["database"]["count"] == 3


@pytest.mark.parametrize(("content", "step"), [("{\"kind\": \"healthgate-baseline\", \"form", "parse"),
                                               (None, "read")])
def test_an_unusable_baseline_breaks_the_check_naming_file_and_step(tmp_path, backups, content, step):
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    result = pytest_run("--profile", profile(tmp_path, backups), "-m", "post_deploy", "--baseline", str(baseline))
    assert result.returncode == 1
    assert f"could not check: baseline file {baseline}: {step}:" in result.stdout


def test_a_baseline_of_another_profile_is_refused(tmp_path, backups):
    baseline = tmp_path / "baseline.json"
    saved = pytest_run("--profile", profile(tmp_path, backups, name="staging"), "-m", "pre_deploy",
                       "--baseline-save", str(baseline))
    assert saved.returncode == 0, saved.stdout
    result = pytest_run("--profile", profile(tmp_path, backups), "-m", "post_deploy", "--baseline", str(baseline))
    assert result.returncode == 1
    assert f"baseline file {baseline}: profile: saved for profile 'staging', this run checks 'unit'" in result.stdout


def test_without_baseline_the_comparison_is_skipped_visibly(tmp_path, backups):
    result = pytest_run("--profile", profile(tmp_path, backups), "-m", "post_deploy")
    assert "no --baseline PATH given" in result.stdout


def test_saving_needs_something_to_record(tmp_path, backups):
    result = pytest_run("--profile", profile(tmp_path, backups, data_safety=""), "-m", "pre_deploy",
                        "--baseline-save", str(tmp_path / "b.json"))
    assert result.returncode == 4
    assert "configures no data_safety.baseline" in result.stderr
    assert not (tmp_path / "b.json").exists()


def test_targets_without_baseline_settings_are_deselected(tmp_path, backups):
    result = pytest_run("--profile", profile(tmp_path, backups, data_safety=""), "-m", "post_deploy",
                        "--baseline", str(tmp_path / "b.json"), "--allow-empty")
    assert result.returncode == 0, result.stdout
    assert "deselected" in result.stdout and "could not check" not in result.stdout


def test_backups_checks_run_directly(tmp_path, backups):
    """The same checks without pytest around them, as the other self-tests run theirs."""
    from checks.test_baseline import test_backups_baseline_recorded, test_backups_objects_kept
    from healthgate.data_safety import store
    from healthgate.data_safety.context import DataSafetyRun
    from healthgate.data_safety.settings import DataSafety
    from healthgate.testing import make_target, run_check

    target = make_target("backups", {"dir": str(backups), "patterns": [{"name": "database",
                                                                         "glob": "*/database.sql.gz"}]})
    data_safety = DataSafety.model_validate({"baseline": {"backups": {"test": {"tolerance": 1}}}})
    run = DataSafetyRun("unit", data_safety)
    assert run_check(test_backups_baseline_recorded, target, data_safety=run).status == "passed"
    path = store.save(tmp_path / "b.json", profile="unit", targets=run.recorded)
    (backups / "20250711" / "database.sql.gz").unlink()
    compared = DataSafetyRun("unit", data_safety, baseline_path=str(path))
    assert run_check(test_backups_objects_kept, target, data_safety=compared).status == "passed"  # within 1
    (backups / "20250712" / "database.sql.gz").unlink()
    outcome = run_check(test_backups_objects_kept, target, data_safety=compared)
    assert outcome.status == "failed"
    assert "| objects database | 3        | 1   | -2     | -1      | FAIL    |" in outcome.message
