"""Hooks the core plugin calls and feature plugins implement (registered with ``pytest_addhooks``), so a feature
such as data safety joins a run without importing, or changing, the core plugin's state.

pytest only looks for implementations of names starting ``pytest_``, hence the prefix.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookspec
def pytest_healthgate_path_options() -> list[str]:  # type: ignore[empty-body]
    """Options that take a file path. Given as two words (``--opt PATH``) pytest may take PATH for a test path
    and run without this checkout's configuration; the core plugin refuses that, naming the option."""


@pytest.hookspec
def pytest_healthgate_output_paths(config: pytest.Config) -> list[Path]:  # type: ignore[empty-body]
    """Files this run will write, locked against an overlapping run on the same outputs."""


@pytest.hookspec
def pytest_healthgate_finish_run(config: pytest.Config) -> list[str]:  # type: ignore[empty-body]
    """Called once on the controller after the last check, before the exit status is decided. Returns problems
    of the run as a whole (e.g. a baseline that could not be written): each one turns the gate red."""


@pytest.hookspec
def pytest_healthgate_run_started(config: pytest.Config) -> None:
    """Called once on the controller when a health run starts checking (its profile loaded; not for
    ``--collect-only``)."""


@pytest.hookspec
def pytest_healthgate_check_observed(item: pytest.Item, failed: bool) -> None:
    """Called after each check observed ahead of its item, in the thread that observed it (one per target), before
    the item reports it. Must be quick and thread-safe: the target's next check waits for it."""


@pytest.hookspec
def pytest_healthgate_run_finished(config: pytest.Config, exitstatus: int) -> None:
    """Called once on the controller after the run's exit status is decided and its outputs are written."""
