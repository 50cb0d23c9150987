"""Prometheus alert rules for the metrics file a health run writes (``--metrics-textfile``), shipped with the
package so deployments load the same file the self-tests prove."""

from __future__ import annotations

from pathlib import Path

RULES_FILE = Path(__file__).resolve().parent / "healthgate-rules.yml"
RULES_TESTS = RULES_FILE.with_name("healthgate-rules.test.yml")
