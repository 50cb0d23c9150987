"""Every profile snippet in the documentation loads: README.md, docs/ and examples/ cannot drift from the schema.

A snippet that shows only part of a profile (a ``data_safety:`` section, one target) is loaded over a base
profile declaring the targets the documentation's snippets refer to, with every ``${VAR}`` given a value.
"""

from __future__ import annotations

import importlib
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from healthgate.check import REGISTRY
from healthgate.errors import ProfileError
from healthgate.profile import ProfileHeader, load_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILE_KEYS = set(ProfileHeader.model_fields) | {"targets", "extends"}
BASE = """
name: base
targets:
  postgres:
    main: {dsn: "postgresql://healthgate@db:5432/app"}
  redis:
    cache: {url: "redis://cache:6379/0"}
  opensearch:
    logs: {url: "http://search:9200"}
  backups:
    local: {dir: /opt/backups}
"""


def documented_snippets() -> list[tuple[str, str]]:
    found = []
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "examples").rglob("*.md"))]
    for path in documents:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^```ya?ml\n(.*?)^```", text, flags=re.S | re.M):
            line = text[: match.start()].count("\n") + 2
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


SNIPPETS = documented_snippets()


def _check_names() -> set[str]:
    for path in sorted((ROOT / "checks").glob("test_*.py")):
        importlib.import_module(f"checks.{path.stem}")
    return {spec.name for spec in REGISTRY.values()}


CHECK_NAMES = _check_names()


def test_the_documentation_has_profile_snippets():
    assert len([s for s in SNIPPETS if _is_profile(s[1])]) >= 5


def _is_profile(text: str) -> bool:
    data = yaml.safe_load(text)
    return isinstance(data, dict) and bool(set(data) & PROFILE_KEYS)


@pytest.mark.parametrize(("where", "text"), SNIPPETS, ids=[where for where, _ in SNIPPETS])
def test_a_documented_profile_snippet_loads(where, text, tmp_path):
    data = yaml.safe_load(text)
    if not _is_profile(text):
        pytest.skip("not a profile")
    unknown = set(data) - PROFILE_KEYS
    assert not unknown, f"{where}: not profile keys: {sorted(unknown)}"
    (tmp_path / "base.yaml").write_text(textwrap.dedent(BASE))
    snippet = text if "name" in data else f"name: snippet\n{text}"
    if "extends" not in data and not ("name" in data and "targets" in data):
        snippet = f"extends: base.yaml\n{snippet}"
    path = tmp_path / "snippet.yaml"
    path.write_text(snippet)
    environ = {name: "http://placeholder:1" for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)}
    try:
        profile = load_profile(path, environ=environ)
    except ProfileError as exc:
        pytest.fail(f"{where}: the documented profile does not load: {exc}")
    # check names are checked when a run collects them; a snippet must name real ones too
    named = [*profile.header.checks, *(name for targets in profile.targets.values() for settings in targets.values()
                                       for name in settings.checks), *(w.check for w in profile.header.waivers)]
    assert not set(named) - CHECK_NAMES, f"{where}: no check named {sorted(set(named) - CHECK_NAMES)}"


def test_the_demo_judges_nightscan_by_nightscan_s_own_expectations():
    """The demo's `nightscan` Prometheus target repeats nightscan.yaml's alerts and figures (a profile extends only
    one other): the copy must not drift from the original."""
    def prometheus(name: str, target: str) -> dict:
        return yaml.safe_load((ROOT / "profiles" / f"{name}.yaml").read_text())["targets"]["prometheus"][target]

    original, copy = prometheus("nightscan", "main"), prometheus("demo", "nightscan")
    assert copy["expectations"] == original["expectations"]
    assert copy["expect_rules"] == original["expect_rules"]
