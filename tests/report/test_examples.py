"""The deployment examples stay true to the suite: their files parse, every pytest option they pass exists, the
schedules are well formed, and the Dockerfile builds an image that runs a check."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest
import yaml

from healthgate.vocabulary import PHASES
from tests.report.support import TOKEN, EchoServer, repo_root

EXAMPLES = repo_root() / "examples"
IMAGE = "healthgate/suite-example:test"


@cache
def accepted_options(*command: str) -> frozenset[str]:
    """Every option a command's --help lists (run once per command, in the checkout, with our plugin loaded)."""
    done = subprocess.run([sys.executable, *command, "--help"], cwd=repo_root(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return frozenset(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", done.stdout))


def shell_commands(text: str) -> list[list[str]]:
    """Simple commands of a shell line, split on && ; | and newlines."""
    commands = []
    for part in re.split(r"&&|\|\||;|\n|(?<!\|)\|(?!\|)", text):
        words = shlex.split(part, comments=True)
        while words and re.match(r"^\w+=", words[0]):
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def pytest_argv(words: list[str]) -> list[str] | None:
    """The arguments given to pytest, whichever way it is started (pytest, /venv/bin/pytest, python -m pytest),
    with ``--option=value`` split into two words so options can be looked up by name."""
    for index, word in enumerate(words):
        if Path(word).name == "pytest":
            return _split_equals(words[index + 1:])
        if word == "-m" and index > 0 and Path(words[index - 1]).name.startswith("python") and \
                words[index + 1:index + 2] == ["pytest"]:
            return _split_equals(words[index + 2:])
    return None


def _split_equals(words: list[str]) -> list[str]:
    split: list[str] = []
    for word in words:
        split += word.split("=", 1) if word.startswith("--") and "=" in word else [word]
    return split


def check_pytest_args(argv: list[str], where: str) -> None:
    known = accepted_options("-m", "pytest")
    for index, arg in enumerate(argv):
        if arg.startswith("-") and not re.fullmatch(r"-\d+", arg):
            name = arg.split("=", 1)[0]
            assert name in known, f"{where}: pytest has no option {name}"
        if arg == "-m":
            words = set(re.findall(r"\w+", argv[index + 1])) - {"and", "or", "not"}
            assert words <= set(PHASES), f"{where}: -m {argv[index + 1]!r} names no phase marker"


def yaml_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".yml", ".yaml"))


def ci_scripts(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    scripts: list[str] = []
    if "jobs" in data:  # GitHub Actions
        for job in data["jobs"].values():
            scripts += [step["run"] for step in job.get("steps", []) if "run" in step]
    else:  # GitLab CI
        for job in data.values():
            if isinstance(job, dict):
                for key in ("before_script", "script"):
                    scripts += job.get(key, [])
    return scripts


def test_there_is_an_example_for_each_way_of_running():
    names = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.is_file()}
    assert {"github/deploy-gate.yml", "gitlab/gitlab-ci.yml", "cron/healthgate.crontab",
            "systemd/healthgate-daily.service", "systemd/healthgate-daily.timer", "kubernetes/cronjob.yaml",
            "docker/Dockerfile", "prometheus/prometheus.yml"} <= names


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_yaml_parses(path):
    documents = list(yaml.safe_load_all(path.read_text()))
    assert documents and all(isinstance(document, dict) for document in documents)


@pytest.mark.parametrize("name", ["github/deploy-gate.yml", "gitlab/gitlab-ci.yml"])
def test_ci_gates_run_pre_and_post_deploy_with_options_that_exist_and_keep_the_results(name):
    path = EXAMPLES / name
    runs = [argv for script in ci_scripts(path) for words in shell_commands(script)
            if (argv := pytest_argv(words)) is not None]
    phases = [argv[argv.index("-m") + 1] for argv in runs]
    assert {"pre_deploy", "post_deploy"} <= set(phases)
    for argv in runs:
        check_pytest_args(argv, name)
        assert "--alluredir" in argv, f"{name}: every gate keeps its Allure results"
    reports = [words for script in ci_scripts(path) for words in shell_commands(script) if "healthgate" in words]
    assert reports, f"{name}: the report is generated"
    report_options = accepted_options("-m", "healthgate", "report")
    for words in reports:
        assert all(w.split("=")[0] in report_options for w in words if w.startswith("-") and w != "-m")
    text = path.read_text()
    # the report's default generator, Allure 3: Node only, no Java on the report job
    assert "allure-results" in text and "npm install --no-save allure@3." in text
    assert "--generator" not in " ".join(w for words in reports for w in words)


def test_github_workflow_orders_the_gates_around_the_deploy():
    jobs = yaml.safe_load((EXAMPLES / "github/deploy-gate.yml").read_text())["jobs"]
    assert jobs["deploy"]["needs"] == "pre-deploy"
    assert jobs["post-deploy"]["needs"] == "deploy"
    assert jobs["report"]["if"] == "always()"


def test_gitlab_pipeline_orders_the_gates_around_the_deploy():
    pipeline = yaml.safe_load((EXAMPLES / "gitlab/gitlab-ci.yml").read_text())
    stages = pipeline["stages"]
    order = {job: stages.index(spec["stage"]) for job, spec in pipeline.items() if isinstance(spec, dict)
             and "stage" in spec}
    assert order["pre-deploy gate"] < order["deploy"] < order["post-deploy gate"] < order["allure report"]


def says_how_a_stopped_run_is_noticed(text: str, where: str) -> None:
    """Each scheduled example names both watchers of a run that no longer happens: the profile's heartbeat (its URL
    from the environment, a secret) and the shipped alert rules on the metrics the run writes."""
    __tracebackhide__ = True
    assert "heartbeat: ${HEALTHCHECK_URL}" in text and "HEALTHCHECK_URL=" in text, f"{where}: no heartbeat"
    assert "healthgate/alerts/healthgate-rules.yml" in text, f"{where}: no alert rules"
    assert (repo_root() / "healthgate/alerts/healthgate-rules.yml").is_file()


def test_crontab_line_has_five_time_fields_and_a_daily_run():
    lines = [line for line in (EXAMPLES / "cron/healthgate.crontab").read_text().splitlines()
             if line.strip() and not line.startswith("#") and not re.match(r"^\w+=", line)]
    assert len(lines) == 1
    fields = lines[0].split()
    field = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*"
    assert all(re.fullmatch(field, f) for f in fields[:5]), fields[:5]
    assert not re.fullmatch(field, fields[5]), "a user crontab line has no user field"
    argv = next(a for words in shell_commands(" ".join(fields[5:])) if (a := pytest_argv(words)) is not None)
    check_pytest_args(argv, "crontab")
    assert argv[argv.index("-m") + 1] == "daily"
    assert "--summary-json" in argv
    assert Path(argv[argv.index("--metrics-textfile") + 1]).parent == Path("/var/lib/prometheus/node-exporter")
    says_how_a_stopped_run_is_noticed((EXAMPLES / "cron/healthgate.crontab").read_text(), "crontab")


def systemd_unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_systemd_service_and_timer():
    service = systemd_unit(EXAMPLES / "systemd/healthgate-daily.service")
    timer = systemd_unit(EXAMPLES / "systemd/healthgate-daily.timer")
    assert service["Unit"]["Description"] and service["Service"]["Type"] == "oneshot"
    argv = pytest_argv(shlex.split(service["Service"]["ExecStart"]))
    assert argv is not None
    check_pytest_args(argv, "systemd service")
    assert argv[argv.index("-m") + 1] == "daily" and "--summary-json" in argv and "--metrics-textfile" in argv
    assert Path(argv[argv.index("--metrics-textfile") + 1]).parent == Path("/var/lib/prometheus/node-exporter")
    says_how_a_stopped_run_is_noticed((EXAMPLES / "systemd/healthgate-daily.service").read_text(), "systemd")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Unit"] == "healthgate-daily.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):
        done = subprocess.run(["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr


def test_kubernetes_cronjob_runs_the_daily_check_from_the_image_and_pushes_its_metrics():
    text = (EXAMPLES / "kubernetes/cronjob.yaml").read_text()
    job = yaml.safe_load(text)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    assert len(job["spec"]["schedule"].split()) == 5
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["command"] == ["/bin/sh", "-c"]
    commands = shell_commands(container["args"][0])
    argv = next(a for words in commands if (a := pytest_argv(words)) is not None)
    check_pytest_args(argv, "cronjob")
    assert argv[argv.index("-m") + 1] == "daily"
    metrics = argv[argv.index("--metrics-textfile") + 1]
    push = next(words for words in commands if words[:4] == ["python", "-m", "healthgate", "push-metrics"])
    assert push[4:] == [metrics, "$PUSHGATEWAY_URL"], "the file the run wrote is pushed"
    script = container["args"][0]
    assert commands[-1] == ["exit", "$status"] and script.index("status=$?") < script.index("push-metrics"), \
        "the Job ends with the run's status, kept before the push"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(mounts) == {v["name"] for v in pod["volumes"]}
    assert Path(metrics).parent == Path(mounts["results"]), "kept on the volume: the next run counts on from it"
    assert "PUSHGATEWAY_URL=" in text
    says_how_a_stopped_run_is_noticed(text, "cronjob")


def test_prometheus_example_loads_the_shipped_rules_and_passes_promtool(tmp_path):
    if shutil.which("promtool") is None:
        pytest.fail("promtool is needed to check the Prometheus example: apt-get install -y prometheus (.ci/setup)")
    shutil.copy(EXAMPLES / "prometheus/prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(repo_root() / "healthgate/alerts/healthgate-rules.yml", tmp_path / "healthgate-rules.yml")
    done = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout
    jobs = {job["job_name"]: job for job in yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (EXAMPLES / "docker/Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_is_portable_and_runs_pytest():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "debian:bookworm-slim")
    entrypoint = [json.loads(v) for k, v in instructions if k == "ENTRYPOINT"]
    cmd = [json.loads(v) for k, v in instructions if k == "CMD"]
    assert entrypoint == [["pytest"]]
    check_pytest_args(cmd[0], "Dockerfile CMD")
    assert any(k == "USER" and v.strip() != "root" for k, v in instructions)


def build_context(target: Path) -> Path:
    """The files the Dockerfile copies, and nothing else (the checkout also holds node_modules, build output);
    returns the Dockerfile's path in it."""
    root = repo_root()
    target.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "conftest.py"):
        shutil.copy2(root / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info", ".mypy_cache")
    for name in ("healthgate", "checks", "profiles", "docs/runbooks"):
        if (root / name).is_dir():
            shutil.copytree(root / name, target / name, ignore=ignore)
        else:
            (target / name).mkdir(parents=True)
    docker_dir = target / "examples" / "docker"
    shutil.copytree(EXAMPLES / "docker", docker_dir)
    # this machine reaches PyPI through a TLS-intercepting proxy: its CAs go where the Dockerfile looks for them
    for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy2(cert, docker_dir / "ca" / cert.name)
    return docker_dir / "Dockerfile"


def test_the_image_builds_and_its_suite_checks_a_service(tmp_path):
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("docker is needed to build examples/docker/Dockerfile (see .ci/setup)")
    dockerfile = build_context(tmp_path / "context")
    started = time.monotonic()
    built = subprocess.run(["docker", "build", "--network", "host", "-f", str(dockerfile), "-t", IMAGE,
                            str(tmp_path / "context")], capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    size = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE], capture_output=True, text=True,
                          check=True).stdout.strip()
    print(f"image built in {time.monotonic() - started:.1f}s, {int(size) / 1e6:.0f} MB")
    server = EchoServer()
    try:
        profile_dir = tmp_path / "profile"
        profile_dir.mkdir(mode=0o755)
        profile_dir.chmod(0o755)
        (profile_dir / "example.yaml").write_text(
            "name: example\ntargets:\n  http:\n"
            f"    api: {{url: 'http://127.0.0.1:{server.port}', token: '${{HG_TEST_TOKEN}}'}}\n")
        (profile_dir / "example.yaml").chmod(0o644)
        started = time.monotonic()
        ran = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", "-e", f"HG_TEST_TOKEN={TOKEN}",
             "-v", f"{profile_dir}:/etc/healthgate:ro", IMAGE,
             "-m", "post_deploy", "-k", "test_health_endpoint", "--profile=/etc/healthgate/example.yaml"],
            capture_output=True, text=True, timeout=300, check=False)
        print(f"container ran the check in {time.monotonic() - started:.1f}s")
    finally:
        server.close()
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "GATE GREEN" in ran.stdout
    assert server.hits >= 1
    assert TOKEN not in ran.stdout + ran.stderr
