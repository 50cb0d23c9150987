"""Phases, severities and outcomes are defined once; what pytest is told about them agrees with that definition."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from healthgate.check import check
from healthgate.vocabulary import PHASES, SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
# Markers of the self-tests themselves, not phases of a health run.
SELF_TEST_MARKERS = {"stack"}


def _declared_markers() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = config["tool"]["pytest"]["ini_options"]["markers"]
    return dict(line.split(":", 1) for line in lines)


def test_pyproject_declares_exactly_the_phases_as_markers():
    declared = set(_declared_markers()) - SELF_TEST_MARKERS
    assert declared == set(PHASES)


def test_a_check_refuses_a_phase_or_severity_outside_the_vocabulary():
    with pytest.raises(ValueError, match="unknown phase"):
        check(phases=("post_deploi",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="severity must be one of"):
        check(severity="blocker")  # type: ignore[arg-type]
    assert SEVERITIES == ("critical", "warning")
