"""Every PostgreSQL check links to a section of docs/runbooks/postgres.md that exists and names its threshold."""

from __future__ import annotations

import re
from pathlib import Path

import checks.test_postgres as checks
from healthgate.check import spec_of

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbooks" / "postgres.md"


def anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of the level-2 headings."""
    found = set()
    for heading in re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE):
        found.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return found


def test_every_check_has_its_runbook_section() -> None:
    specs = [spec_of(getattr(checks, name)) for name in dir(checks)]
    runbooks = {spec.runbook for spec in specs if spec is not None}
    assert len(runbooks) == 12
    assert runbooks <= anchors(RUNBOOK.read_text()), runbooks - anchors(RUNBOOK.read_text())


def test_every_check_says_which_privilege_it_needs() -> None:
    for name in dir(checks):
        fn = getattr(checks, name)
        if spec_of(fn) is not None:
            assert re.search(r"needs (CONNECT|pg_monitor|SELECT)", fn.__doc__ or ""), name
