"""What one run knows, shared by the core plugin and the feature plugins (data safety), which read it from the
config's stash instead of importing each other."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from healthgate.targets.base import Eventually, Target
from healthgate.vocabulary import Phase, Severity

if TYPE_CHECKING:
    from healthgate.gate import Result
    from healthgate.profile import Profile


@dataclass
class ItemInfo:
    """What the plugin decided about one collected check: its target, phases, severity and runbook link."""

    check: str
    kind: str
    target: Target[Any, Any]
    phases: tuple[Phase, ...]
    severity: Severity
    runbook: str
    eventually: Eventually | None
    waiver: int | None = None  # index of the profile's waiver covering this check on this target, if any


@dataclass
class RunState:
    profile: Profile | None = None
    targets: dict[str, list[Target[Any, Any]]] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    # Failures that carry no check result (a worker that died, a setup error): each one fails the gate.
    unclassified_failures: int = 0
    started: float = field(default_factory=time.time)
    teardown: list[Any] = field(default_factory=list)

    def runbook_link(self, page: str, anchor: str) -> str:
        base = self.profile.header.runbook_base if self.profile else "docs/runbooks"
        return f"{base.rstrip('/')}/{page}#{anchor}"


STATE = pytest.StashKey[RunState]()
ITEM = pytest.StashKey[ItemInfo]()
