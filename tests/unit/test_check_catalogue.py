"""Every check is documented where an operator looks for it, and proven by a self-test.

A new check cannot land silently: it needs a row in checks/README.md, a section in its kind's runbook page (the
link its failures print), and a self-test that runs it.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from healthgate import self_tests
from healthgate.check import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def _all_checks():
    for path in sorted((ROOT / "checks").glob("test_*.py")):
        importlib.import_module(f"checks.{path.stem}")
    return sorted(REGISTRY.values(), key=lambda spec: (spec.kind, spec.name))


def _anchors(markdown: str) -> set[str]:
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    anchors.update(re.findall(r'<a (?:name|id)="([^"]+)"', markdown))
    return anchors


CHECKS = _all_checks()
PROOFS = self_tests.proofs(ROOT / "tests", (spec.name for spec in CHECKS))


def test_the_catalogue_is_not_empty():
    assert len(CHECKS) >= 40


@pytest.mark.parametrize("spec", CHECKS, ids=lambda s: f"{s.kind}.{s.name}")
def test_check_has_a_catalogue_row_a_runbook_section_and_a_self_test(spec):
    catalogue = (ROOT / "checks" / "README.md").read_text()
    assert f"`{spec.name}`" in catalogue, f"add {spec.name} to checks/README.md"
    runbook = ROOT / "docs" / "runbooks" / spec.page
    assert runbook.is_file(), f"write {runbook.relative_to(ROOT)}"
    assert spec.runbook in _anchors(runbook.read_text()), f"{runbook.name} has no section #{spec.runbook}"
    assert PROOFS.get(spec.name), f"no self-test runs {spec.name} (a test that calls it, not one that names it)"


def _without_proofs(catalogue: str) -> str:
    """The catalogue minus its 'proven by' column, which moves whenever a self-test is added; what a check is,
    its phases, severity, wording and threshold defaults must match the code exactly."""
    return "\n".join(re.sub(r"\| [^|]*\|$", "|", line) if line.startswith("| ") and "`test_" in line else line
                     for line in catalogue.splitlines())


def test_the_catalogue_is_current():
    from healthgate.catalogue import render

    assert _without_proofs((ROOT / "checks" / "README.md").read_text()) == _without_proofs(render(ROOT)), (
        "checks/README.md is stale: python -m healthgate catalogue > checks/README.md")


def test_a_check_named_only_in_a_string_or_comment_is_not_proven(tmp_path):
    (tmp_path / "test_words.py").write_text(
        "# test_ping is covered elsewhere\n"
        "def test_mentions():\n    assert 'test_ping' in 'test_ping[redis:cache]'\n\n"
        "def test_runs():\n    run_check(checks.test_memory, target)\n\n"
        "ALL = [checks.test_latency]\n\n"
        "def test_through_a_list():\n    for fn in ALL:\n        run_check(fn, target)\n")
    found = self_tests.proofs(tmp_path, ["test_ping", "test_memory", "test_latency"])
    assert found == {"test_memory": ["test_words.py::test_runs"],
                     "test_latency": ["test_words.py::test_through_a_list"]}
