"""Judgement: compare an observation with a threshold and fail with a runbook-grade message.

The message reads ``postgres:main: replication_lag_s (42.0) <= 5 — <what it means>``: the target, the subject,
what was observed, the comparison that should have held, and a hint. The runbook link is added by the plugin.
"""

from __future__ import annotations

import contextvars
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest

from healthgate.redact import redact

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


@dataclass
class Observation:
    subject: str
    observed: Any
    op: str
    expected: Any
    passed: bool
    unit: str = ""

    def render(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.subject} ({_fmt(self.observed)}{unit}) {self.op} {_fmt(self.expected)}{unit}"


@dataclass
class CheckRecord:
    """What one check observed, kept for reports (JSON summary, Allure evidence)."""

    observations: list[Observation] = field(default_factory=list)
    evidence: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


current: contextvars.ContextVar[CheckRecord | None] = contextvars.ContextVar("healthgate_record", default=None)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple | set) and len(value) > 10:
        items = list(value)
        return f"[{', '.join(map(str, items[:10]))}, … {len(items) - 10} more]"
    return str(value)


def _record() -> CheckRecord:
    record = current.get()
    if record is None:
        record = CheckRecord()
        current.set(record)
    return record


def evidence(name: str, content: Any, *, limit: int = 8192) -> None:
    """Attach something we looked at (query, request, response excerpt) to the report, redacted and bounded."""
    text = content if isinstance(content, str) else repr(content)
    if len(text) > limit:
        text = text[:limit] + f"\n… cut at {limit} of {len(text)} characters"
    _record().evidence.append((name, redact(text)))


def note(message: str) -> None:
    """A warning shown with a passing check (e.g. 'pg_stat_statements not installed')."""
    _record().warnings.append(redact(message))


def expect(target: Any, subject: str, observed: Any, op: str, expected: Any, *, unit: str = "",
           hint: str = "") -> None:
    """Fail the check unless ``observed op expected`` holds; record the observation either way."""
    __tracebackhide__ = True
    compare = _OPS[op]
    passed = observed is not None and bool(compare(observed, expected))
    obs = Observation(subject=subject, observed=observed, op=op, expected=expected, passed=passed, unit=unit)
    _record().observations.append(obs)
    if not passed:
        message = f"{getattr(target, 'id', target)}: {obs.render()}"
        if hint:
            message += f" — {hint}"
        pytest.fail(redact(message), pytrace=False)


def fail(target: Any, message: str) -> NoReturn:
    """Fail with a message that is not a single comparison (e.g. a list of invalid indexes)."""
    __tracebackhide__ = True
    pytest.fail(redact(f"{getattr(target, 'id', target)}: {message}"), pytrace=False)
