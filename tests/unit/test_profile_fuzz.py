"""The profile loader under random input: every input either loads or raises ProfileError with a key path —
never another exception, never a hang."""

from __future__ import annotations

import random
import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthgate.errors import ProfileError
from healthgate.profile import load_profile
from healthgate.targets import KINDS

ROOT = Path(__file__).resolve().parents[2]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["5s", "5 s", "10MiB", "10MB", "${HOME}", "${UNSET_X}", "${A:-b}", "${",
                                           "http://u:p@h/", "critical", "warning", "daily"]),
)
keys = st.one_of(st.sampled_from(["name", "targets", "checks", "timeouts", "extends", "url", "dsn", "thresholds",
                                  "health", "severity", "phases", "enabled", "eventually", "within", *KINDS]),
                 st.text(max_size=8))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)), max_leaves=30)


def _load_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        load_profile(path, environ={"HOME": "/root", "A": ""})
    except ProfileError as exc:
        for error in getattr(exc, "errors", [exc]):
            assert str(error).startswith(str(path)), str(error)
            assert error.path or error.line is not None or "YAML" in error.message or "mapping" in error.message, (
                str(error))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents)
def test_random_yaml_structures_load_or_raise_profile_error(tmp_path, document):
    _load_text(tmp_path, yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=string.printable, max_size=200))
def test_random_text_loads_or_raises_profile_error(tmp_path, text):
    _load_text(tmp_path, text)


def _mutations(text: str, rng: random.Random, count: int) -> list[str]:
    lines = text.splitlines()
    out = []
    for _ in range(count):
        mutated = list(lines)
        op = rng.choice(["drop", "dup", "swap", "indent", "truncate", "char"])
        i = rng.randrange(len(mutated))
        if op == "drop":
            del mutated[i]
        elif op == "dup":
            mutated.insert(i, mutated[i])
        elif op == "swap":
            j = rng.randrange(len(mutated))
            mutated[i], mutated[j] = mutated[j], mutated[i]
        elif op == "indent":
            mutated[i] = "  " + mutated[i]
        elif op == "truncate":
            mutated = mutated[:i]
        else:
            line = mutated[i]
            pos = rng.randrange(len(line) + 1)
            mutated[i] = line[:pos] + rng.choice(":{}[]-#&*!|>'\"%@`$") + line[pos:]
        out.append("\n".join(mutated) + "\n")
    return out


def test_mutated_real_profiles_load_or_raise_profile_error(tmp_path):
    rng = random.Random(20261125)
    profiles = sorted((ROOT / "profiles").glob("*.yaml"))
    assert profiles, "the repository ships profiles to mutate"
    for source in profiles:
        for text in _mutations(source.read_text(), rng, 150):
            _load_text(tmp_path, text)
