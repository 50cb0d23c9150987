"""What a data-safety check gets besides its target: the profile's ``data_safety`` settings, the baseline file
given on the command line (loaded once, lazily) and a place to record a fingerprint."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from healthgate.data_safety.settings import DataSafety
from healthgate.data_safety.store import BaselineFile, BaselineFileError, load


@dataclass
class DataSafetyRun:
    profile_name: str
    settings: DataSafety | None
    baseline_path: str | None = None
    save_path: str | None = None
    sink: Callable[[str, dict[str, Any]], None] | None = None
    recorded: dict[str, dict[str, Any]] = field(default_factory=dict)
    _loader: Callable[[], BaselineFile] | None = None

    def __post_init__(self) -> None:
        if self._loader is None and self.baseline_path is not None:
            self._loader = cached_loader(self.baseline_path, self.profile_name)

    @property
    def data_safety(self) -> DataSafety:
        return self.settings or DataSafety()

    def baseline_spec(self, target: Any) -> Any:
        spec = self.data_safety.baseline.of(target.kind, target.name)
        if spec is None:
            pytest.skip(f"no data_safety.baseline.{target.kind}.{target.name} in the profile")
        return spec

    def drill_spec(self, target: Any) -> Any:
        spec = self.data_safety.restore_drill.of(target.kind, target.name)
        if spec is None:
            pytest.skip(f"no data_safety.restore_drill.{target.kind}.{target.name} in the profile")
        return spec

    def record(self, target: Any, fingerprint: dict[str, Any]) -> None:
        self.recorded[target.id] = fingerprint
        if self.sink is not None:
            self.sink(target.id, fingerprint)

    @property
    def has_baseline(self) -> bool:
        return self._loader is not None

    def baseline(self) -> BaselineFile:
        """The --baseline file; skips the check when none was given (raises BaselineFileError when unusable)."""
        if self._loader is None:
            pytest.skip("no --baseline PATH given: the comparison with the pre-deploy baseline did not run")
        return self._loader()

    def baseline_of(self, target: Any) -> tuple[BaselineFile, dict[str, Any]]:
        baseline = self.baseline()
        return baseline, baseline.target(target.id)


def cached_loader(path: str, profile_name: str) -> Callable[[], BaselineFile]:
    """Loads once per process; a failure is raised again, the same way, by every check that asks (a file that
    changes during the run must not give two checks two different baselines)."""

    @functools.cache
    def attempt() -> BaselineFile | BaselineFileError:
        try:
            return load(path, profile=profile_name)
        except BaselineFileError as exc:
            return exc

    def loader() -> BaselineFile:
        outcome = attempt()
        if isinstance(outcome, BaselineFileError):
            raise BaselineFileError(outcome.path, outcome.step, outcome.problem, hint=outcome.hint)
        return outcome

    return loader
