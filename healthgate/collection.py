"""Collection: one item per check × target of the profile, with the phases, severity and retry policy the profile
gives it, grouped so a target's checks run one after the other and its connections close after the last one."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from healthgate import pytest_compat, resources, waiver_review, waivers
from healthgate.check import REGISTRY, spec_of
from healthgate.errors import CheckError
from healthgate.profile import PROFILE_ENV
from healthgate.run_state import ITEM, STATE, ItemInfo, RunState
from healthgate.targets import KINDS
from healthgate.targets.base import CheckOverride, Target
from healthgate.vocabulary import PHASES

LAST_OF_TARGET = pytest.StashKey[bool]()
SHARD = pytest.StashKey[tuple[int, int]]()
UNLOADED = pytest.StashKey[list[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("healthgate").addoption(
        "--shard", dest="hg_shard", default=None, metavar="I/N",
        help="check only the I-th of N parts of the profile's targets (1 <= I <= N); a target's checks never "
             "split across shards. `python -m healthgate merge` joins the shards' --summary-json files")


def parse_shard(value: str) -> tuple[int, int]:
    index, _, count = value.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = (0, 0)
    if not 1 <= shard[0] <= shard[1]:
        raise pytest.UsageError(f"--shard={value}: write I/N with 1 <= I <= N, e.g. --shard=2/3 "
                                "(in a Kubernetes Indexed Job: --shard=$((JOB_COMPLETION_INDEX + 1))/N)")
    return shard


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("hg_shard", None)
    if value:
        config.stash[SHARD] = parse_shard(value)


def shard_targets(all_ids: list[str], shard: tuple[int, int]) -> set[str]:
    """The targets of one shard. They are dealt in turn, in sorted order: every shard computes the same split
    from the same profile, and each gets a share of every kind."""
    index, count = shard
    return set(sorted(all_ids)[index - 1::count])


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out the suite's ``checks/test_<kind>.py`` when the profile has no target of that kind: its items
    would all be dropped, and importing it (with its kind's helpers) costs every run, a one-target gate most of
    all. Files holding several kinds' checks (baselines, restore drills) are never left out, and neither is a
    file named on the command line (pytest does not ask this hook about those)."""
    kind = _one_kind_file(collection_path)
    state = config.stash.get(STATE, None)
    if kind is None or state is None or state.profile is None or state.targets.get(kind):
        return None
    config.stash.setdefault(UNLOADED, []).append(collection_path)
    return True


def _one_kind_file(path: Path) -> str | None:
    if path.suffix != ".py" or not path.name.startswith("test_"):
        return None
    kind = path.stem.removeprefix("test_")
    if kind not in KINDS:
        return None
    checks = resources.checks_dir()
    return kind if checks is not None and path.parent.resolve() == checks.resolve() else None


def _load_unloaded_checks(config: pytest.Config) -> None:
    """Import the check files collection left out, only to learn their checks' names (they register on import):
    a profile-wide override may name a check of a kind this profile does not have."""
    for path in config.stash.get(UNLOADED, []):
        name = f"healthgate_unloaded_checks.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
    config.stash[UNLOADED] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    spec = spec_of(metafunc.function)
    if spec is None:
        return
    state = metafunc.config.stash[STATE]
    params = [
        pytest.param(target, id=target.id, marks=[pytest.mark.xdist_group(target.id)])
        for target in state.targets.get(spec.kind, [])
        if spec.applies_to(target.settings)
    ]
    metafunc.parametrize(spec.kind, params)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE]
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    collected_kinds: set[str] = set()
    for item in items:
        spec = spec_of(getattr(item, "function", None))
        if spec is None:
            keep.append(item)
            continue
        collected_kinds.add(spec.kind)
        if state.profile is None:
            raise pytest.UsageError(
                "no profile selected: pass --profile NAME (a file under profiles/) or --profile path/to.yaml, "
                f"or set {PROFILE_ENV}; `python -m healthgate validate PROFILE` checks one"
            )
        callspec = getattr(item, "callspec", None)
        if callspec is None or not isinstance(callspec.params.get(spec.kind), Target):
            dropped.append(item)  # the profile has no target of this kind
            continue
        target: Target[Any, Any] = callspec.params[spec.kind]
        override = _override(state, target, spec.name)
        if not override.enabled:
            dropped.append(item)
            continue
        phases = override.phases if override.phases is not None else spec.phases
        item.own_markers[:] = [m for m in item.own_markers if m.name not in PHASES]
        for phase in phases:
            item.add_marker(phase)
        item.stash[ITEM] = ItemInfo(
            check=spec.name, kind=spec.kind, target=target, phases=tuple(phases),
            severity=override.severity or spec.severity, runbook=state.runbook_link(spec.page, spec.runbook),
            eventually=override.eventually or target.settings.eventually,
            waiver=waivers.find(state.profile.header.waivers, spec.name, target.id),
        )
        pytest_compat.report_errors_without_traceback(item, (CheckError,))
        keep.append(item)
    _reject_unknown_overrides(config, state, collected_kinds)
    shard = config.stash.get(SHARD, None)
    if shard is not None:
        all_ids = [target.id for targets in state.targets.values() for target in targets]
        mine = shard_targets(all_ids, shard)
        dropped += [item for item in keep if (info := item.stash.get(ITEM, None)) and info.target.id not in mine]
        keep = [item for item in keep if (info := item.stash.get(ITEM, None)) is None or info.target.id in mine]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = _grouped_by_target(keep)


def _override(state: RunState, target: Target[Any, Any], check: str) -> CheckOverride:
    """Per-target override wins over the profile-wide one; unset fields fall through."""
    merged: dict[str, Any] = {}
    if state.profile is not None and check in state.profile.header.checks:
        merged.update(state.profile.header.checks[check].model_dump(exclude_unset=True))
    if check in target.settings.checks:
        merged.update(target.settings.checks[check].model_dump(exclude_unset=True))
    return CheckOverride.model_validate(merged)


def _grouped_by_target(items: list[pytest.Item]) -> list[pytest.Item]:
    """Run a target's checks one after the other (in their file order), so its connection can be closed as soon
    as its last check is done: a fleet of a thousand targets then never holds a thousand connections open, and
    the report reads target by target."""
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        info = item.stash.get(ITEM, None)
        if info is not None:
            first_seen.setdefault(info.target.id, index)

    def position(indexed: tuple[int, pytest.Item]) -> tuple[int, int]:
        index, item = indexed
        info = item.stash.get(ITEM, None)
        return (first_seen[info.target.id] if info is not None else index, index)

    return [item for _, item in sorted(enumerate(items), key=position)]


def _reject_unknown_overrides(config: pytest.Config, state: RunState, collected_kinds: set[str]) -> None:
    """A misspelt check name in an override would silently change nothing: refuse it."""
    if state.profile is None:
        return
    known = {spec.name for spec in REGISTRY.values()}
    named = [*state.profile.header.checks, *(waiver.check for waiver in state.profile.header.waivers)]
    if any(name not in known for name in named) and config.stash.get(UNLOADED, []):
        _load_unloaded_checks(config)
        known = {spec.name for spec in REGISTRY.values()}
    problems = []
    for kind, targets in state.targets.items():
        if kind not in collected_kinds:
            continue
        kind_checks = {spec.name for spec in REGISTRY.values() if spec.kind == kind}
        for target in targets:
            for name in target.settings.checks:
                if name not in kind_checks:
                    problems.append(f"targets.{kind}.{target.name}.checks.{name}: no {kind} check of that name "
                                    f"(known: {', '.join(sorted(kind_checks))})")
    if collected_kinds >= set(state.targets):
        for name in state.profile.header.checks:
            if name not in known:
                problems.append(f"checks.{name}: no check of that name")
    kinds_of_checks: dict[str, set[str]] = {}
    for spec in REGISTRY.values():
        kinds_of_checks.setdefault(spec.name, set()).add(spec.kind)
    waiver_problems = waiver_review.unknown_checks(state.profile, kinds_of_checks, collected_kinds)
    if waiver_problems:  # each names its own file and line (the waiver may come from a profile this one extends)
        raise pytest.UsageError("profile error: " + "; ".join(
            [str(p) for p in waiver_problems] + [f"{state.profile.path}: {p}" for p in problems]))
    if problems:
        raise pytest.UsageError(f"profile error: {state.profile.path}: " + "; ".join(problems))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    _mark_last_check_of_each_target(session.items)  # after -m/-k deselection: only checks that will run count
    for item in session.items:
        pytest_compat.carry_group_suffix_over(item)


def _mark_last_check_of_each_target(items: list[pytest.Item]) -> None:
    seen: set[str] = set()
    for item in reversed(items):
        info = item.stash.get(ITEM, None)
        if info is not None and info.target.id not in seen:
            seen.add(info.target.id)
            item.stash[LAST_OF_TARGET] = True


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Close a target's connections after its last check (a later check of it, under xdist, just reconnects)."""
    info = item.stash.get(ITEM, None)
    if info is not None and item.stash.get(LAST_OF_TARGET, False):
        info.target.close()
