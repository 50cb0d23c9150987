"""The profile loader under hostile input: every input either loads or raises ProfileError naming the file, within
a budget of time and memory per input — never another exception, never a hang.

Three sources: the reproducer corpus (``profile_corpus/``, each file's first line says what must happen), random
documents and text from hypothesis, and a bounded sample of the fuzz inputs ``python -m bench.profile_fuzz`` runs
by the ten thousand (mutated shipped profiles, alias bombs, deep nesting, ``${VAR}`` edge cases).
"""

from __future__ import annotations

import contextlib
import string
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import profile_fuzz
from healthgate import profile_yaml
from healthgate.errors import ProfileError
from healthgate.profile import load_profile
from healthgate.redact import forget_secrets
from healthgate.targets import KINDS, available_kinds, settings_model

CORPUS = Path(__file__).resolve().parent / "profile_corpus"
ENVIRON = {"HOME": "/root", "A": "", "B": "http://fallback.example"}
# Per input, in CPU seconds of this process: what the input costs, whatever else a shared CI host is running.
# The slowest corpus input takes about a tenth of it.
TIME_BUDGET_S = 1.0
MEMORY_BUDGET_MB = 64.0  # traced Python allocations per input; the hungriest corpus input needs about 10
SAMPLE = 12  # fuzz inputs per family here; the benchmark runs thousands

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["5s", "5 s", "10MiB", "10MB", "${HOME}", "${UNSET_X}", "${A:-b}", "${",
                                           "${A:-${B}}", "$$", "http://u:p@h/", "critical", "warning", "daily",
                                           "2024-02-30", ".nan", "<<"]),
)
keys = st.one_of(st.sampled_from(["name", "targets", "checks", "timeouts", "extends", "url", "dsn", "thresholds",
                                  "health", "severity", "phases", "enabled", "eventually", "within", "token",
                                  "headers", "preset", "data_safety", "<<", *KINDS]),
                 st.text(max_size=8))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)), max_leaves=30)


@pytest.fixture(autouse=True, scope="module")
def _settings_models_imported():
    """The first profile of a kind imports its module and builds its pydantic schema (up to a second on a busy
    host): a one-time cost of the process, not of the input, so it is paid before any input is timed."""
    for kind in available_kinds():
        settings_model(kind)


@pytest.fixture(autouse=True)
def _no_leftover_secrets():
    yield
    forget_secrets()


def _load_within_budget(path: Path, budget_s: float = TIME_BUDGET_S) -> ProfileError | None:
    """Load ``path``; the ProfileError it raised, or None. Fails on any other exception and on a slow input."""
    started = time.process_time()
    try:
        load_profile(path, environ=ENVIRON)
        error = None
    except ProfileError as exc:
        error = exc
    elapsed = time.process_time() - started
    assert elapsed < budget_s, f"{path.name} took {elapsed:.2f} s"
    for each in getattr(error, "errors", [error] if error else []):
        assert str(each).startswith(str(path)), str(each)
    return error


def _expectation(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path.name}: the first line says what must happen"
    return first[len("# expect: "):]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_reproducer_loads_or_fails_as_its_first_line_says(path):
    expected = _expectation(path)
    error = _load_within_budget(path)
    if expected == "loads":
        assert error is None, str(error)
        return
    assert error is not None, f"{path.name} loaded"
    shown = [str(e) for e in getattr(error, "errors", [error])]
    assert any(text.startswith(f"{path}{expected}") for text in shown), "\n".join(shown[:5])


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_reproducer_stays_within_the_memory_budget(path):
    tracemalloc.start()
    try:
        with contextlib.suppress(ProfileError):
            load_profile(path, environ=ENVIRON)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BUDGET_MB, f"{path.name} allocated {peak:.1f} MiB at its peak"


def test_the_corpus_holds_the_issue_reproducers():
    names = {p.stem for p in CORPUS.glob("*.yaml")}
    assert {"recursive-sequence-alias", "unhashable-key", "unhashable-preset", "int-overflows-float",
            "int-exceeds-digit-limit", "tag-int-empty", "tag-timestamp-empty", "tag-map-on-sequence",
            "impossible-date", "extends-name-too-long", "extends-nul-byte", "dollar-dollar-long",
            "alias-bomb-6-levels", "nan-inf-timeouts", "nested-default", "merge-keys"} <= names


@settings(max_examples=60, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(document=documents)
def test_random_yaml_structures_load_or_raise_profile_error(tmp_path, document):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    _load_within_budget(path)


@settings(max_examples=60, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=string.printable + "&*!<>{}[]$\u00e9\u2028", max_size=300))
def test_random_text_loads_or_raises_profile_error(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    _load_within_budget(path)


@pytest.fixture(scope="module")
def fuzz_sample() -> list[profile_fuzz.Case]:
    return list(profile_fuzz.cases(SAMPLE * len(profile_fuzz.FAMILIES), seed=7))


@pytest.mark.parametrize("family", profile_fuzz.FAMILIES)
def test_a_sample_of_the_benchmark_fuzz_inputs_loads_or_raises_profile_error(tmp_path, monkeypatch, fuzz_sample,
                                                                             family):
    monkeypatch.setenv("HEALTHGATE_PROFILES_DIR", str(profile_fuzz.PROFILES))
    path = tmp_path / "fuzz.yaml"
    sample = [case for case in fuzz_sample if case.family == family]
    assert len(sample) == SAMPLE
    for case in sample:
        outcome = profile_fuzz.run_case(case, path)
        assert not outcome.result.startswith("crash"), (case.label, outcome.result)
        assert outcome.cpu_seconds < TIME_BUDGET_S, (case.label, outcome.cpu_seconds)


# The inputs whose handling depends on the parser: control characters, nesting, aliases, tags, documents.
PARSER_SENSITIVE = ["raw-nul-byte", "deep-flow-nesting", "deep-block-nesting", "recursive-sequence-alias",
                    "alias-bomb-7-levels", "tag-int-empty", "two-documents", "merge-keys"]


@pytest.mark.parametrize("name", PARSER_SENSITIVE)
def test_a_reproducer_is_handled_by_the_pure_python_parser_too(monkeypatch, name):
    """Where PyYAML was built without libyaml, the same inputs meet the pure-Python parser: they must still load or
    be refused (syntax errors are worded differently there), within a few seconds rather than one."""
    path = CORPUS / f"{name}.yaml"
    monkeypatch.setattr(profile_yaml, "_Loader", profile_yaml.loader_class(yaml.SafeLoader))
    error = _load_within_budget(path, budget_s=5 * TIME_BUDGET_S)
    assert (error is None) == (_expectation(path) == "loads"), str(error)
