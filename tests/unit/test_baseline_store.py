"""The baseline file: atomic writes, and every unusable file refused with its name and the failing step."""

from __future__ import annotations

import json
import os

import pytest

from healthgate.data_safety import store
from healthgate.data_safety.context import DataSafetyRun
from healthgate.errors import CheckError

TARGETS = {"postgres:main": {"rows": {"t": {"count": 3, "method": "exact"}}}}


def test_round_trip_keeps_profile_time_and_fingerprints(tmp_path):
    path = store.save(tmp_path / "b.json", profile="prod", targets=TARGETS, taken_at="2025-07-13T10:00:00+00:00")
    loaded = store.load(path, profile="prod")
    assert (loaded.profile, loaded.taken_at, loaded.targets) == ("prod", "2025-07-13T10:00:00+00:00", TARGETS)
    assert loaded.target("postgres:main") == TARGETS["postgres:main"]
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temporary file left behind


def test_a_failed_write_leaves_the_previous_baseline(tmp_path, monkeypatch):
    path = store.save(tmp_path / "b.json", profile="prod", targets=TARGETS)
    before = path.read_text()

    def broken_replace(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.save(path, profile="prod", targets={})
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]


@pytest.mark.parametrize(("content", "step", "words"), [
    (None, "read", "no such file"),
    ('{"kind": "healthgate-baseline", "format": 1, "prof', "parse", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "parse", "not UTF-8"),
    ('{"some": "json"}', "validate", "not a healthgate baseline"),
    ('{"kind": "healthgate-baseline", "format": 7}', "validate", "format 7"),
    ('{"kind": "healthgate-baseline", "format": 1, "profile": "prod", "taken_at": "x", "targets": []}',
     "validate", "targets"),
    ('{"kind": "healthgate-baseline", "format": 1, "profile": "staging", "taken_at": "x", "targets": {}}',
     "profile", "'staging'"),
])
def test_unusable_files_name_the_file_and_the_step(tmp_path, content, step, words):
    path = tmp_path / "baseline.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(store.BaselineFileError) as caught:
        store.load(path, profile="prod")
    assert isinstance(caught.value, CheckError)  # could not compare: broken, never passed
    assert caught.value.step == step
    assert str(path) in str(caught.value) and f": {step}: " in str(caught.value) and words in str(caught.value)


def test_a_target_missing_from_the_baseline_is_refused(tmp_path):
    path = store.save(tmp_path / "b.json", profile="prod", targets=TARGETS)
    with pytest.raises(store.BaselineFileError, match=r"lookup: no fingerprint of redis:cache \(recorded: "
                                                      r"postgres:main\)"):
        store.load(path, profile="prod").target("redis:cache")


def test_the_file_is_loaded_once_and_its_error_repeated(tmp_path):
    path = tmp_path / "b.json"
    path.write_text("{")
    run = DataSafetyRun("prod", None, baseline_path=str(path))
    for _ in range(2):
        with pytest.raises(store.BaselineFileError, match="parse"):
            run.baseline()
    path.write_text(json.dumps({"kind": "healthgate-baseline"}))
    with pytest.raises(store.BaselineFileError, match="parse"):  # cached: one verdict per run
        run.baseline()


def test_without_a_baseline_path_the_comparison_is_skipped():
    run = DataSafetyRun("prod", None)
    with pytest.raises(pytest.skip.Exception, match="no --baseline PATH given"):
        run.baseline()
