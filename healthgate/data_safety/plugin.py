"""pytest side of the data-safety checks: ``--baseline-save`` / ``--baseline``, the ``data_safety`` fixture,
deselection of targets the profile does not configure, and writing the baseline file once per run.

Listed in :mod:`healthgate.plugin`'s ``pytest_plugins``, so it is active wherever the main plugin is, with or
without plugin autoloading. It reads the run's state from :mod:`healthgate.run_state` and reports to the core
plugin through the hooks of :mod:`healthgate.hookspecs`, never by changing the core plugin's state.

Fingerprints travel as the reports' ``user_properties``: under pytest-xdist every worker's report reaches the
controller, which alone writes the file, after the last check, atomically. A run in which any fingerprint could
not be taken writes no file, so a later comparison can never pass against half a baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from healthgate.run_state import ITEM, STATE

PROPERTY = "healthgate.baseline"
ROLE_ATTRIBUTE = "_healthgate_data_safety"
# What a data-safety check does: record a baseline, compare with one, or restore a backup (the restore drill).
RECORD, COMPARE, RESTORE = "record", "compare", "restore"
ROLE_PROPERTY = "healthgate.data_safety"
STASH = pytest.StashKey["BaselineRun"]()


def role(kind: str) -> Any:
    """Marks a check as a data-safety check (applied outside ``@check``)."""

    def mark(fn: Any) -> Any:
        setattr(fn, ROLE_ATTRIBUTE, kind)
        return fn

    return mark


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healthgate")
    group.addoption("--baseline-save", dest="hg_baseline_save", default=None, metavar="PATH",
                    help="pre_deploy: record a data fingerprint of every target configured under "
                         "data_safety.baseline and write it to PATH (JSON, atomic)")
    group.addoption("--baseline", dest="hg_baseline", default=None, metavar="PATH",
                    help="post_deploy / post_recovery / restore_drill: compare with the baseline saved in PATH")


@dataclass
class BaselineRun:
    save_path: str | None
    baseline_path: str | None
    fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    outcome: str = ""


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    save = config.getoption("hg_baseline_save", None)
    compare = config.getoption("hg_baseline", None)
    if save is not None:
        parent = Path(save).expanduser().resolve().parent
        if not parent.is_dir():
            raise pytest.UsageError(f"--baseline-save {save}: directory {parent} does not exist")
    config.stash[STASH] = BaselineRun(save_path=save, baseline_path=compare)


def pytest_healthgate_path_options() -> list[str]:
    return ["--baseline", "--baseline-save"]


def pytest_healthgate_output_paths(config: pytest.Config) -> list[Path]:
    save = config.getoption("hg_baseline_save", None)
    return [Path(save)] if save else []


def _profile(config: pytest.Config) -> Any:
    state = config.stash.get(STATE, None)
    return state.profile if state is not None else None


# ------------------------------------------------------------------------------------------------ collection


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect data-safety checks of targets the profile does not configure (they do not apply, like a check of
    a kind the profile lacks), and recording checks when no --baseline-save was asked for."""
    profile = _profile(config)
    run = config.stash[STASH]
    if profile is None:
        return
    settings = profile.header.data_safety
    if run.save_path is not None and (settings is None or not any(
            getattr(settings.baseline, kind) for kind in type(settings.baseline).model_fields)):
        raise pytest.UsageError(f"--baseline-save {run.save_path}: profile {profile.name} configures no "
                                "data_safety.baseline: there is nothing to record")
    keep, dropped = [], []
    for item in items:
        kind = getattr(getattr(item, "function", None), ROLE_ATTRIBUTE, None)
        info = item.stash.get(ITEM, None)
        if kind is None or info is None:
            keep.append(item)
            continue
        target = info.target
        if settings is None:
            configured = False
        elif kind == RESTORE:
            configured = settings.restore_drill.of(target.kind, target.name) is not None
        else:
            configured = settings.baseline.of(target.kind, target.name) is not None
        if not configured or (kind == RECORD and run.save_path is None):
            dropped.append(item)
            continue
        # Under xdist the controller never collects: the role travels with the item's reports instead.
        item.user_properties.append((ROLE_PROPERTY, kind))
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# ------------------------------------------------------------------------------------------------ fixture


@pytest.fixture
def data_safety(request: pytest.FixtureRequest, healthgate_profile: Any) -> Any:
    """The profile's data_safety settings, the --baseline file, and where to record a fingerprint."""
    from healthgate.data_safety.context import DataSafetyRun, cached_loader

    run: BaselineRun = request.config.stash[STASH]
    loader = request.config.stash.get(_LOADER, None)
    if loader is None and run.baseline_path is not None:
        loader = cached_loader(run.baseline_path, healthgate_profile.name)
        request.config.stash[_LOADER] = loader
    node = request.node

    def sink(target_id: str, fingerprint: dict[str, Any]) -> None:
        node.user_properties.append((PROPERTY, {"target": target_id, "fingerprint": fingerprint}))

    return DataSafetyRun(profile_name=healthgate_profile.name, settings=healthgate_profile.header.data_safety,
                         baseline_path=run.baseline_path, save_path=run.save_path, sink=sink, _loader=loader)


_LOADER = pytest.StashKey[Any]()


# ------------------------------------------------------------------------------------------------ saving


class _Collector:
    """Gathers fingerprints where the file is written: the xdist controller, or the only process."""

    def __init__(self, run: BaselineRun) -> None:
        self.run = run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        properties: dict[str, Any] = dict(report.user_properties)
        if properties.get(ROLE_PROPERTY) != RECORD:
            return
        result = properties.get("healthgate") or {}
        self.run.seconds += report.duration
        for name, value in report.user_properties:
            if name == PROPERTY and report.passed and isinstance(value, dict):
                self.run.fingerprints[value["target"]] = value["fingerprint"]
        if not report.passed:
            self.run.failed.append(f"{result.get('target')} ({result.get('status')})")




@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    run = config.stash[STASH]
    if run.save_path is not None and not _is_worker(config):
        config.pluginmanager.register(_Collector(run), "healthgate-baseline-collector")


def pytest_healthgate_finish_run(config: pytest.Config) -> list[str]:
    """Write the baseline once, after the last check, and only if every fingerprint was taken: a later
    comparison must never pass against half a baseline. A baseline asked for and not written fails the run."""
    run = config.stash.get(STASH, None)
    profile = _profile(config)
    if run is None or run.save_path is None or profile is None:
        return []
    from healthgate.data_safety import store

    if run.failed:
        run.outcome = (f"baseline NOT written to {run.save_path}: no fingerprint of {', '.join(sorted(run.failed))}"
                       " — fix and run the pre_deploy baseline again")
    elif not run.fingerprints:
        run.outcome = (f"baseline NOT written to {run.save_path}: no check recorded a fingerprint (is "
                       f"data_safety.baseline configured, and pre_deploy selected?)")
    else:
        started = time.monotonic()
        path = store.save(run.save_path, profile=profile.name, targets=run.fingerprints)
        run.outcome = (f"baseline written to {path}: {len(run.fingerprints)} target(s), fingerprints took "
                       f"{run.seconds:.2f}s, writing {time.monotonic() - started:.3f}s")
        return []
    return [run.outcome]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(STASH, None)
    if run is not None and run.outcome:
        terminalreporter.write_line(f"healthgate: {run.outcome}")
