"""The Allure results a run leaves: labels, links, evidence, run files, categories, history ids, and no secret."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from healthgate import allure_results, html_report, results
from healthgate.errors import AuthFailed, BadResponse, MissingPath, PermissionMissing, TargetDown, Unreachable
from tests.report.support import (
    SECRETS,
    attachments,
    closed_port,
    labels,
    load_results,
    write_project,
)

GITHUB = {
    "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9876543210", "GITHUB_RUN_NUMBER": "42", "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "ops/platform", "GITHUB_SHA": "c0ffee12",
    "GITHUB_WORKFLOW": "deploy", "GITHUB_JOB": "post-deploy",
}
GITLAB = {
    "GITLAB_CI": "true", "CI_PIPELINE_ID": "5501", "CI_PIPELINE_IID": "77", "CI_JOB_NAME": "daily-health",
    "CI_JOB_URL": "https://gitlab.example/ops/platform/-/jobs/900", "CI_PROJECT_URL": "https://gitlab.example/ops/platform",
    "CI_PROJECT_PATH": "ops/platform", "CI_COMMIT_SHA": "beefcafe",
}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--profile=profile.yaml", *args)


def categorise(categories: list[dict], result: dict) -> list[str]:
    """Allure 2's rule: status in matchedStatuses, and each regex matches the WHOLE message/trace."""
    details = result.get("statusDetails", {})
    names = []
    for category in categories:
        if result["status"] not in category.get("matchedStatuses", [result["status"]]):
            continue
        if "messageRegex" in category and not re.fullmatch(category["messageRegex"], details.get("message", "")):
            continue
        if "traceRegex" in category and not re.fullmatch(category["traceRegex"], details.get("trace", "")):
            continue
        names.append(category["name"])
    return names


@pytest.fixture
def post_deploy_run(pytester, echo_server, clean_env):
    for name, value in GITHUB.items():
        clean_env.setenv(name, value)
    write_project(pytester.path, echo_server.port, closed_port())
    result = run(pytester, "-m", "post_deploy", "--alluredir=results", "--junitxml=out/junit.xml",
                 "--summary-json=out/summary.json", "--metrics-textfile=out/metrics.prom")
    return result, pytester.path / "results"


def test_each_check_result_carries_phase_kind_target_severity_tags_and_runbook(post_deploy_run):
    outcome, results = post_deploy_run
    assert outcome.ret == 1
    found = load_results(results)
    assert set(found) == {f"test_health_endpoint[http:{t}]" for t in ("web", "api", "gone")}
    web = found["test_health_endpoint[http:web]"]
    assert (web["status"], found["test_health_endpoint[http:api]"]["status"],
            found["test_health_endpoint[http:gone]"]["status"]) == ("failed", "passed", "broken")
    got = labels(web)
    assert got["parentSuite"] == ["post_deploy"]
    assert got["suite"] == ["http"]
    assert got["subSuite"] == ["http:web"]
    assert got["severity"] == ["critical"]
    assert {"critical", "http", "post_deploy"} <= set(got["tag"])
    assert web["links"] == [{"type": "link", "name": "runbook",
                             "url": "https://github.example/ops/platform/blob/c0ffee12/docs/runbooks/http.md"
                                    "#health-endpoint"}]
    assert {"name": "target", "value": "'http:web'"} in web["parameters"]
    assert "status (503) == 200" in web["statusDetails"]["message"]
    assert web["description"] == "The health endpoint answers 200."


def test_evidence_is_attached_redacted_and_bounded(post_deploy_run):
    _, results = post_deploy_run
    web = load_results(results)["test_health_endpoint[http:web]"]
    evidence = attachments(results, web)
    assert evidence["observed"] == "FAIL status (503) == 200"
    assert evidence["request"].startswith("GET http://monitor:***@127.0.0.1:")
    assert evidence["response"].startswith("HTTP 503\n")
    assert '"seen_credentials": "monitor:***"' in evidence["response"], "the echoed password must be masked"
    observed = {p["name"]: p for p in web["parameters"]}["observed status"]
    assert (observed["value"], observed["excluded"]) == ("503", True)
    assert all(len(text) < 20_000 for text in evidence.values())


def test_no_output_of_the_run_contains_a_secret(post_deploy_run):
    outcome, results = post_deploy_run
    api = load_results(results)["test_health_endpoint[http:api]"]
    assert '"seen_credentials": "***"' in attachments(results, api)["response"], "the server did echo the token"
    scanned = [p for p in results.parent.rglob("*") if p.is_file() and "checks" not in p.parts]
    names = {p.name for p in scanned}
    assert {"junit.xml", "summary.json", "metrics.prom", "environment.properties", "executor.json"} <= names
    assert sum(1 for p in scanned if p.parent == results) >= 10, "results, containers and attachments"
    streams = {"stdout": outcome.stdout.str(), "stderr": outcome.stderr.str()}
    for path in scanned:
        if path.parent.name in ("results", "out"):
            streams[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    leaks = [(where, secret) for where, text in streams.items() for secret in SECRETS if secret in text]
    assert leaks == []
    summary = json.loads((results.parent / "out" / "summary.json").read_text())
    assert (summary["phase"], summary["counts"]["failed"], summary["counts"]["broken"]) == ("post_deploy", 1, 1)
    outcome.stdout.fnmatch_lines(["  phase(s)*kind*passed*", "  post_deploy *http *1 *1 *1 *0 *0"])


def test_run_files_describe_environment_executor_and_categories(post_deploy_run):
    _, results = post_deploy_run
    properties = dict(line.split("=", 1) for line in (results / "environment.properties").read_text().splitlines())
    assert properties["profile"] == "report-test"
    assert properties["phase"] == "post_deploy"
    assert properties["healthgate.version"] == allure_results.__version__
    assert properties["git.commit"] == "c0ffee12"
    assert properties["hostname"]
    executor = json.loads((results / "executor.json").read_text())
    assert executor == {
        "name": "GitHub Actions", "type": "github", "url": "https://github.example/ops/platform", "buildOrder": 42,
        "buildName": "deploy #42 (post-deploy)",
        "buildUrl": "https://github.example/ops/platform/actions/runs/9876543210/attempts/1",
    }
    categories = json.loads((results / "categories.json").read_text())
    found = load_results(results)
    assert categorise(categories, found["test_health_endpoint[http:web]"]) == ["Target unhealthy"]
    assert categorise(categories, found["test_health_endpoint[http:gone]"]) == [
        "Could not check: unreachable or timed out"]


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (Unreachable("GET https://app/health timed out (ReadTimeout)"), "Could not check: unreachable or timed out"),
        (TargetDown("redis:cache was found unreachable earlier in this run: refused"),
         "Could not check: unreachable or timed out"),
        (AuthFailed("redis:cache refused the credentials of user health"),
         "Could not check: credentials refused or privilege missing"),
        (PermissionMissing("needs pg_monitor", hint="GRANT pg_monitor TO healthgate"),
         "Could not check: credentials refused or privilege missing"),
        (BadResponse("https://app/health answered HTTP 200 with non-JSON"), "Could not check: unexpected answer"),
        (MissingPath("log directory /var/log/app does not exist on this host"), "Configuration error"),
        (KeyError("replication"), "Configuration error"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_categories_sort_broken_checks_by_their_error_class(error, category):
    """The category comes from the client's error class, as the plugin writes it into the report, not from
    matching words of a message (a timeout message that mentions a password is still a timeout)."""
    trace = results.report_text(str(error), severity="critical", runbook="docs/runbooks/x.md#y",
                                category=results.category_of(error))
    result = {"status": "broken", "statusDetails": {"message": f"{type(error).__name__}: {error}", "trace": trace}}
    assert categorise(allure_results.CATEGORIES, result) == [category]


def test_a_failed_check_is_a_target_unhealthy():
    result = {"status": "failed", "statusDetails": {
        "message": "Failed: postgres:main: replication_lag_s (42 s) <= 5 s", "trace": ""}}
    assert categorise(allure_results.CATEGORIES, result) == ["Target unhealthy"]


def test_history_ids_stay_the_same_across_runs_and_addresses(pytester, echo_server, clean_env):
    """Trends need the same id run after run; a target moved to another port is still the same target."""
    write_project(pytester.path, echo_server.port, closed_port())
    run(pytester, "-m", "pre_deploy", "--alluredir=first")
    from tests.report.support import EchoServer

    moved = EchoServer()
    try:
        write_project(pytester.path, moved.port, closed_port())
        run(pytester, "-m", "pre_deploy", "--alluredir=second")
    finally:
        moved.close()
    first, second = load_results(pytester.path / "first"), load_results(pytester.path / "second")
    assert len(first) == 6
    assert {n: r["historyId"] for n, r in first.items()} == {n: r["historyId"] for n, r in second.items()}
    assert len({r["historyId"] for r in first.values()}) == 6
    latency = first["test_latency[http:api]"]
    assert labels(latency)["parentSuite"] == ["pre_deploy"]
    assert labels(latency)["severity"] == ["normal"]
    assert "one sample only" in attachments(pytester.path / "first", latency)["warnings"]


def test_gitlab_run_under_xdist_writes_its_run_files_once_from_the_controller(pytester, echo_server, clean_env):
    for name, value in GITLAB.items():
        clean_env.setenv(name, value)
    write_project(pytester.path, echo_server.port, closed_port())
    outcome = run(pytester, "-m", "daily or post_deploy", "-n", "2", "--alluredir=results")
    results = pytester.path / "results"
    outcome.stdout.fnmatch_lines(["*Allure results in results: python -m healthgate report results*"])
    assert len(load_results(results)) == 6
    assert all(labels(r)["suite"] == ["http"] for r in load_results(results).values())
    executor = json.loads((results / "executor.json").read_text())
    assert (executor["type"], executor["buildOrder"], executor["buildUrl"], executor["buildName"]) == (
        "gitlab", 5501, "https://gitlab.example/ops/platform/-/jobs/900", "ops/platform #77 daily-health")
    properties = (results / "environment.properties").read_text()
    assert "phase=daily or post_deploy\n" in properties
    assert "git.commit=beefcafe\n" in properties
    web = load_results(results)["test_health_endpoint[http:web]"]
    assert web["links"][0]["url"] == "https://gitlab.example/ops/platform/-/blob/beefcafe/docs/runbooks/http.md" \
                                     "#health-endpoint"
    assert labels(web)["parentSuite"] == ["post_deploy, daily"]
    assert not list(results.glob(".*.tmp")), "no half-written files left behind"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BUILD_NUMBER": "12", "BUILD_URL": "https://ci/job/health/12/", "JOB_NAME": "health",
          "JENKINS_URL": "https://ci/"},
         {"name": "Jenkins", "type": "jenkins", "url": "https://ci/", "buildOrder": 12, "buildName": "health #12",
          "buildUrl": "https://ci/job/health/12/"}),
        ({"BUILD_NUMBER": "7"}, {"name": "CI", "type": "ci", "buildOrder": 7, "buildName": "build #7"}),
        ({}, None),
    ],
)
def test_executor_from_generic_ci_variables(env, expected):
    assert allure_results.executor_info(env) == expected


def test_runbook_links_open_from_the_report():
    assert allure_results.runbook_url("https://wiki/x#a", {"GITHUB_SHA": "1"}) == "https://wiki/x#a"
    assert allure_results.runbook_url("docs/runbooks/redis.md#ping", {}) == "docs/runbooks/redis.md#ping"


@pytest.mark.parametrize(
    ("markexpr", "expected"),
    [("", "pre_deploy, daily"), ("daily", "daily"), ("pre_deploy or daily", "pre_deploy, daily"),
     ("daily and not pre_deploy", "daily"), ("post_recovery", "pre_deploy, daily")],
)
def test_parent_suite_is_the_phase_the_run_selected(markexpr, expected):
    assert allure_results.phase_suite(("pre_deploy", "daily"), markexpr) == expected


def test_report_command_says_what_is_missing(tmp_path, monkeypatch, capsys):
    assert html_report.generate([tmp_path / "none"], tmp_path / "report") == 2
    assert "no Allure results in" in capsys.readouterr().err
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x-result.json").write_text("{}")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(html_report.ReportError, match=r"npm install allure-commandline"):
        html_report.find_allure(search_from=(tmp_path,))
    monkeypatch.setenv("PATH", str(Path(shutil.which("node") or "/usr/bin/node").parent))
    with pytest.raises(html_report.ReportError, match=r"Allure 3 is not installed: npm install allure@3"):
        html_report.find_allure3(search_from=(tmp_path,))
    assert html_report.generate([tmp_path / "results"], tmp_path / "r", generator="allure1") == 2
    assert "unknown generator 'allure1': choose one of allure3, allure2" in capsys.readouterr().err


def test_a_report_folder_that_is_not_a_report_is_never_emptied(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(html_report.ReportError, match="exists and is not a report"):
        html_report._clear_previous_report(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_tracker_allure3_puts_in_its_page_is_cut_or_the_report_refused(tmp_path):
    page = tmp_path / "index.html"
    page.write_text('<body>\n    <script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>\n'
                    "    <script>\n        window.dataLayer = window.dataLayer || [];\n        gtag('js');\n"
                    "    </script>\n    <script>app()</script>\n</body>")
    html_report._cut_tracker(page)
    assert "googletagmanager" not in page.read_text() and "<script>app()</script>" in page.read_text()
    page.write_text('<script src="https://www.googletagmanager.com/gtm.js"></script>')
    with pytest.raises(html_report.ReportError, match="loads a tracker healthgate could not remove"):
        html_report._cut_tracker(page)


SAMPLE_TRACES = {
    "Waived": "waived until 2030-01-01: r\ncould not check: x\n  severity: critical\n  category: waived\n"
              "  runbook: docs/runbooks/http.md#a",
    "Could not check: unreachable or timed out": "could not check: x\n  severity: critical\n  category: "
                                                 "unreachable\n  runbook: r",
    "Could not check: unexpected answer": "could not check: x\n  severity: critical\n  category: bad response\n"
                                          "  runbook: r",
}


@pytest.mark.parametrize("name", sorted(SAMPLE_TRACES))
def test_allure3_categories_match_the_same_traces_as_allure2s(name):
    """The same category line sorts a check into the same category under both generators: Allure 2's Java
    regex matches the whole trace, Allure 3's JavaScript one (no inline flags) searches it, here run by node."""
    trace = SAMPLE_TRACES[name]
    java = next(c["traceRegex"] for c in allure_results.CATEGORIES if c["name"] == name)
    assert re.fullmatch(java, trace)
    rules = allure_results.allure3_categories()
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to run Allure 3's matching (apt-get install nodejs)")
    script = ("const [rules, trace] = JSON.parse(process.argv[1]);"
              "const hit = rules.find(r => !r.matchers.trace || new RegExp(r.matchers.trace).test(trace));"
              "process.stdout.write(hit ? hit.name : '');")
    matched = subprocess.run([node, "-e", script, json.dumps([[r for r in rules if "trace" in r["matchers"]],
                                                               trace])],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert matched == name
    assert [r["name"] for r in rules][:2] == ["Waived", "Target unhealthy"], "Waived first: it wins over the rest"


def test_a_run_outside_ci_continues_the_trend_numbering(tmp_path):
    results = tmp_path / "results"
    (results / "history").mkdir(parents=True)
    (results / "history" / "history-trend.json").write_text(json.dumps([{"buildOrder": 4}, {"buildOrder": 3}]))
    html_report.number_the_build(results)
    assert json.loads((results / "executor.json").read_text())["buildOrder"] == 5
    ci = tmp_path / "ci"
    ci.mkdir()
    (ci / "executor.json").write_text(json.dumps({"type": "github", "buildOrder": 42}))
    html_report.number_the_build(ci)
    assert json.loads((ci / "executor.json").read_text()) == {"type": "github", "buildOrder": 42}


def test_the_sweep_masks_a_secret_a_library_let_through(tmp_path):
    from healthgate.redact import forget_secrets, register_secret

    register_secret("Sw33p-Me-0ut")
    try:
        (tmp_path / "a-result.json").write_text(json.dumps({"statusDetails": {"message": "x Sw33p-Me-0ut y"}}))
        (tmp_path / "b-attachment.txt").write_text("log: dsn=postgresql://u:Sw33p-Me-0ut@db/x")
        (tmp_path / "c-attachment.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
        assert allure_results.sweep_secrets(tmp_path, since=0) == 2
    finally:
        forget_secrets()
    assert "Sw33p" not in "".join(p.read_text(errors="replace") for p in Path(tmp_path).iterdir())
