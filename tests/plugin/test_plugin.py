"""The plugin as a user runs it: options, ids, markers, messages and exit codes, on real local servers."""

from __future__ import annotations

import json
import textwrap

import pytest

CHECKS = '''
from healthgate.check import ALL, DAILY, POST, PRE, check
from healthgate.expect import expect


@check(phases=ALL, severity="critical")
def test_health_endpoint(http):
    """health answers 200"""
    response = http.client.get("/health")
    expect(http, "status", response.status, "==", 200, hint="restart the service")


@check(phases=(DAILY,), severity="warning")
def test_soft(http):
    """a warning-level check on the same endpoint"""
    response = http.client.get("/health")
    expect(http, "status", response.status, "==", 200)


@check(phases=(PRE,), severity="critical")
def test_pre_only(http):
    """runs before a deploy only"""
    http.client.get("/health")
'''


def run(pytester, *args):
    """Each run in its own interpreter, as a user's would be: no state or imports leak between runs."""
    return pytester.runpytest_subprocess(*args)


def setup(pytester, profile: str, checks: str = CHECKS) -> None:
    pytester.makefile(".yaml", profile=textwrap.dedent(profile))
    pytester.mkdir("checks")
    pytester.path.joinpath("checks", "test_demo.py").write_text(checks)
    pytester.makeini("[pytest]\ntestpaths = checks\naddopts = --strict-markers -p no:cacheprovider\n")


def profile_for(url: str, extra: str = "") -> str:
    return f"""
        name: unit
        timeouts: {{connect: 1s, read: 1s}}
        targets:
          http:
            web: {{url: "{url}"}}
        {extra}
        """


def test_ids_name_the_target_and_markers_select_the_phase(pytester, http_server):
    setup(pytester, profile_for(http_server.url))
    result = run(pytester, "--profile=profile.yaml", "-m", "daily", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["checks/test_demo.py::test_health_endpoint[[]http:web[]]",
                                 "checks/test_demo.py::test_soft[[]http:web[]]", "*2/3 tests collected*"])
    assert http_server.hits == 0, "collection must never touch a target"


def test_a_health_run_sheds_the_test_only_plugins_a_development_install_loads(pytester, http_server):
    pytest.importorskip("_hypothesis_pytestplugin")
    seen: list[object] = []

    class Probe:
        def pytest_configure(self, config):
            seen.append(config.pluginmanager.get_plugin("hypothesispytest"))

    setup(pytester, profile_for(http_server.url))
    pytester.runpytest_inprocess("--profile=profile.yaml", "-m", "daily", "--collect-only", plugins=[Probe()])
    pytester.runpytest_inprocess("--co", "-q", "tests_of_its_own.py", plugins=[Probe()])  # not a health run
    assert seen[0] is None
    assert seen[1] is not None


def test_healthy_target_passes_and_the_gate_is_green(pytester, http_server):
    setup(pytester, profile_for(http_server.url))
    result = run(pytester, "--profile=profile.yaml", "-m", "daily")
    result.stdout.fnmatch_lines(["*GATE GREEN (critical gate): 2 check(s) evaluated, none blocking*"])
    assert result.ret == 0


def test_unhealthy_target_fails_with_a_runbook_grade_message(pytester, http_server):
    http_server.answers = [503]
    setup(pytester, profile_for(http_server.url))
    result = run(pytester, "--profile=profile.yaml", "-m", "post_deploy")
    result.stdout.fnmatch_lines([
        "http:web: status (503) == 200 — restart the service",
        "  severity: critical",
        "  runbook: docs/runbooks/http.md#health-endpoint",
        "*GATE RED (critical gate): 1 blocking check(s) failed: test_health_endpoint[[]http:web[]]*",
    ])
    assert result.ret == 1


def test_a_failing_warning_is_let_through_by_default_and_blocks_with_gate_warning(pytester, http_server):
    http_server.answers = [503]
    profile = profile_for(http_server.url, "checks: {test_health_endpoint: {severity: warning}}")
    setup(pytester, profile)
    result = run(pytester, "--profile=profile.yaml", "-m", "daily")
    result.stdout.fnmatch_lines(["*warning let through: test_health_endpoint[[]http:web[]]*",
                                 "*GATE GREEN (critical gate)*2 warning(s) let through*"])
    assert result.ret == 0
    strict = run(pytester, "--profile=profile.yaml", "-m", "daily", "--gate=warning")
    strict.stdout.fnmatch_lines(["*GATE RED (warning gate): 2 blocking*"])
    assert strict.ret == 1


def test_nothing_selected_is_a_failure_unless_allowed(pytester, http_server):
    setup(pytester, profile_for(http_server.url))
    assert run(pytester, "--profile=profile.yaml", "-m", "restore_drill").ret == 5
    allowed = run(pytester, "--profile=profile.yaml", "-m", "restore_drill", "--allow-empty")
    assert allowed.ret == 0


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("targets:\n  http:\n    web: {url: x, typo: 1}\n", "*profile.yaml:3: targets.http.web.typo: unknown key*"),
        ("targets:\n  http:\n    web: {url: '${NOPE_UNSET}'}\n", "*environment variable NOPE_UNSET is not set*"),
        ("targets:\n  http:\n    web: {url: x, checks: {test_nope: {enabled: false}}}\n",
         "*targets.http.web.checks.test_nope: no http check of that name*"),
    ],
)
def test_a_bad_profile_is_a_usage_error_before_any_check(pytester, profile, message):
    setup(pytester, profile)
    result = run(pytester, "--profile=profile.yaml", "-m", "daily")
    result.stderr.fnmatch_lines([message])
    assert result.ret == 4


def test_missing_profile_and_no_profile_are_usage_errors(pytester):
    setup(pytester, "targets: {}\n")
    missing = run(pytester, "--profile=nothere", "-m", "daily")
    missing.stderr.fnmatch_lines(["*no profile named 'nothere'*"])
    assert missing.ret == 4
    none = run(pytester, "-m", "daily")
    none.stderr.fnmatch_lines(["*no profile selected: pass --profile NAME*"])
    assert none.ret == 4


def test_profile_comes_from_the_environment_for_cron(pytester, http_server, monkeypatch):
    setup(pytester, profile_for(http_server.url))
    monkeypatch.setenv("HEALTHGATE_PROFILE", str(pytester.path / "profile.yaml"))
    assert run(pytester, "-m", "daily").ret == 0


def test_profile_can_move_a_check_between_phases_and_disable_one(pytester, http_server):
    profile = profile_for(http_server.url, "checks: {test_pre_only: {phases: [daily]}, test_soft: {enabled: false}}")
    setup(pytester, profile)
    result = run(pytester, "--profile=profile.yaml", "-m", "daily", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_health_endpoint[[]http:web[]]", "*test_pre_only[[]http:web[]]",
                                 "*2/3 tests collected*"])


def test_eventually_retries_until_the_target_is_healthy(pytester, http_server):
    http_server.answers = [503, 503, 503, 200]
    profile = profile_for(http_server.url, "checks: {test_health_endpoint: {eventually: {within: 10s, every: 50ms}}}")
    setup(pytester, profile)
    result = run(pytester, "--profile=profile.yaml", "-m", "post_deploy", "--junitxml=out.xml",
                 "--summary-json=s.json")
    assert result.ret == 0
    assert http_server.hits == 4
    result.stdout.fnmatch_lines(["*waited: test_health_endpoint[[]http:web[]] passed after *s and 4 attempt(s)*"])
    assert "passed after" in (pytester.path / "out.xml").read_text()
    waited = json.loads((pytester.path / "s.json").read_text())["waited"]
    assert [(w["check"], w["status"]) for w in waited] == [("test_health_endpoint", "passed")]


def test_eventually_gives_up_at_its_deadline_and_says_so(pytester, http_server):
    http_server.answers = [503]
    policy = "checks: {test_health_endpoint: {eventually: {within: 1s, every: 100ms}}}"
    profile = profile_for(http_server.url, policy)
    setup(pytester, profile)
    result = run(pytester, "--profile=profile.yaml", "-m", "post_deploy")
    result.stdout.fnmatch_lines(["*status (503) == 200*still failing after*attempts)*"])
    assert result.ret == 1
    assert 2 <= http_server.hits <= 11


def test_a_black_holed_target_costs_one_connection_not_one_per_check(pytester, black_hole):
    setup(pytester, profile_for(black_hole.url))
    result = run(pytester, "--profile=profile.yaml", "-m", "daily or pre_deploy", "-p", "no:randomly")
    result.stdout.fnmatch_lines([
        "*could not check: GET http://127.0.0.1:*/health timed out*",
        "*was found unreachable earlier in this run*",
    ])
    assert result.ret == 1
    assert black_hole.accepted == 1


def test_summary_json_and_metrics_textfile_describe_the_run(pytester, http_server):
    http_server.answers = [503]
    setup(pytester, profile_for(http_server.url))
    run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--summary-json=out/s.json",
                       "--metrics-textfile=out/m.prom")
    summary = json.loads((pytester.path / "out/s.json").read_text())
    assert (summary["verdict"], summary["counts"]["failed"], summary["failed"][0]["target"],
            summary["failed"][0]["observed"], summary["failed"][0]["expected"]) == ("fail", 1, "http:web", "503",
                                                                                   "== 200")
    metrics = (pytester.path / "out/m.prom").read_text()
    assert 'healthgate_check_success{check="test_health_endpoint",target="http:web"' in metrics
    assert "healthgate_run_success{profile=\"unit\"} 0" in metrics


def test_checks_run_under_xdist_with_the_same_verdict(pytester, http_server):
    http_server.answers = [503]
    setup(pytester, profile_for(http_server.url))
    result = run(pytester, "--profile=profile.yaml", "-m", "daily", "-n", "2")
    result.stdout.fnmatch_lines(["*warning let through: test_soft[[]http:web[]]*",
                                 "*GATE RED (critical gate): 1 blocking*"])
    assert result.ret == 1


def test_an_overlapping_run_on_the_same_outputs_is_refused_with_a_clear_message(pytester, http_server):
    from healthgate.runlock import RunLock

    setup(pytester, profile_for(http_server.url))
    first_run = RunLock([pytester.path / "out" / "s.json"])  # holds the lock as a still-running first run would
    first_run.acquire()
    try:
        second = run(pytester, "--profile=profile.yaml", "-m", "daily", "--summary-json=out/s.json")
        second.stderr.fnmatch_lines(["*another healthgate run is writing to*pid *; wait for it to finish*"])
        assert second.ret == 4
        assert not (pytester.path / "out" / "s.json").exists()
    finally:
        first_run.release()
    assert run(pytester, "--profile=profile.yaml", "-m", "daily", "--summary-json=out/s.json").ret == 0


KILLER = CHECKS + '''

@check(phases=(DAILY,), severity="critical")
def test_kills_its_worker(http):
    """stands for a worker process dying mid-check (OOM killer, segfault in a driver)"""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_worker_killed_mid_run_leaves_every_check_with_an_outcome_and_the_gate_red(pytester, http_server):
    setup(pytester, profile_for(http_server.url), checks=KILLER)
    result = run(pytester, "--profile=profile.yaml", "-m", "daily", "-n", "2", "--summary-json=s.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*worker*crashed*", "*1 failed, 2 passed*"])
    summary = json.loads((pytester.path / "s.json").read_text())
    assert summary["verdict"] == "fail"


def test_a_connection_reset_is_a_clear_could_not_check_and_the_run_finishes(pytester, resetter):
    setup(pytester, profile_for(resetter.url))
    result = run(pytester, "--profile=profile.yaml", "-m", "daily or pre_deploy", "--summary-json=s.json")
    result.stdout.fnmatch_lines(["*could not check: GET http://127.0.0.1:*/health failed: *Error*",
                                 "*GATE RED (critical gate)*"])
    assert result.ret == 1
    summary = json.loads((pytester.path / "s.json").read_text())
    assert summary["counts"]["broken"] == 3 and resetter.accepted == 1


def test_a_profile_path_given_as_two_words_outside_the_checkout_is_refused_with_the_fix(pytester, http_server,
                                                                                       tmp_path_factory):
    setup(pytester, "targets: {}\n")
    elsewhere = tmp_path_factory.mktemp("etc") / "prod.yaml"
    elsewhere.write_text(textwrap.dedent(profile_for(http_server.url)))
    result = run(pytester, "-m", "daily", "--profile", str(elsewhere))
    result.stderr.fnmatch_lines([f"*write --profile={elsewhere} (with '=')*"])
    assert result.ret == 4
    assert run(pytester, "-m", "daily", f"--profile={elsewhere}").ret == 0


RECORDER = '''
import pytest
from healthgate.run_state import ITEM


def pytest_healthgate_check_observed(item, failed):
    with open("observed.txt", "a") as out:
        out.write(f"{item.name} {item.stash[ITEM].target._client is None}\\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    result = yield
    info = item.stash.get(ITEM, None)
    with open("closed.txt", "a") as out:
        out.write(f"{item.name} {info.target._client is None}\\n")
    return result
'''


def test_a_targets_connection_is_closed_after_its_last_selected_check(pytester, http_server):
    setup(pytester, profile_for(http_server.url))
    pytester.path.joinpath("checks", "conftest.py").write_text(RECORDER)
    assert run(pytester, "--profile=profile.yaml", "-m", "daily", "-p", "no:randomly").ret == 0
    # observed ahead, in the target's own thread: open after each check, the next one still needs it
    assert (pytester.path / "observed.txt").read_text().splitlines() == [
        "test_health_endpoint[http:web] False",
        "test_soft[http:web] False",
    ]
    # closed by the time the last daily check of http:web is reported (test_pre_only is not selected)
    assert (pytester.path / "closed.txt").read_text().splitlines()[-1] == "test_soft[http:web] True"


WORKERS = '''
import os
import pytest
from healthgate.run_state import ITEM


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    result = yield
    with open("workers.txt", "a") as out:
        out.write(f"{item.stash[ITEM].target.id} {os.environ.get('PYTEST_XDIST_WORKER')}\\n")
    return result
'''


def test_under_xdist_each_targets_checks_stay_on_one_worker(pytester, http_server):
    targets = "\n".join(f'            {name}: {{url: "{http_server.url}"}}' for name in ("a", "b", "c", "d"))
    setup(pytester, f"name: spread\ntargets:\n  http:\n{textwrap.indent(textwrap.dedent(targets), '    ')}\n")
    pytester.path.joinpath("checks", "conftest.py").write_text(WORKERS)
    assert run(pytester, "--profile=profile.yaml", "-m", "daily or pre_deploy", "-n", "2").ret == 0
    seen: dict[str, set[str]] = {}
    for line in (pytester.path / "workers.txt").read_text().splitlines():
        target, worker = line.split()
        seen.setdefault(target, set()).add(worker)
    assert sorted(seen) == ["http:a", "http:b", "http:c", "http:d"]
    assert all(len(workers) == 1 for workers in seen.values()), seen
    assert len(set().union(*seen.values())) == 2, "both workers took targets"
