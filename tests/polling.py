"""Waiting for a real server to show a state, for self-tests that inject faults through it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def eventually(observe: Callable[[], T], accept: Callable[[T], bool], within_s: float, what: str,
               *, every_s: float = 0.2) -> T:
    """Poll ``observe`` until ``accept`` holds; fail with the last observation."""
    __tracebackhide__ = True
    deadline = time.monotonic() + within_s
    while True:
        seen = observe()
        if accept(seen):
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {within_s:.0f} s, last observed: {seen!r}")
        time.sleep(every_s)


def check_until(check: Callable[..., Any], target: Any, status: str, within_s: float, *, mentions: str = "",
                every_s: float = 0.5) -> Any:
    """Run a check on a fresh target state until it reaches ``status`` (with ``mentions`` in its message) or
    ``within_s`` passes; the last outcome either way, for the test to assert on."""
    from healthgate.testing import run_check

    deadline = time.monotonic() + within_s
    while True:
        target.reset()
        outcome = run_check(check, target)
        if (outcome.status == status and mentions in outcome.message) or time.monotonic() > deadline:
            return outcome
        time.sleep(every_s)
