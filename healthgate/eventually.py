"""``eventually``: a post-deployment wait, retrying a failing check until it passes or the target's window
closes (replaces the runbooks' ``sleep 30 && health_check``).

The wait belongs to the phases where a target is expected to come up (post_deploy and post_recovery unless the
profile names others): a daily run judges at once. A target gets one window, not one per check: once its first
waiting check has spent it, its other checks judge at once and say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from healthgate import expect as expect_mod
from healthgate.errors import CheckError
from healthgate.targets.base import Eventually, Target

WAITED_PROPERTY = "healthgate.eventually"
RETRIED = (AssertionError, pytest.fail.Exception, CheckError)


def applies(policy: Eventually | None, selected_phases: Iterable[str]) -> bool:
    """Whether this run waits: one of the phases the check was selected for is a phase the policy waits in."""
    return policy is not None and bool(set(policy.phases) & set(selected_phases))


@dataclass
class Window:
    """One target's wait: opened by its first waiting check, shared by the others."""

    within: float
    deadline: float | None = None
    spent: bool = False

    def open(self) -> float:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.within
        return self.deadline


@dataclass
class Windows:
    _by_target: dict[str, Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, target_id: str, policy: Eventually) -> Window:
        with self._lock:
            return self._by_target.setdefault(target_id, Window(policy.within))


def call(check: Callable[..., Any], kwargs: dict[str, Any], *, target: Target[Any, Any], policy: Eventually,
         window: Window) -> tuple[BaseException | None, str]:
    """Run ``check`` until it passes or the window closes. Returns the last failure (None when it passed) and
    how long the wait took; a failure's message says how long it kept failing, or that the window was spent."""
    started = time.monotonic()
    if window.spent:
        try:
            check(**kwargs)
        except pytest.fail.Exception as exc:
            return pytest.fail.Exception(f"{exc.msg} (the target's {policy.within:g}s eventually window was "
                                         "already spent by an earlier check)", pytrace=False), "window already spent"
        except RETRIED as exc:
            return exc, "window already spent"
        return None, "passed at once (the window was already spent)"
    deadline = window.open()
    attempts = 0
    while True:
        attempts += 1
        expect_mod.current.set(expect_mod.CheckRecord())
        try:
            check(**kwargs)
        except RETRIED as exc:
            elapsed = time.monotonic() - started
            if time.monotonic() + policy.every > deadline:
                window.spent = True
                waited = f"still failing after {elapsed:.1f}s and {attempts} attempt(s)"
                if isinstance(exc, pytest.fail.Exception):
                    return pytest.fail.Exception(f"{exc.msg} (still failing after {elapsed:.1f}s, {attempts} "
                                                 "attempts)", pytrace=False), waited
                return exc, waited
            time.sleep(policy.every)
            target.reset()
            continue
        return None, f"passed after {time.monotonic() - started:.1f}s and {attempts} attempt(s)"
