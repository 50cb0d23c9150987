"""The pytest plugin: options, phase markers, parametrization over the profile's targets, gating, reports.

Hooks are grouped by the moment they act: configure (load the profile, fail early on bad input), collection
(one item per check × target, phases and severity from the profile), run (evidence, retries, fail-fast),
report (classification, summary, exit status).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from healthgate import expect as expect_mod
from healthgate import gate as gate_mod
from healthgate.baseline import plugin as baseline_plugin
from healthgate.check import REGISTRY, spec_of
from healthgate.errors import CheckError, ProfileError
from healthgate.profile import PROFILE_ENV, Profile, load_profile, resolve_profile_path
from healthgate.redact import redact
from healthgate.targets.base import PHASES, CheckOverride, Eventually, Target

STATE = pytest.StashKey["RunState"]()
ITEM = pytest.StashKey["ItemInfo"]()
PROVISION_ENV_KEY = "healthgate_provisioned_env"
LOADGROUP_KEY = "healthgate_loadgroup"


@dataclass
class ItemInfo:
    check: str
    kind: str
    target: Target
    phases: tuple[str, ...]
    severity: str
    runbook: str
    eventually: Eventually | None


@dataclass
class RunState:
    profile: Profile | None = None
    targets: dict[str, list[Target]] = field(default_factory=dict)
    results: list[gate_mod.Result] = field(default_factory=list)
    check_items: int = 0
    other_failures: int = 0
    started: float = field(default_factory=time.time)
    teardown: list[Any] = field(default_factory=list)

    def runbook_link(self, page: str, anchor: str) -> str:
        base = self.profile.header.runbook_base if self.profile else "docs/runbooks"
        return f"{base.rstrip('/')}/{page}#{anchor}"


# ----------------------------------------------------------------------------------------------- options

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healthgate", "healthgate: production health verification")
    group.addoption("--profile", dest="hg_profile", default=None, metavar="NAME|PATH",
                    help=f"profile to check: a name under profiles/ or a YAML path (env: {PROFILE_ENV})")
    group.addoption("--gate", dest="hg_gate", default="critical", choices=gate_mod.GATES,
                    help="lowest severity that blocks: 'critical' (default) or 'warning'")
    group.addoption("--allow-empty", dest="hg_allow_empty", action="store_true",
                    help="exit 0 when no check was selected (by default that fails the gate)")
    group.addoption("--summary-json", dest="hg_summary_json", default=None, metavar="PATH",
                    help="write the verdict, counts and failed checks as JSON")
    group.addoption("--metrics-textfile", dest="hg_metrics_textfile", default=None, metavar="PATH",
                    help="write Prometheus text metrics for node_exporter's textfile collector")
    baseline_plugin.add_options(group)


# ----------------------------------------------------------------------------------------------- configure

@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """A health run spread over workers keeps each target's checks on one worker (one connection per target,
    one timeout for a dead target) unless the user chose another distribution."""
    health_run = config.getoption("hg_profile") or os.environ.get(PROFILE_ENV)
    if health_run and getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", None) == "no":
        config.option.dist = "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    for phase in PHASES:
        config.addinivalue_line("markers", f"{phase}: healthgate phase")
    _refuse_misread_path_options(config)
    if getattr(config, "workerinput", {}).get(LOADGROUP_KEY):
        config.option.loadgroup = True
    state = RunState()
    config.stash[STATE] = state
    config.pluginmanager.register(ResultCollector(state), "healthgate-results")
    config.pluginmanager.register(baseline_plugin, "healthgate-baseline")
    spec = config.getoption("hg_profile") or os.environ.get(PROFILE_ENV)
    if not spec:
        return
    if not hasattr(config, "workerinput"):
        _lock_outputs(config, state)
    try:
        state.profile = _load_for_run(config, spec, state)
    except ProfileError as exc:
        raise pytest.UsageError(f"profile error: {exc}") from None
    for kind, named in state.profile.targets.items():
        timeouts = state.profile.header.timeouts
        state.targets[kind] = [Target(kind, name, settings, timeouts) for name, settings in sorted(named.items())]


PATH_OPTIONS = ("--profile", "--baseline", "--baseline-save", "--summary-json", "--metrics-textfile")


def _refuse_misread_path_options(config: pytest.Config) -> None:
    """pytest picks its root directory and ini file before plugins add their options, so in
    ``--profile /etc/x.yaml`` it takes the path for a test path and may then silently not use this checkout's
    configuration (testpaths, markers). Refuse that instead of running a different suite than the one asked for."""
    from pathlib import Path

    from _pytest.config.findpaths import determine_setup

    args = list(config.invocation_params.args)
    misread = [(option, value) for option, value in itertools.pairwise(args)
               if option in PATH_OPTIONS and Path(value).exists()]
    if not misread or config.option.rootdir or config.option.inifilename:
        return
    others = [a for a in config.args if a not in {value for _, value in misread}]
    rootpath, inipath, *_ = determine_setup(inifile=None, override_ini=None, args=others, rootdir_cmd_arg=None,
                                            invocation_dir=Path(config.invocation_params.dir))
    if (rootpath, inipath) != (config.rootpath, config.inipath):
        option, value = misread[0]
        raise pytest.UsageError(
            f"write {option}={value} (with '='): given as two words, pytest takes {value} for a test path "
            f"and runs from {config.rootpath} without this checkout's configuration ({inipath or rootpath})"
        )


def _lock_outputs(config: pytest.Config, state: RunState) -> None:
    from pathlib import Path

    from healthgate.runlock import RunLock, RunLocked

    options = ("hg_summary_json", "hg_metrics_textfile", "allure_report_dir", "xmlpath", "hg_baseline_save")
    outputs = [Path(value) for name in options if (value := getattr(config.option, name, None))]
    if not outputs:
        return
    lock = RunLock(outputs)
    try:
        lock.acquire()
    except RunLocked as exc:
        raise pytest.UsageError(str(exc)) from None
    state.teardown.append(lock.release)


def _load_for_run(config: pytest.Config, spec: str, state: RunState) -> Profile:
    from healthgate import provision

    path = resolve_profile_path(spec, search=[config.rootpath / "profiles"])
    kind = provision.requested(path)
    if kind is None:
        return load_profile(path)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and PROVISION_ENV_KEY in workerinput:
        os.environ.update(workerinput[PROVISION_ENV_KEY])
        return load_profile(path)
    if config.getoption("collectonly"):
        return load_profile(path, environ=provision.placeholder_environ())
    load_profile(path, environ=provision.placeholder_environ())  # reject a bad profile before starting anything
    env, stop = provision.start(kind)
    state.teardown.append(stop)
    os.environ.update(env)
    config.stash[PROVISIONED] = env
    return load_profile(path)


PROVISIONED = pytest.StashKey[dict[str, str]]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the provisioned stack's addresses to each worker instead of starting one per worker, and the
    grouping chosen in pytest_cmdline_main (workers re-parse the command line, where it is not written)."""
    env = node.config.stash.get(PROVISIONED, None)
    if env:
        node.workerinput[PROVISION_ENV_KEY] = env
    node.workerinput[LOADGROUP_KEY] = node.config.option.dist == "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: Any, sched: Any) -> None:
    """A check that killed its worker is reported once, as a crash. xdist's grouped scheduling hands the whole
    group back, crashed check included, so without this each replacement worker would run it (and die) again
    until the restart limit, and the target's other checks would never run."""
    for work_unit in getattr(sched, "workqueue", {}).values():
        if isinstance(work_unit, dict) and crashitem in work_unit:
            work_unit[crashitem] = True


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    for targets in state.targets.values():
        for target in targets:
            target.close()
    for stop in reversed(state.teardown):
        stop()


# ----------------------------------------------------------------------------------------------- collection

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


def _override(state: RunState, target: Target, check: str) -> CheckOverride:
    """Per-target override wins over the profile-wide one; unset fields fall through."""
    merged: dict[str, Any] = {}
    if state.profile is not None and check in state.profile.header.checks:
        merged.update(state.profile.header.checks[check].model_dump(exclude_unset=True))
    if check in target.settings.checks:
        merged.update(target.settings.checks[check].model_dump(exclude_unset=True))
    return CheckOverride.model_validate(merged)


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
        target: Target = callspec.params[spec.kind]
        override = _override(state, target, spec.name)
        if not override.enabled:
            dropped.append(item)
            continue
        phases = override.phases if override.phases is not None else spec.phases
        item.own_markers[:] = [m for m in item.own_markers if m.name not in PHASES]
        for phase in phases:
            item.add_marker(phase)
        severity = override.severity or spec.severity
        info = ItemInfo(
            check=spec.name, kind=spec.kind, target=target, phases=tuple(phases), severity=severity,
            runbook=state.runbook_link(spec.page, spec.runbook),
            eventually=override.eventually or target.settings.eventually,
        )
        item.stash[ITEM] = info
        keep.append(item)
    _reject_unknown_overrides(state, collected_kinds)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = _grouped_by_target(keep)


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


LAST_OF_TARGET = pytest.StashKey[bool]()


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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Make ``--dist loadgroup`` keep a target's checks on one worker (one connection per target).

    xdist 3.8 marks the group by assigning ``item._nodeid``, which pytest 9 no longer reads (the id lives in
    ``item._id``), so the grouping silently did nothing; carry the suffixed id over where that happened."""
    from _pytest.nodes import coerce_node_id

    _mark_last_check_of_each_target(session.items)  # after -m/-k deselection: only checks that will run count
    for item in session.items:
        legacy = item.__dict__.get("_nodeid")
        if legacy and legacy != item.nodeid:
            item._id = coerce_node_id(legacy)


def _reject_unknown_overrides(state: RunState, collected_kinds: set[str]) -> None:
    """A misspelt check name in an override would silently change nothing: refuse it."""
    if state.profile is None:
        return
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
    if problems:
        raise pytest.UsageError(f"profile error: {state.profile.path}: " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------- run

@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    expect_mod.current.set(expect_mod.CheckRecord())
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Retry a check with an ``eventually`` policy until it passes or its deadline passes."""
    info = pyfuncitem.stash.get(ITEM, None)
    if info is None or info.eventually is None:
        return None
    policy = info.eventually
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        expect_mod.current.set(expect_mod.CheckRecord())
        try:
            pyfuncitem.obj(**kwargs)
        except (AssertionError, pytest.fail.Exception, CheckError) as exc:
            elapsed = time.monotonic() - started
            if elapsed + policy.every > policy.within:
                _record_wait(pyfuncitem, f"still failing after {elapsed:.1f}s and {attempts} attempt(s)")
                if isinstance(exc, pytest.fail.Exception):
                    raise pytest.fail.Exception(
                        f"{exc.msg} (still failing after {elapsed:.1f}s, {attempts} attempts)", pytrace=False
                    ) from None
                raise
            time.sleep(policy.every)
            info.target.reset()
            continue
        elapsed = time.monotonic() - started
        _record_wait(pyfuncitem, f"passed after {elapsed:.1f}s and {attempts} attempt(s)")
        return True


def _record_wait(item: pytest.Item, text: str) -> None:
    """How long a post-deploy wait took travels with the result: JUnit property, report evidence, summary."""
    item.user_properties.append(("healthgate.eventually", text))
    record = expect_mod.current.get()
    if record is not None:
        record.evidence.append(("eventually", text))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    info = item.stash.get(ITEM, None)
    if info is None:
        return report
    if report.when == "call" or (report.when == "setup" and not report.passed):
        status = _status(report, call)
        message = ""
        if status in ("failed", "broken"):
            message = _message(call)
            prefix = "could not check: " if status == "broken" else ""
            report.longrepr = redact(f"{prefix}{message}\n  severity: {info.severity}\n  runbook: {info.runbook}")
        record = expect_mod.current.get() or expect_mod.CheckRecord()
        if getattr(info.target.settings, "verify_tls", True) is False and not any(
                "TLS verification disabled" in w for w in record.warnings):
            record.warnings.append(f"TLS verification disabled for {info.target.id} (verify_tls: false): "
                                   "certificates are not checked")
        if status in ("failed", "broken"):
            _attach_runbook_section(item.config, info, record)
        failed_obs = next((o for o in record.observations if not o.passed), None)
        result = {
            "check": info.check, "target": info.target.id, "kind": info.kind, "phases": list(info.phases),
            "severity": info.severity, "status": status, "message": redact(message), "runbook": info.runbook,
            "observed": str(failed_obs.observed) if failed_obs else "",
            "expected": f"{failed_obs.op} {failed_obs.expected}" if failed_obs else "",
            "warnings": record.warnings,
        }
        report.user_properties.append(("healthgate", result))
        _attach_allure(info, record, status, message)
    return report


def _attach_runbook_section(config: pytest.Config, info: ItemInfo, record: expect_mod.CheckRecord) -> None:
    """What to do next travels with the failure: the runbook section's investigation and resolution steps."""
    from healthgate import runbooks

    page, _, anchor = info.runbook.rpartition("#")
    text = runbooks.section(config.rootpath / "docs" / "runbooks", page.rsplit("/", 1)[-1], anchor)
    if text:
        record.evidence.append((f"runbook: {anchor}", text))


def _status(report: pytest.TestReport, call: pytest.CallInfo[None]) -> str:
    if report.skipped:
        return "skipped"
    if report.passed:
        return "passed"
    if call.excinfo is not None and call.excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return "failed"
    return "broken"


def _message(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return ""
    exc = call.excinfo.value
    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg)
    if isinstance(exc, CheckError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _attach_allure(info: ItemInfo, record: expect_mod.CheckRecord, status: str, message: str) -> None:
    try:
        from healthgate import report
    except ImportError:  # pragma: no cover
        return
    try:
        report.allure_labels(info, record, status, message)
    except Exception as exc:  # a report detail must never turn into an internal error that hides the verdict
        import warnings

        warnings.warn(f"healthgate: could not label the Allure result of {info.check}[{info.target.id}]: {exc!r}",
                      stacklevel=1)


class ResultCollector:
    """Gathers check results where the gate is decided: in the controller under xdist, else in-process.

    Registered per config (not module-global) so a pytest run inside another, as the plugin's own tests do,
    keeps its results apart."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        waited = next((str(v) for k, v in report.user_properties if k == "healthgate.eventually"), "")
        for key, value in report.user_properties:
            if key == "healthgate" and isinstance(value, dict):
                self.state.results.append(gate_mod.Result(
                    nodeid=report.nodeid, check=value["check"], target=value["target"], kind=value["kind"],
                    phase=",".join(value["phases"]), severity=value["severity"], status=value["status"],
                    message=value["message"], runbook=value["runbook"], duration=report.duration,
                    observed=value.get("observed", ""), expected=value.get("expected", ""), waited=waited,
                ))
                return
        if report.failed and report.when != "teardown":  # xdist reports a crashed worker with when="???"
            self.state.other_failures += 1
            if self.state.profile is not None:
                self.state.results.append(_unclassified(report))


def _unclassified(report: pytest.TestReport) -> gate_mod.Result:
    """A failure that carries no check result: the worker died, or setup broke before the check began. In a
    health run it still counts, as a blocking 'could not check', so a crash can never turn the gate green."""
    name = report.nodeid.rsplit("::", 1)[-1]
    check, _, param = name.partition("[")
    target = param.rstrip("]") or "?"
    message = str(report.longrepr).strip().splitlines()[-1] if report.longrepr else "failed without a result"
    return gate_mod.Result(
        nodeid=report.nodeid, check=check, target=target, kind=target.split(":", 1)[0], phase="?",
        severity="critical", status="broken", message=redact(message), duration=report.duration,
    )


# ----------------------------------------------------------------------------------------------- finish

def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        return
    state = config.stash[STATE]
    if state.profile is None and not state.results:
        return
    verdict = gate_mod.judge(state.results, config.getoption("hg_gate"))
    allow_empty = config.getoption("hg_allow_empty")
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failed = bool(verdict.blocking) or state.other_failures > 0
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
    if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and allow_empty:
        session.exitstatus = pytest.ExitCode.OK
    from healthgate import report, summary

    summary.write_outputs(config, state, verdict, int(session.exitstatus))
    try:
        report.finish_run(config, state)
    except OSError as exc:  # the gate's verdict stands even if the report's extras cannot be written
        import sys

        print(f"healthgate: could not complete the Allure results: {exc}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config):
        return
    state = config.stash.get(STATE, None)
    if state is None or (state.profile is None and not state.results):
        return
    from healthgate import summary

    verdict = gate_mod.judge(state.results, config.getoption("hg_gate"))
    lines = summary.terminal_lines(state, verdict, allow_empty=config.getoption("hg_allow_empty"),
                                   markexpr=str(config.option.markexpr or ""))
    for line in lines:
        terminalreporter.write_line(line)
    results_dir = getattr(config.option, "allure_report_dir", None)
    if results_dir:
        terminalreporter.write_line(f"Allure results in {results_dir}: python -m healthgate report {results_dir}")


@pytest.fixture(scope="session")
def healthgate_profile(pytestconfig: pytest.Config) -> Profile:
    """The active profile, for checks that need more than their own target."""
    profile = pytestconfig.stash[STATE].profile
    if profile is None:
        raise pytest.UsageError("no profile selected")
    return profile
