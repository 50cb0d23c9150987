"""Lint and type checks run with the test command, so CI enforces them without a separate step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "healthgate", "checks", "tests", "bench", "conftest.py"],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff", "mypy"],
)
def test_code_passes(command):
    if subprocess.run([*command[:3], "--version"], capture_output=True).returncode:
        pytest.fail(f"{command[2]} is not installed: pip install -e '.[dev]'")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
