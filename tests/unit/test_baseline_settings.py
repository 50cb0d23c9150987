"""The data_safety profile key: defaults from the seeds, strict parsing, and names checked against the targets."""

from __future__ import annotations

import textwrap

import pytest

from healthgate.data_safety.settings import DataSafety, PostgresBaseline
from healthgate.errors import ProfileError
from healthgate.profile import load_profile

PROFILE = """
name: unit
targets:
  postgres:
    main: {dsn: "postgresql://u:pw@db.internal:5432/app"}
  redis:
    cache: {url: "redis://cache.internal:6379/0"}
data_safety:
  expected_migrations: ["20250801_01"]
  baseline:
    postgres:
      main:
        exact_tables: [detections]
        estimated_tables: [public.events]
        max_timestamp: {detections: created_at}
        tolerance: {detections: 2, public.events: "1%"}
    redis:
      cache: {patterns: ["session:*"]}
  restore_drill:
    postgres:
      main: {backups_glob: "/opt/backups/*/database.sql.gz", tables: [detections]}
"""


def write(tmp_path, text: str):
    path = tmp_path / "unit.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_follow_the_seeds():
    settings = DataSafety()
    assert (settings.rpo, settings.rto) == (24 * 3600.0, 15 * 60.0)  # daily backups; MTTR < 15 min


def test_a_profile_with_data_safety_loads(tmp_path):
    profile = load_profile(write(tmp_path, PROFILE))
    settings = profile.header.data_safety
    assert settings is not None
    spec = settings.baseline.of("postgres", "main")
    assert (spec.tolerance_of("detections"), spec.tolerance_of("public.events")) == (2, "1%")
    assert settings.restore_drill.of("postgres", "main").tolerance == "5%"
    assert settings.baseline.of("redis", "other") is None


def test_an_unknown_target_name_is_a_profile_error_with_its_key_path(tmp_path):
    text = PROFILE.replace("    redis:\n      cache: {patterns", "    redis:\n      cahce: {patterns")
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))
    message = str(caught.value)
    assert "data_safety.baseline.redis.cahce" in message
    assert "no redis target named 'cahce'" in message and "declared redis targets: cache" in message
    assert f"{tmp_path / 'unit.yaml'}:" in message


@pytest.mark.parametrize(("data", "words"), [
    ({"exact_tables": ["t"], "estimated_tables": ["t"]}, "both exact and estimated"),
    ({"exact_tables": ["t"], "tolerance": {"u": 1}}, "not listed"),
    ({"exact_tables": ["t; drop table x"]}, "not a table name"),
    ({"exact_tables": ["t"], "tolerance": {"t": "5"}}, "not a tolerance"),
    ({"exact_tables": ["t"], "tolerance": {"t": "150%"}}, "at most 100%"),
    ({"max_id": {"t": "id)"}}, "not a column name"),
    ({"exact_tables": ["t"], "surprise": 1}, "Extra inputs"),
])
def test_bad_settings_are_refused(data, words):
    with pytest.raises(ValueError, match=words):
        PostgresBaseline.model_validate(data)


def test_durations_use_the_profile_units(tmp_path):
    profile = load_profile(write(tmp_path, PROFILE + "  rpo: 6h\n  rto: 90s\n"))
    assert profile.header.data_safety is not None
    assert (profile.header.data_safety.rpo, profile.header.data_safety.rto) == (21600.0, 90.0)
