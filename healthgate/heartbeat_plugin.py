"""Pings the profile's heartbeat (:mod:`healthgate.heartbeat`) when a health run starts and when its exit status is
known, on the controller only, and says in the terminal summary whether the pings arrived."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from healthgate.heartbeat import START, Heartbeat, ping
from healthgate.run_state import STATE


@dataclass
class _Pings:
    heartbeat: Heartbeat
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    said: list[str] = field(default_factory=list)


PINGS = pytest.StashKey[_Pings]()


def pytest_healthgate_run_started(config: pytest.Config) -> None:
    profile = config.stash[STATE].profile
    if profile is None or profile.header.heartbeat is None:
        return
    pings = _Pings(profile.header.heartbeat)
    config.stash[PINGS] = pings
    pings.said.append(ping(pings.heartbeat, START, pings.run_id))


def pytest_healthgate_run_finished(config: pytest.Config, exitstatus: int) -> None:
    pings = config.stash.get(PINGS, None)
    if pings is not None:
        pings.said.append(ping(pings.heartbeat, exitstatus, pings.run_id))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    pings = config.stash.get(PINGS, None)
    for line in pings.said if pings is not None else ():
        terminalreporter.write_line(line)
