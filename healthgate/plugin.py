"""The pytest plugin: options, the profile and its targets, phase markers, exit status.

The run's moments each have a module of their own, registered with this one: :mod:`healthgate.collection` (one
item per check × target), :mod:`healthgate.observer` (checks run concurrently per target, post-deploy waits
included), :mod:`healthgate.results` (outcomes
packed into reports), :mod:`healthgate.data_safety.plugin` (baselines, restore drills). They share the run's state
through :mod:`healthgate.run_state` and join the run through the hooks of :mod:`healthgate.hookspecs`.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from healthgate import gate as gate_mod
from healthgate import hookspecs, pytest_compat
from healthgate.errors import ProfileError
from healthgate.profile import PROFILE_ENV, Profile, load_profile, resolve_profile_path
from healthgate.results import ResultCollector
from healthgate.run_state import STATE, RunState
from healthgate.targets.base import Target
from healthgate.vocabulary import PHASES

pytest_plugins = ("healthgate.collection", "healthgate.observer", "healthgate.results",
                  "healthgate.data_safety.plugin", "healthgate.heartbeat_plugin")

PROVISION_ENV_KEY = "healthgate_provisioned_env"
LOADGROUP_KEY = "healthgate_loadgroup"
PROVISIONED = pytest.StashKey[dict[str, str]]()
PATH_OPTIONS = ("--profile", "--summary-json", "--metrics-textfile")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


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


def pytest_healthgate_path_options() -> list[str]:
    return list(PATH_OPTIONS)


def pytest_healthgate_output_paths(config: pytest.Config) -> list[Path]:
    options = ("hg_summary_json", "hg_metrics_textfile", "allure_report_dir", "xmlpath")
    return [Path(value) for name in options if (value := getattr(config.option, name, None))]


# ----------------------------------------------------------------------------------------------- configure

def _profile_spec(config: pytest.Config) -> str | None:
    return config.getoption("hg_profile") or os.environ.get(PROFILE_ENV)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """A health run spread over workers keeps each target's checks on one worker (one connection per target,
    one timeout for a dead target) unless the user chose another distribution."""
    if _profile_spec(config) and getattr(config.option, "numprocesses", None) \
            and not pytest_compat.distribution_chosen_by_user(config):
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
    spec = _profile_spec(config)
    if not spec:
        return
    if not _is_worker(config):
        _lock_outputs(config, state)
    try:
        profile = _load_for_run(config, spec, state)
    except ProfileError as exc:
        raise pytest.UsageError(f"profile error: {exc}") from None
    state.profile = profile
    _collect_the_suites_checks(config)
    for kind, named in profile.targets.items():
        timeouts = profile.header.timeouts
        state.targets[kind] = [Target(kind, name, settings, timeouts) for name, settings in sorted(named.items())]


def _collect_the_suites_checks(config: pytest.Config) -> None:
    """A health run started outside this checkout with no test path (a deploy pipeline runs in the
    application's repository) checks with the suite's own checks, not with whatever tests that directory holds."""
    if config.args_source != pytest.Config.ArgsSource.INVOCATION_DIR:
        return
    from healthgate import resources

    checks = resources.checks_dir()
    if checks is None:
        raise pytest.UsageError(
            "no health checks found: this installation of healthgate has no checks/ directory next to it; run "
            "from the healthgate source tree (cd /path/to/healthgate && pytest -m daily --profile=...) or name "
            "the checks directory: pytest /path/to/healthgate/checks -m daily --profile=..."
        )
    if Path(config.invocation_params.dir).resolve() != checks.parent:
        config.args = [str(checks)]


def _refuse_misread_path_options(config: pytest.Config) -> None:
    """pytest picks its root directory and ini file before plugins add their options, so in
    ``--profile /etc/x.yaml`` it takes the path for a test path and may then silently not use this checkout's
    configuration (testpaths, markers). Refuse that instead of running a different suite than the one asked for."""
    path_options = {option for options in config.hook.pytest_healthgate_path_options() for option in options}
    args = list(config.invocation_params.args)
    misread = [(option, value) for option, value in itertools.pairwise(args)
               if option in path_options and Path(value).exists()]
    if not misread or config.option.rootdir or config.option.inifilename:
        return
    others = [a for a in config.args if a not in {value for _, value in misread}]
    rootpath, inipath = pytest_compat.ini_setup_for(others, Path(config.invocation_params.dir))
    if (rootpath, inipath) != (config.rootpath, config.inipath):
        option, value = misread[0]
        raise pytest.UsageError(
            f"write {option}={value} (with '='): given as two words, pytest takes {value} for a test path "
            f"and runs from {config.rootpath} without this checkout's configuration ({inipath or rootpath})"
        )


def _lock_outputs(config: pytest.Config, state: RunState) -> None:
    from healthgate.runlock import RunLock, RunLocked

    outputs = [path for paths in config.hook.pytest_healthgate_output_paths(config=config) for path in paths]
    if not outputs:
        return
    lock = RunLock(outputs)
    try:
        lock.acquire()
    except RunLocked as exc:
        raise pytest.UsageError(str(exc)) from None
    state.teardown.append(lock.release)


def _load_for_run(config: pytest.Config, spec: str, state: RunState) -> Profile:
    from healthgate import provision, resources

    path = resolve_profile_path(spec, search=resources.profile_dirs(config.rootpath))
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
    """A check that killed its worker is reported once, as a crash; without this each replacement worker would
    run it (and die) again until the restart limit, and the target's other checks would never run."""
    pytest_compat.mark_crashed_item_done(sched, crashitem)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    for targets in state.targets.values():
        for target in targets:
            target.close()
    for stop in reversed(state.teardown):
        stop()


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    option = config.option
    if _is_worker(config) or option.collectonly or getattr(option, "showfixtures", False) \
            or getattr(option, "show_fixtures_per_test", False):
        return  # looking at the suite is not a run
    if config.stash[STATE].profile is not None:
        config.hook.pytest_healthgate_run_started(config=config)


@pytest.fixture(scope="session")
def healthgate_profile(pytestconfig: pytest.Config) -> Profile:
    """The active profile, for checks that need more than their own target."""
    profile = pytestconfig.stash[STATE].profile
    if profile is None:
        raise pytest.UsageError("no profile selected")
    return profile


# ----------------------------------------------------------------------------------------------- finish

def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


VERDICT = pytest.StashKey[gate_mod.Verdict]()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        return
    state = config.stash[STATE]
    if state.profile is None and not state.results:
        return
    run_failures = [problem for problems in config.hook.pytest_healthgate_finish_run(config=config)
                    for problem in problems]
    if state.profile is not None:
        from healthgate import run_outputs, waiver_review

        # An expired waiver blocks every run of the profile, whether or not its check ran, until it is renewed
        # or removed: a waiver must not be forgotten once its date has passed.
        expired = waiver_review.expired(state.profile, run_outputs.run_day(state))
        run_failures += [str(problem) for problem in expired]
    verdict = gate_mod.judge(state.results, config.getoption("hg_gate"), run_failures)
    config.stash[VERDICT] = verdict
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failed = bool(verdict.blocking) or bool(verdict.run_failures) or state.unclassified_failures > 0
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
    if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and config.getoption("hg_allow_empty"):
        session.exitstatus = pytest.ExitCode.OK
    from healthgate import allure_results, run_outputs

    try:
        run_outputs.write_outputs(config, state, verdict, int(session.exitstatus))
    except BaseException:
        # the outputs a scheduler reads are missing: whoever waits for the run's end must hear it failed
        config.hook.pytest_healthgate_run_finished(config=config, exitstatus=int(pytest.ExitCode.INTERNAL_ERROR))
        raise
    try:
        allure_results.finish_run(config, state)
    except OSError as exc:  # the gate's verdict stands even if the report's extras cannot be written
        import sys

        print(f"healthgate: could not complete the Allure results: {exc}", file=sys.stderr)
    config.hook.pytest_healthgate_run_finished(config=config, exitstatus=int(session.exitstatus))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config):
        return
    state = config.stash.get(STATE, None)
    if state is None or (state.profile is None and not state.results):
        return
    from healthgate import run_outputs

    verdict = config.stash.get(VERDICT, None) or gate_mod.judge(state.results, config.getoption("hg_gate"))
    lines = run_outputs.terminal_lines(state, verdict, allow_empty=config.getoption("hg_allow_empty"),
                                       markexpr=str(config.option.markexpr or ""))
    for line in lines:
        terminalreporter.write_line(line)
    results_dir = getattr(config.option, "allure_report_dir", None)
    if results_dir:
        terminalreporter.write_line(f"Allure results in {results_dir}: python -m healthgate report {results_dir}")
