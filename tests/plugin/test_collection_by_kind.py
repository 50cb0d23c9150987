"""A kind the profile does not have is not collected at all: its ``checks/test_<kind>.py`` is not even imported.
For the kinds it has, collection is exactly what collecting every check file gives (pytest collects a file named
on the command line whatever the hook says, so naming them all is the reference)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from healthgate import resources

ROOT = resources.source_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="needs the suite's source tree")


def every_check_file() -> list[str]:
    assert ROOT is not None
    return [f"checks/{p.name}" for p in sorted((ROOT / "checks").glob("test_*.py"))]


def collect(*args: str) -> tuple[str, list[str]]:
    """``pytest --collect-only -q`` from the checkout, in its own interpreter: its output (run time removed) and
    the check modules it imported."""
    code = ("import sys, pytest\n"
            "code = pytest.main(sys.argv[1:])\n"
            "print('IMPORTED', sorted(m for m in sys.modules if m.startswith('checks.test_')))\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code, "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    output, _, imported = done.stdout.rpartition("IMPORTED ")
    return re.sub(r" in \d+\.\d+s", "", output), ast.literal_eval(imported)


def items(output: str) -> list[str]:
    return [line for line in output.splitlines() if "::" in line]


@pytest.fixture
def every_kind(tmp_path: Path) -> Path:
    """The demo profile (every kind but TLS) with a TLS target added: no check file is left out."""
    assert ROOT is not None
    path = tmp_path / "every-kind.yaml"
    path.write_text(textwrap.dedent(f"""
        extends: {ROOT / "profiles" / "demo.yaml"}
        name: every-kind
        targets:
          tls:
            site: {{host: 127.0.0.1, port: 443}}
    """))
    return path


def http_only(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "http-only.yaml"
    path.write_text(textwrap.dedent("""
        name: http-only
        targets:
          http:
            web: {url: "http://127.0.0.1:9"}
    """) + extra)
    return path


@pytest.mark.parametrize("phase", ["daily", "pre_deploy", "restore_drill"])
def test_a_profile_with_every_kind_collects_exactly_as_before(every_kind, phase):
    default, imported = collect("-m", phase, f"--profile={every_kind}")
    reference, _ = collect("-m", phase, f"--profile={every_kind}", *every_check_file())
    assert default == reference
    assert len(imported) == len(every_check_file())


def test_a_profile_without_a_kind_collects_the_same_checks_without_importing_that_kinds_file(tmp_path):
    profile = http_only(tmp_path)
    default, imported = collect("-m", "daily", f"--profile={profile}")
    reference, _ = collect("-m", "daily", f"--profile={profile}", *every_check_file())
    assert items(default) == items(reference) != []
    assert imported == ["checks.test_baseline", "checks.test_http", "checks.test_restore_drill"]
    deselected = [re.search(r"(\d+) deselected", text) for text in (default, reference)]
    assert deselected[0] and deselected[1] and int(deselected[0][1]) < int(deselected[1][1])


def test_a_profile_wide_override_may_name_a_check_of_a_kind_the_profile_lacks(tmp_path):
    profile = http_only(tmp_path, "checks:\n  test_idle_in_transaction: {severity: warning}\n")
    default, _ = collect("-m", "daily", f"--profile={profile}")
    assert "test_health_endpoint[http:web]" in default


def test_a_misspelt_check_in_a_profile_wide_override_is_still_refused(tmp_path):
    profile = http_only(tmp_path, "checks:\n  test_idle_in_transactoin: {severity: warning}\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m",
                           "daily", f"--profile={profile}"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "checks.test_idle_in_transactoin: no check of that name" in done.stderr


def test_a_waiver_may_name_a_check_of_a_kind_the_profile_lacks(tmp_path):
    profile = http_only(tmp_path, textwrap.dedent("""
        waivers:
          - check: test_idle_in_transaction
            reason: the shared profile waives it for every environment (CHG-1)
            until: 2099-01-01
            approved_by: alice
    """))
    default, _ = collect("-m", "daily", f"--profile={profile}")
    assert "test_health_endpoint[http:web]" in default


def test_a_misspelt_check_in_a_waiver_is_still_refused_when_its_kind_is_not_collected(tmp_path):
    profile = http_only(tmp_path, textwrap.dedent("""
        waivers:
          - check: test_idle_in_transactoin
            reason: typo
            until: 2099-01-01
            approved_by: alice
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m",
                           "daily", f"--profile={profile}"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "no check named 'test_idle_in_transactoin'" in done.stderr
    assert "test_idle_in_transaction" in done.stderr  # the hint names the check meant
