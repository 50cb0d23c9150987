"""A deploy pipeline runs the gate from the application's repository: there, with no test path, the suite's own
checks run (not the application's tests), profiles are found by name, and a failure still attaches its runbook."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from healthgate import resources


def gate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    """An application's checkout: its own tests, one of which fails, and no healthgate files."""
    repo = tmp_path / "app"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_app.py").write_text("def test_the_apps_own_test():\n    assert False\n")
    return repo


def test_a_health_run_outside_the_checkout_runs_the_suites_checks(app_repo, http_server, tmp_path):
    profile = tmp_path / "gate.yaml"
    profile.write_text(textwrap.dedent(f"""
        name: outside
        timeouts: {{connect: 1s, read: 2s}}
        targets:
          http:
            web: {{url: "{http_server.url}", health: {{path: /health, expect_json: {{status: ok}}}}}}
    """))
    summary = tmp_path / "summary.json"
    result = gate(app_repo, "-m", "pre_deploy", f"--profile={profile}", f"--summary-json={summary}", "-rA")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_the_apps_own_test" not in result.stdout
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED ")]
    assert any(line.endswith("test_http.py::test_health_endpoint[http:web]") for line in passed), passed
    assert json.loads(summary.read_text())["counts"]["passed"] >= 1

    http_server.answers = [503]
    failed = gate(app_repo, "-m", "pre_deploy", f"--profile={profile}", "--junitxml=junit.xml")
    assert failed.returncode == 1, failed.stdout
    assert "runbook: docs/runbooks/http.md#health-endpoint" in failed.stdout
    junit = (app_repo / "junit.xml").read_text()
    assert "test_the_apps_own_test" not in junit


def test_a_built_in_profile_is_found_by_name_from_anywhere(app_repo):
    result = gate(app_repo, "--collect-only", "-q", "-m", "daily", "--profile=demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_health_endpoint[http:" in result.stdout


def test_without_the_suites_checks_the_run_says_exactly_what_to_run(app_repo, monkeypatch, pytester):
    monkeypatch.chdir(app_repo)
    monkeypatch.setattr(resources, "checks_dir", lambda: None)
    (app_repo / "p.yaml").write_text("name: x\ntargets: {}\n")
    result = pytester.runpytest_inprocess("--profile=p.yaml", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no health checks found*pytest /path/to/healthgate/checks -m daily --profile=*"])
