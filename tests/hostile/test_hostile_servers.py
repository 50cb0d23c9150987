"""The daily checks pointed at servers that misbehave on purpose, run the way cron runs them.

One ``pytest -m daily --profile=…`` subprocess per kind, every misbehaviour a target of its own, all runs at once.
For every target: each collected check has an outcome, the target costs a bounded time whatever its server does,
a check that could not look says what came back (never a Python exception's name), and no hostile answer lets
the gate pass. A last run checks that secrets an error page echoes back reach no output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import server as hostile

ROOT = Path(__file__).resolve().parents[2]
CONNECT_S, READ_S = 1.0, 2.0
BUDGET_S = CONNECT_S + READ_S  # the whole-request deadline the profile implies
# A hang guard, not a benchmark: a target may pay its deadline about twice (a check, then the sampler's requests in
# flight), plus interpreter and scheduling noise on a busy machine.
TARGET_BOUND_S = 2 * BUDGET_S + 4
STARTUP_BOUND_S = 40
RAW_EXCEPTION = re.compile(r"\b(DecodingError|RecursionError|AttributeError|KeyError|TypeError|IndexError|"
                           r"ValueError|JSONDecodeError|Traceback)\b")

DRIP = "no complete answer within 3s (connect 1s / read 2s)"
TRANSPORT = {
    "header_drip": (hostile.header_drip, DRIP + "; received "),
    "body_drip": (hostile.body_drip, DRIP + "; received HTTP 200 and "),
    "random_bytes": (hostile.random_bytes, "answered something that is not HTTP (4096 bytes): b"),
    "lying_length": (hostile.lying_length, "timed out (ReadTimeout, connect 1s / read 2s) after HTTP 200 and 16 "
                                           "bytes of body"),
    "endless_chunked": (hostile.endless_chunked, DRIP + "; received HTTP 200 and "),
    "gzip_garbage": (hostile.gzip_garbage, "answered HTTP 200 with a body that does not decode as its "
                                           "Content-Encoding 'gzip' says"),
    "deep_json": (hostile.deep_json, "with JSON nested too deep to read: '[[[["),
}
SHAPES = {
    "shape_list": (hostile.json_everywhere([{"a": 1}, "b", None]), "unexpected answer: "),
    "shape_null": (hostile.json_everywhere(None), "unexpected answer: "),
    "shape_string": (hostile.json_everywhere("ok"), "unexpected answer: "),
    "shape_wrong_types": (hostile.json_everywhere(hostile.WRONG_TYPES), "unexpected answer: "),
}
ALERTMANAGER = {
    "state_firing": (hostile.alertmanager_listing(hostile.alert("firing")),
                     "[state 'firing' not understood; treated as firing]"),
    "state_null": (hostile.alertmanager_listing(hostile.alert(None)), "[state null not understood; treated as firing]"),
    "state_number": (hostile.alertmanager_listing(hostile.alert(3)), "[state '3' not understood; treated as firing]"),
    "suppressed_by_nothing": (hostile.alertmanager_listing(hostile.alert("suppressed")),
                              "[state 'suppressed' but no silence, inhibiting alert or time interval named; treated "
                              "as firing]"),
    "annotations_list": (hostile.alertmanager_listing(hostile.alert("active", annotations=["disk", "full"])),
                         "/api/v2/alerts: unexpected answer: annotations is not an object"),
}
HTTP_SHAPES = {
    "shape_list": (hostile.json_everywhere([{"a": 1}]), "health payload has no field 'status'"),
    "shape_null": (hostile.json_everywhere(None), "health payload has no field 'status'"),
    "shape_wrong_types": (hostile.json_everywhere(hostile.WRONG_TYPES), "status (['success']) == ok"),
}
TLS = {
    "tls_drip": (hostile.tls_drip, "TLS handshake with 127.0.0.1:"),
    "tls_random": (hostile.tls_random, "TLS handshake with 127.0.0.1:"),
    "silent_http": (hostile.deep_json, "TLS handshake with 127.0.0.1:"),  # waits for a request that never comes
}
CASES: dict[str, dict[str, tuple[hostile.Behaviour, str]]] = {
    "http": {**TRANSPORT, **HTTP_SHAPES},
    "prometheus": {**TRANSPORT, **SHAPES},
    "alertmanager": {**TRANSPORT, **SHAPES, **ALERTMANAGER},
    "opensearch": {**TRANSPORT, **SHAPES},
    "tls": TLS,
}
SETTINGS = {
    "http": "health: {expect_json: {status: ok}}, latency: {samples: 8, concurrency: 4}",
    "prometheus": "expect_rules: [ServiceDown], expectations: [{name: up, query: up, op: '>=', threshold: 1}]",
    "alertmanager": "",
    "opensearch": "snapshots: {}",
}
TOKEN, API_KEY = "lit-Token-7f3a9c21", "lit-ApiKey-5d2e8b44"


@dataclass
class Run:
    kind: str
    returncode: int | None  # None: killed after the subprocess timeout
    wall: float
    output: str
    selected: int  # checks pytest selected with -m daily, as its header line says
    results: dict[str, tuple[str, float, str]]  # test id → (outcome, seconds, message)
    summary: dict[str, Any]
    files: str  # summary JSON and JUnit XML as written

    def of(self, target: str) -> dict[str, tuple[str, float, str]]:
        return {test: result for test, result in self.results.items() if test.endswith(f"[{target}]")}


def profile(kind: str, servers: hostile.HostileServers, names: list[str], extra: str = "") -> str:
    lines = [f"name: hostile-{kind}", f"timeouts: {{connect: {CONNECT_S:g}s, read: {READ_S:g}s}}", "targets:",
             f"  {kind}:"]
    for name in names:
        port = servers.ports[f"{kind}/{name}"]
        if kind == "tls":
            lines.append(f"    {name}: {{host: 127.0.0.1, port: {port}}}")
        else:
            settings = ", ".join(s for s in (f'url: "http://127.0.0.1:{port}"', SETTINGS[kind], extra) if s)
            lines.append(f"    {name}: {{{settings}}}")
    return "\n".join(lines) + "\n"


def pytest_command(path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", f"--profile={path}", "-m", "daily", f"--rootdir={ROOT}", "-p",
            "no:randomly", "-p", "no:cacheprovider", *args, str(ROOT / "checks")]


def start(directory: Path, text: str) -> tuple[subprocess.Popen[str], float]:
    directory.mkdir()
    path = directory / "profile.yaml"
    path.write_text(text)
    run = subprocess.Popen(pytest_command(path, "-v", f"--summary-json={directory}/summary.json",
                                          f"--junitxml={directory}/junit.xml"),
                           cwd=directory, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return run, time.monotonic()


def finish(kind: str, directory: Path, run: subprocess.Popen[str], started: float, timeout: float) -> Run:
    try:
        output, _ = run.communicate(timeout=max(1.0, started + timeout - time.monotonic()))
        returncode: int | None = run.returncode
    except subprocess.TimeoutExpired:
        run.kill()
        output, _ = run.communicate()
        returncode = None
    wall = time.monotonic() - started
    header = re.search(r"collected (\d+) items?(?: / \d+ deselected / (\d+) selected)?", output)
    selected = int(header.group(2) or header.group(1)) if header else 0
    results: dict[str, tuple[str, float, str]] = {}
    junit = directory / "junit.xml"
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome, message = "passed", ""
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome, message = child.tag, child.get("message", "")
            results[case.get("name", "")] = (outcome, float(case.get("time", 0)), message)
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    files = "".join(p.read_text() for p in (summary_path, junit) if p.exists())
    return Run(kind, returncode, wall, output, selected, results, summary, files)


@pytest.fixture(scope="module")
def servers():
    behaviours = {f"{kind}/{name}": behaviour for kind, cases in CASES.items()
                  for name, (behaviour, _) in cases.items()}
    behaviours.update({f"{kind}/echo": hostile.echo_secrets for kind in ("http", "prometheus", "alertmanager")})
    with hostile.HostileServers(behaviours) as running:
        yield running


@pytest.fixture(scope="module")
def runs(servers, tmp_path_factory) -> dict[str, Run]:
    """Every kind's run, started together (they mostly wait on their servers), each with its own time limit."""
    base = tmp_path_factory.mktemp("hostile")
    profiles = {kind: (profile(kind, servers, list(cases)), len(cases)) for kind, cases in CASES.items()}
    echoing = ("http", "prometheus", "alertmanager")
    profiles["echo"] = ("name: hostile-echo\ntimeouts: {connect: 1s, read: 2s}\ntargets:\n" + "".join(
        f'  {kind}:\n    echo: {{url: "{servers.url(f"{kind}/echo")}", token: {TOKEN}, '
        f"headers: {{X-Api-Key: {API_KEY}}}}}\n" for kind in echoing), len(echoing))
    started = {kind: start(base / kind, text) for kind, (text, _) in profiles.items()}
    return {kind: finish(kind, base / kind, *started[kind], timeout=STARTUP_BOUND_S + TARGET_BOUND_S * targets)
            for kind, (_, targets) in profiles.items()}


def case_ids() -> list[tuple[str, str]]:
    return [(kind, name) for kind, cases in CASES.items() for name in cases]


def test_every_run_ends_red_and_in_bounded_time(runs: dict[str, Run]) -> None:
    for kind, run in runs.items():
        print(f"{kind}: exit {run.returncode} in {run.wall:.1f}s")
        assert run.returncode == 1, f"{kind}: exit {run.returncode} after {run.wall:.1f}s\n{run.output[-3000:]}"
        assert run.selected and len(run.results) == run.selected, \
            f"{kind}: {run.selected} selected, {len(run.results)} with an outcome\n{run.output[-3000:]}"
        assert sum(run.summary["counts"][s] for s in ("passed", "failed", "broken", "skipped")) == run.selected


@pytest.mark.parametrize(("kind", "name"), case_ids(), ids=[f"{k}:{n}" for k, n in case_ids()])
def test_hostile_server_gets_a_clean_verdict(runs: dict[str, Run], kind: str, name: str) -> None:
    run = runs[kind]
    assert run.returncode is not None, f"the {kind} run hung; last lines:\n{run.output[-3000:]}"
    target = f"{kind}:{name}"
    results = run.of(target)
    assert results, f"no check of {target} ran:\n{run.output[-3000:]}"
    spent = sum(seconds for _, seconds, _ in results.values())
    print(f"{target}: {len(results)} checks in {spent:.1f}s:",
          {test.split("[")[0]: outcome for test, (outcome, _, _) in results.items()})
    assert spent < TARGET_BOUND_S, f"{target} took {spent:.1f}s: {results}"

    judged = [r for r in run.summary["failed"] if r["target"] == target]
    assert any(r["blocking"] for r in judged), f"{target} let the gate pass: {results}"
    messages = "\n".join(r["message"] for r in judged)
    assert not RAW_EXCEPTION.search(messages), messages
    assert CASES[kind][name][1] in messages, messages


@pytest.mark.parametrize("target", ["http:echo", "prometheus:echo", "alertmanager:echo"])
def test_echoing_server_is_red_with_what_it_answered(runs: dict[str, Run], target: str) -> None:
    run = runs["echo"]
    judged = [r for r in run.summary["failed"] if r["target"] == target]
    assert any(r["blocking"] for r in judged), run.output[-3000:]
    assert "unknown credentials" in "\n".join(r["message"] for r in judged)


def test_echoed_literal_secrets_reach_no_output(runs: dict[str, Run]) -> None:
    run = runs["echo"]
    for secret in (TOKEN, API_KEY):
        assert secret not in run.output, "stdout"
        assert secret not in run.files, "summary JSON or JUnit XML"
