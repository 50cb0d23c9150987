"""The ``@check`` decorator: declares a check's kind, default phases, severity and runbook section."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from healthgate.targets import KINDS
from healthgate.vocabulary import (
    DAILY,
    HEALTH_PHASES,
    PHASES,
    POST_DEPLOY,
    POST_RECOVERY,
    PRE_DEPLOY,
    RESTORE_DRILL,
    SEVERITIES,
    Phase,
    Severity,
)

# Short names for check authors: ``@check(phases=(PRE, DAILY))``.
PRE, POST, RECOVERY = PRE_DEPLOY, POST_DEPLOY, POST_RECOVERY
ALL = HEALTH_PHASES
__all__ = ["ALL", "DAILY", "POST", "PRE", "RECOVERY", "RESTORE_DRILL", "CheckSpec", "check", "spec_of"]

F = TypeVar("F", bound=Callable[..., Any])

REGISTRY: dict[str, CheckSpec] = {}


@dataclass(frozen=True)
class CheckSpec:
    name: str
    kind: str
    phases: tuple[Phase, ...]
    severity: Severity
    runbook: str
    summary: str
    page: str = ""
    applies: Callable[[Any], bool] | None = None

    def applies_to(self, settings: Any) -> bool:
        return self.applies is None or bool(self.applies(settings))

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.name}"


def check(
    *,
    phases: tuple[Phase, ...] = ALL,
    severity: Severity = "critical",
    runbook: str | None = None,
    applies: Callable[[Any], bool] | None = None,
) -> Callable[[F], F]:
    """Mark a test function as a health check.

    The function's first parameter names the target kind (``def test_ping(redis)``); the plugin parametrizes it
    over the profile's targets of that kind. ``runbook`` is the anchor in ``docs/runbooks/<kind>.md`` (defaults
    to the function name without ``test_``), or ``page.md#anchor`` for a section on another page.
    ``applies(settings)`` decides at collection whether the check concerns a target at all (e.g. prediction
    latency only where a prediction endpoint is configured), so lists and reports show no check that could never
    run.
    """
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise ValueError(f"unknown phase(s) {unknown}; phases are {PHASES}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")

    def decorate(fn: F) -> F:
        params = list(inspect.signature(fn).parameters)
        if not params or params[0] not in KINDS:
            raise TypeError(f"{fn.__name__}: first parameter must be a target kind ({', '.join(KINDS)})")
        kind = params[0]
        # "restore-drill.md#postgres" points at another page; a bare anchor lives on the kind's own page.
        page, _, anchor = (runbook or "").rpartition("#")
        anchor = anchor or fn.__name__.removeprefix("test_").replace("_", "-")
        doc = inspect.getdoc(fn) or fn.__name__
        spec = CheckSpec(
            name=fn.__name__,
            kind=kind,
            phases=tuple(phases),
            severity=severity,
            runbook=anchor,
            page=page or f"{kind}.md",
            summary=doc.splitlines()[0],
            applies=applies,
        )
        fn._healthgate_check = spec  # type: ignore[attr-defined]
        REGISTRY[spec.key] = spec
        for phase in phases:
            fn = getattr(pytest.mark, phase)(fn)
        return fn

    return decorate


def spec_of(fn: Any) -> CheckSpec | None:
    return getattr(fn, "_healthgate_check", None)
