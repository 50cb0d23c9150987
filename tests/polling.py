"""Waiting for a real server to show a state, for self-tests that inject faults through it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

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
